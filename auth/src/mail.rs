//! Password-reset and e-mail verification mail. With `--smtp-url` it goes through that SMTP server (from its own
//! task, off the request); without one, or when the server cannot take it, the message
//! is written as an `.eml` file (mode 0600) into the mail dir, so it is never lost. The
//! link carries a secret token, which is why it is never a log line; the SMTP password
//! is never logged either.

use std::path::{Path, PathBuf};

use lettre::message::{header::ContentType, Mailbox, Message};
use lettre::{AsyncSmtpTransport, AsyncTransport, Tokio1Executor};

use crate::error::{AuthError, Result};
use crate::model::User;

/// Where reset and verification mail goes.
#[derive(Clone)]
pub struct Mailer {
    dir: PathBuf,
    smtp: Option<Smtp>,
}

#[derive(Clone)]
struct Smtp {
    transport: AsyncSmtpTransport<Tokio1Executor>,
    from: Mailbox,
    /// `host:port` only, for logs.
    server: String,
}

/// Never prints credentials.
impl std::fmt::Debug for Mailer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Mailer")
            .field("dir", &self.dir)
            .field("smtp", &self.smtp.as_ref().map(|s| s.server.as_str()))
            .finish()
    }
}

impl Mailer {
    /// Mail as files in `dir` only.
    pub fn files(dir: impl Into<PathBuf>) -> Mailer {
        Mailer {
            dir: dir.into(),
            smtp: None,
        }
    }

    /// Mail through the SMTP server of `url` (`smtp://[user:pass@]host[:port]`, plain or
    /// `?tls=required` for STARTTLS; `smtps://` for implicit TLS), from `from`; files in
    /// `dir` when the server fails. Errors never echo the URL's password.
    pub fn smtp(url: &str, from: &str, dir: impl Into<PathBuf>) -> Result<Mailer> {
        let server = server_of(url);
        let transport = AsyncSmtpTransport::<Tokio1Executor>::from_url(url)
            .map_err(|e| AuthError::bad_request(format!("--smtp-url {server}: {e}")))?
            .build();
        let from = from
            .parse::<Mailbox>()
            .map_err(|e| AuthError::bad_request(format!("--smtp-from {from:?}: {e}")))?;
        Ok(Mailer {
            dir: dir.into(),
            smtp: Some(Smtp {
                transport,
                from,
                server,
            }),
        })
    }

    /// Sends the reset link for `user`.
    pub fn send_reset(&self, user: &User, host: &str, token: &str) -> Result<()> {
        self.deliver(user, Letter::Reset, reset_text(user, host, token))
    }

    /// Sends the e-mail verification link for `user` (to the address being verified).
    pub fn send_verification(&self, user: &User, host: &str, token: &str) -> Result<()> {
        self.deliver(
            user,
            Letter::Verification,
            verification_text(user, host, token),
        )
    }

    /// A file is written at once; SMTP runs in its own task, so the request neither
    /// waits on a mail server (up to its timeouts) nor takes longer for a known
    /// account than for an unknown one.
    fn deliver(&self, user: &User, letter: Letter, text: String) -> Result<()> {
        let Some(smtp) = self.smtp.clone() else {
            return write_eml(&self.dir, user, letter, &text);
        };
        let (dir, user) = (self.dir.clone(), user.clone());
        tokio::spawn(async move {
            let Err(e) = smtp.send(&user.email, letter.subject(), &text).await else {
                tracing::info!(user_id = %user.id, "{} mail sent", letter.label());
                return;
            };
            tracing::error!(
                server = %smtp.server, user_id = %user.id, error = %e,
                "SMTP refused the {} mail; writing it to the mail dir", letter.label()
            );
            if let Err(e) = write_eml(&dir, &user, letter, &text) {
                tracing::error!(user_id = %user.id, error = %e, "{} mail lost", letter.label());
            }
        });
        Ok(())
    }
}

/// The kinds of mail the platform sends.
#[derive(Debug, Clone, Copy)]
enum Letter {
    Reset,
    Verification,
}

impl Letter {
    fn subject(self) -> &'static str {
        match self {
            Letter::Reset => "Magnetite password reset",
            Letter::Verification => "Magnetite e-mail verification",
        }
    }

    /// For logs and file names.
    fn label(self) -> &'static str {
        match self {
            Letter::Reset => "password reset",
            Letter::Verification => "e-mail verification",
        }
    }

    fn file_tag(self) -> &'static str {
        match self {
            Letter::Reset => "reset",
            Letter::Verification => "verify",
        }
    }
}

impl Smtp {
    async fn send(&self, to: &str, subject: &str, text: &str) -> std::result::Result<(), String> {
        let to = to.parse::<Mailbox>().map_err(|e| e.to_string())?;
        let message = Message::builder()
            .from(self.from.clone())
            .to(to)
            .subject(subject)
            .header(ContentType::TEXT_PLAIN)
            .body(text.to_string())
            .map_err(|e| e.to_string())?;
        self.transport
            .send(message)
            .await
            .map(|_| ())
            .map_err(|e| e.to_string())
    }
}

/// `host[:port]` of an SMTP URL, without scheme, credentials or parameters.
fn server_of(url: &str) -> String {
    let rest = url.split_once("://").map_or(url, |(_, rest)| rest);
    let authority = rest.split(['/', '?']).next().unwrap_or("");
    authority
        .rsplit_once('@')
        .map_or(authority, |(_, host)| host)
        .to_string()
}

fn reset_text(user: &User, host: &str, token: &str) -> String {
    format!(
        "Hello {},\r\n\r\nOpen this link to choose a new password (valid 15 minutes):\r\n\
         {}/password/reset?token={}\r\n",
        user.username,
        host.trim_end_matches('/'),
        token
    )
}

fn verification_text(user: &User, host: &str, token: &str) -> String {
    format!(
        "Hello {},\r\n\r\nOpen this link to verify your e-mail address (valid 24 hours):\r\n\
         {}/verify-email?token={}\r\n",
        user.username,
        host.trim_end_matches('/'),
        token
    )
}

/// Writes the message into `dir` (mode 0600) and logs where (never what).
fn write_eml(dir: &Path, user: &User, letter: Letter, text: &str) -> Result<()> {
    let io = |e: std::io::Error| AuthError::Internal(format!("mail dir {}: {e}", dir.display()));
    std::fs::create_dir_all(dir).map_err(io)?;
    let name = format!(
        "{}-{}-{}.eml",
        chrono::Utc::now().format("%Y%m%dT%H%M%S%.6fZ"),
        letter.file_tag(),
        user.id
    );
    let subject = letter.subject();
    let path = dir.join(name);
    let body = format!(
        "To: {}\r\nSubject: {subject}\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n{text}",
        user.email
    );
    crate::crypto::write_private(&path, body.as_bytes()).map_err(io)?;
    tracing::info!(user_id = %user.id, path = %path.display(), "{} mail written", letter.label());
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_server_label_drops_credentials() {
        assert_eq!(
            server_of("smtp://bob:s3cret@mail.example.com:587?tls=required"),
            "mail.example.com:587"
        );
        assert_eq!(server_of("smtps://mail.example.com"), "mail.example.com");
        let m = Mailer::smtp(
            "smtp://bob:s3cret@127.0.0.1:2525",
            "Magnetite <noreply@example.com>",
            "x",
        )
        .unwrap();
        assert!(!format!("{m:?}").contains("s3cret"));
        let err =
            Mailer::smtp("smtp://bob:s3cret@127.0.0.1:2525", "not an address", "x").unwrap_err();
        assert!(!err.to_string().contains("s3cret"));
    }
}
