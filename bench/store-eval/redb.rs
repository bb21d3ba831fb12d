//! redb: write amplification of one small record per commit, and what a truncated or
//! scribbled file does on open. Run: `cargo new store-eval && cd store-eval &&
//! cargo add redb@2` (2.6.4 on 2026-11-30), put this file in `src/main.rs`, then
//! `cargo run --release`. Not part of the workspace: evaluation only (see
//! `broker/src/persist/mod.rs`).
use redb::{Database, ReadableTable, ReadableTableMetadata, TableDefinition};
use std::fs::OpenOptions;
use std::io::{Seek, SeekFrom, Write};

const T: TableDefinition<u64, &[u8]> = TableDefinition::new("records");

fn wchar() -> u64 {
    let io = std::fs::read_to_string("/proc/self/io").unwrap();
    io.lines().find_map(|l| l.strip_prefix("wchar: ")).unwrap().parse().unwrap()
}

fn fill(path: &str, n: u64, size: usize) -> u64 {
    let _ = std::fs::remove_file(path);
    let db = Database::create(path).unwrap();
    let value = vec![7u8; size];
    let before = wchar();
    for k in 0..n {
        let tx = db.begin_write().unwrap();
        {
            let mut t = tx.open_table(T).unwrap();
            t.insert(k, value.as_slice()).unwrap();
        }
        tx.commit().unwrap();
    }
    wchar() - before
}

fn open_and_count(path: &str) -> String {
    let p = path.to_string();
    std::panic::catch_unwind(move || open_inner(&p)).unwrap_or_else(|e| format!("PANIC in redb: {:?}", e.downcast_ref::<&str>().map(|s| s.to_string()).or_else(|| e.downcast_ref::<String>().cloned())))
}

fn open_inner(path: &str) -> String {
    match Database::create(path) {
        Err(e) => format!("open refused: {e}"),
        Ok(db) => {
            let tx = match db.begin_read() { Ok(t) => t, Err(e) => return format!("opened; read tx failed: {e}") };
            let t = match tx.open_table(T) { Ok(t) => t, Err(e) => return format!("opened; table failed: {e}") };
            let len = t.len().map_err(|e| e.to_string());
            let mut ok = 0u64; let mut bad = None;
            match t.iter() {
                Ok(iter) => for item in iter { match item { Ok((_, v)) if v.value() != [7u8; 100].as_slice() && v.value().len() == 100 => { bad = Some("SILENTLY WRONG VALUE".into()); break; } Ok(_) => ok += 1, Err(e) => { bad = Some(e.to_string()); break; } } },
                Err(e) => bad = Some(e.to_string()),
            }
            format!("opened; len={len:?}, iterated {ok} ok, error: {bad:?}")
        }
    }
}

fn main() {
    std::panic::set_hook(Box::new(|_| {}));
    let n = 2000u64;
    for size in [100usize, 1000] {
        let written = fill("amp.redb", n, size);
        let file = std::fs::metadata("amp.redb").unwrap().len();
        println!("redb: {n} commits of one {size} B value: {written} B written ({:.1} x payload), file {file} B", written as f64 / (n as f64 * size as f64));
    }
    let path = "damage.redb";
    fill(path, 1000, 100);
    let len = std::fs::metadata(path).unwrap().len();
    println!("intact ({len} B): {}", open_and_count(path));
    // Torn tail: cut the last 3 bytes.
    fill(path, 1000, 100);
    OpenOptions::new().write(true).open(path).unwrap().set_len(len - 3).unwrap();
    println!("truncated by 3 B: {}", open_and_count(path));
    fill(path, 1000, 100);
    OpenOptions::new().write(true).open(path).unwrap().set_len(len / 2).unwrap();
    println!("truncated to half: {}", open_and_count(path));
    // One page scribbled at a time over a compact database of 1000 records.
    let _ = std::fs::remove_file(path);
    {
        let db = Database::create(path).unwrap();
        let tx = db.begin_write().unwrap();
        { let mut t = tx.open_table(T).unwrap(); for k in 0..1000u64 { t.insert(k, [7u8; 100].as_slice()).unwrap(); } }
        tx.commit().unwrap();
    }
    let pristine = std::fs::read(path).unwrap();
    let (mut fine, mut refused, mut panicked, mut partial) = (0, 0, 0, 0);
    let mut examples = Vec::new();
    for page in 0..pristine.len() / 4096 {
        let mut bytes = pristine.clone();
        for b in &mut bytes[page * 4096 + 100..page * 4096 + 164] { *b ^= 0x5A; }
        std::fs::write(path, &bytes).unwrap();
        let r = open_and_count(path);
        if r.contains("SILENTLY") { partial += 1; } else if r.contains("PANIC") { panicked += 1 } else if r.starts_with("open refused") { refused += 1 } else if r.contains("1000 ok, error: None") { fine += 1 } else { partial += 1 }
        if !r.contains("1000 ok, error: None") && examples.len() < 4 { examples.push(format!("page {page}: {r}")); }
    }
    println!("scribble one page of {} (file {} B): unaffected {fine}, open refused {refused}, panicked {panicked}, opened but reads fail/short {partial}", pristine.len() / 4096, pristine.len());
    for e in examples { println!("  {e}"); }
    for offset in [len / 4] {
        fill(path, 1000, 100);
        let mut f = OpenOptions::new().write(true).open(path).unwrap();
        f.seek(SeekFrom::Start(offset)).unwrap();
        f.write_all(&[0xAB; 64]).unwrap();
        drop(f);
        println!("64 B scribbled at {offset}: {}", open_and_count(path));
    }
}
