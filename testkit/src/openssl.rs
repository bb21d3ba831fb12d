//! Certificates made with the `openssl` command line, as an operator would make them.

use std::path::Path;
use std::process::Command;

/// Runs `openssl <args>` in `dir`; a failure fails the test with openssl's stderr.
pub fn openssl(dir: &Path, args: &[&str]) {
    let out = Command::new("openssl")
        .current_dir(dir)
        .args(args)
        .output()
        .expect("openssl is required (scripts/test.sh installs it)");
    assert!(
        out.status.success(),
        "openssl {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A self-signed P-256 CA `/CN=<name>`, valid for two days, written to the files `key`
/// and `crt` in `dir`.
pub fn self_signed_ca(dir: &Path, name: &str, key: &str, crt: &str) {
    let subject = format!("/CN={name}");
    let algorithm = [
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:P-256",
        "-nodes",
    ];
    let rest = ["-days", "2", "-subj", &subject, "-keyout", key, "-out", crt];
    openssl(dir, &[&["req", "-x509"][..], &algorithm, &rest].concat());
}
