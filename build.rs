//! Stamps the build with its git commit and that commit's time, for `/health`
//! (`commit`, `build_time`). The time is the commit's, not the clock's, so building
//! the same commit twice gives the same binary; outside a git checkout (a source
//! tarball) both are "unknown". Runs again only when HEAD moves.

use std::process::Command;

const UNKNOWN: &str = "unknown";

fn git(args: &[&str]) -> Option<String> {
    let out = Command::new("git")
        .args(args)
        .env("TZ", "UTC")
        .output()
        .ok()?;
    let text = String::from_utf8(out.stdout).ok()?.trim().to_string();
    (out.status.success() && !text.is_empty()).then_some(text)
}

fn main() {
    let commit = git(&["rev-parse", "HEAD"]);
    let time = git(&[
        "log",
        "-1",
        "--format=%cd",
        "--date=format-local:%Y-%m-%d_%H:%M:%S",
    ]);
    println!(
        "cargo:rustc-env=MAGNETITE_COMMIT={}",
        commit.as_deref().unwrap_or(UNKNOWN)
    );
    println!(
        "cargo:rustc-env=MAGNETITE_BUILD_TIME={}",
        time.as_deref().unwrap_or(UNKNOWN)
    );
    // HEAD names the branch; logs/HEAD changes on every commit, checkout and reset.
    for path in ["HEAD", "logs/HEAD"] {
        if let Some(file) = git(&["rev-parse", "--git-path", path]) {
            println!("cargo:rerun-if-changed={file}");
        }
    }
    println!("cargo:rerun-if-changed=build.rs");
}
