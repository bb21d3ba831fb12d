//! Mail in tests: a real SMTP sink (aiosmtpd), reading the `.eml` files the server (or
//! the sink) writes, their quoted-printable folding undone, the token of a link.

use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// `mail` with quoted-printable soft breaks and `=3D` undone.
pub fn unfold(mail: &str) -> String {
    mail.replace("=\r\n", "")
        .replace("=\n", "")
        .replace("=3D", "=")
}

/// The token of the first reset link in `mail`.
pub fn token_in(mail: &str) -> String {
    link_token(mail, "/password/reset?token=")
}

/// The token after the first `prefix` (a link up to its `token=`) in `mail`.
pub fn link_token(mail: &str, prefix: &str) -> String {
    unfold(mail)
        .split(prefix)
        .nth(1)
        .expect("a link")
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

/// aiosmtpd on `port`, storing what it receives in the Maildir `dir`.
pub struct SmtpServer(Child);

impl SmtpServer {
    pub fn start(port: u16, dir: &Path) -> SmtpServer {
        let child = Command::new("python3")
            .args(["-m", "aiosmtpd", "-n", "-l", &format!("127.0.0.1:{port}")])
            .args(["-c", "aiosmtpd.handlers.Mailbox"])
            .arg(dir)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("python3 -m aiosmtpd is required (scripts/test.sh installs it)");
        let deadline = Instant::now() + Duration::from_secs(20);
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(Instant::now() < deadline, "aiosmtpd did not start");
            std::thread::sleep(Duration::from_millis(100));
        }
        SmtpServer(child)
    }
}

impl Drop for SmtpServer {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A platform server mailing through its own aiosmtpd, with links under
/// `https://portal.example.com/`.
pub struct MailedServer {
    pub server: crate::common::Server,
    pub smtp: SmtpServer,
    /// Where the sink delivers (`new/` holds the messages).
    pub maildir: PathBuf,
    _temp: tempfile::TempDir,
}

/// A [`MailedServer`] with `extra` flags.
pub fn mailed_server(extra: &[&str]) -> MailedServer {
    let temp = tempfile::tempdir().expect("temp dir");
    // aiosmtpd creates the Maildir only where nothing exists yet.
    let maildir = temp.path().join("maildir");
    let port = crate::common::free_port();
    let smtp = SmtpServer::start(port, &maildir);
    let url = format!("smtp://127.0.0.1:{port}");
    let mut args = vec![
        "--smtp-url",
        url.as_str(),
        "--public-url",
        "https://portal.example.com/",
    ];
    args.extend_from_slice(extra);
    MailedServer {
        server: crate::platform::server(&args),
        smtp,
        maildir,
        _temp: temp,
    }
}
