//! fjall: write amplification of one synced small write, and what a truncated or
//! scribbled journal does on open. Run: `cargo new fjall-eval && cd fjall-eval &&
//! cargo add fjall@2`, put this file in `src/main.rs`, then `cargo run --release`.
//! Not part of the workspace: evaluation only (see `broker/src/persist/mod.rs`).
use fjall::{Config, PartitionCreateOptions, PersistMode};
use std::path::{Path, PathBuf};

fn wchar() -> u64 {
    let io = std::fs::read_to_string("/proc/self/io").unwrap();
    io.lines().find_map(|l| l.strip_prefix("wchar: ")).unwrap().parse().unwrap()
}

fn files(dir: &Path, out: &mut Vec<(PathBuf, u64)>) {
    for e in std::fs::read_dir(dir).unwrap() {
        let e = e.unwrap();
        let m = e.metadata().unwrap();
        if m.is_dir() { files(&e.path(), out) } else { out.push((e.path(), m.len())) }
    }
}

fn fill(dir: &str, n: u64, size: usize) -> u64 {
    let _ = std::fs::remove_dir_all(dir);
    let ks = Config::new(dir).open().unwrap();
    let p = ks.open_partition("records", PartitionCreateOptions::default()).unwrap();
    let before = wchar();
    for k in 0..n {
        p.insert(k.to_be_bytes(), vec![7u8; size]).unwrap();
        ks.persist(PersistMode::SyncData).unwrap();
    }
    wchar() - before
}

fn reopen(dir: &str) -> String {
    let d = dir.to_string();
    std::panic::catch_unwind(move || {
        let ks = match Config::new(&d).open() { Ok(k) => k, Err(e) => return format!("open refused: {e:?}") };
        let p = match ks.open_partition("records", PartitionCreateOptions::default()) { Ok(p) => p, Err(e) => return format!("partition refused: {e:?}") };
        let (mut ok, mut err) = (0, None);
        for item in p.iter() { match item { Ok(_) => ok += 1, Err(e) => { err = Some(format!("{e:?}")); break; } } }
        format!("opened; {ok} records read, error {err:?}")
    }).unwrap_or_else(|e| format!("PANIC: {:?}", e.downcast_ref::<String>().cloned().or(e.downcast_ref::<&str>().map(|s| s.to_string()))))
}

fn main() {
    std::panic::set_hook(Box::new(|_| {}));
    let dir = "db";
    for size in [100usize, 1000] {
        let n = 2000u64;
        let w = fill(dir, n, size);
        println!("fjall: {n} synced writes of one {size} B value: {w} B written ({:.1} x payload)", w as f64 / (n as f64 * size as f64));
    }
    fill(dir, 1000, 100);
    let mut fs = Vec::new(); files(Path::new(dir), &mut fs);
    for (p, l) in &fs { println!("  file {} {l} B", p.display()); }
    println!("intact: {}", reopen(dir));
    let journal = fs.iter().filter(|(p, _)| p.to_string_lossy().contains("journal")).max_by_key(|(_, l)| *l).unwrap().clone();
    println!("journal = {}", journal.0.display());
    let pristine = std::fs::read(&journal.0).unwrap();
    let used = pristine.iter().rposition(|&x| x != 0).unwrap() + 1;
    let mut cut = pristine.clone(); cut.truncate(used - 3);
    std::fs::write(&journal.0, &cut).unwrap();
    println!("journal cut 3 B into its last record ({used} used B): {}", reopen(dir));
    for frac in [4usize, 2] {
        fill(dir, 1000, 100);
        let mut b = std::fs::read(&journal.0).unwrap();
        let used = b.iter().rposition(|&x| x != 0).unwrap() + 1;
        let at = used / frac;
        for x in &mut b[at..at + 64] { *x ^= 0x5A; }
        std::fs::write(&journal.0, &b).unwrap();
        println!("journal scribbled 64 B at 1/{frac} of its {used} used B: {}", reopen(dir));
    }
}
