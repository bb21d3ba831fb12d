//! Reading password-reset mail in tests: the `.eml` files the server (or the SMTP
//! sink) writes, their quoted-printable folding undone, the token of the link.

use std::path::Path;
use std::time::{Duration, Instant};

/// `mail` with quoted-printable soft breaks and `=3D` undone.
pub fn unfold(mail: &str) -> String {
    mail.replace("=\r\n", "")
        .replace("=\n", "")
        .replace("=3D", "=")
}

/// The token of the first reset link in `mail`.
pub fn token_in(mail: &str) -> String {
    unfold(mail)
        .split("/password/reset?token=")
        .nth(1)
        .expect("a reset link")
        .split_whitespace()
        .next()
        .expect("a token")
        .to_string()
}

/// The texts of the files in `dir`, once there are at least `n` (fails after 15 s).
pub fn wait_for_files(dir: &Path, n: usize) -> Vec<String> {
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let files: Vec<String> = std::fs::read_dir(dir)
            .map(|d| {
                d.flatten()
                    .filter_map(|e| std::fs::read_to_string(e.path()).ok())
                    .collect()
            })
            .unwrap_or_default();
        if files.len() >= n {
            return files;
        }
        assert!(Instant::now() < deadline, "no mail in {}", dir.display());
        std::thread::sleep(Duration::from_millis(100));
    }
}
