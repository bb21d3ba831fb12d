//! Password-reset mail without an SMTP server: each message is written as an `.eml`
//! file (mode 0600) into the mail dir, where an operator's mailer or a person picks it
//! up. The link carries a secret token, which is why it is not a log line.

use std::path::{Path, PathBuf};

use crate::error::{AuthError, Result};
use crate::model::User;

pub fn write_reset_mail(dir: &Path, user: &User, host: &str, token: &str) -> Result<PathBuf> {
    let io = |e: std::io::Error| AuthError::Internal(format!("mail dir {}: {e}", dir.display()));
    std::fs::create_dir_all(dir).map_err(io)?;
    let name = format!(
        "{}-reset-{}.eml",
        chrono::Utc::now().format("%Y%m%dT%H%M%S%.6fZ"),
        user.id
    );
    let path = dir.join(name);
    let body = format!(
        "To: {}\r\nSubject: Magnetite password reset\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n\
         Hello {},\r\n\r\nOpen this link to choose a new password (valid 15 minutes):\r\n\
         {}/password/reset?token={}\r\n",
        user.email,
        user.username,
        host.trim_end_matches('/'),
        token
    );
    crate::crypto::write_private(&path, body.as_bytes()).map_err(io)?;
    Ok(path)
}
