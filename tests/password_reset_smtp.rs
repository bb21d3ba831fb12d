//! Password-reset mail through a real SMTP server (Python's aiosmtpd, writing a
//! Maildir): the link works, the token is never logged, and when the server is gone
//! the mail lands in the mail dir instead of being lost.

mod common;
mod platform;

use std::path::Path;

use platform::mail::{mailed_server, token_in, unfold, wait_for_files};
use platform::Api;
use serde_json::json;

/// Undoes quoted-printable soft breaks and `=3D` (enough for a URL with a JWT).
#[test]
fn reset_mail_goes_through_smtp_and_falls_back_to_the_mail_dir() {
    let mailed = mailed_server(&["--smtp-from", "Magnetite <noreply@example.com>"]);
    let (server, maildir) = (&mailed.server, &mailed.maildir);
    let admin = Api::admin(server);
    let user = json!({"email": "dave@example.com", "credentials": {"username": "dave", "secret": "dave-password"}});
    admin.expect("POST", "/users", Some(user), 201);
    let mut anonymous = Api::admin(server);
    anonymous.token.clear();
    // The link's host is --public-url; the body's is ignored.
    let request = json!({"email": "dave@example.com", "host": "https://evil.example"});
    anonymous.expect(
        "POST",
        "/password/reset-request",
        Some(request.clone()),
        201,
    );

    let mails = wait_for_files(&maildir.join("new"), 1);
    let mail = &mails[0];
    assert!(mail.contains("dave@example.com"), "{mail}");
    assert!(mail.contains("noreply@example.com"), "{mail}");
    assert!(unfold(mail).contains("https://portal.example.com/password/reset?token="));
    let token = token_in(mail);
    assert!(!server.log().contains(&token), "the token is never logged");
    let local = server.data_dir.join("mail");
    assert!(
        !local.exists() || wait_is_empty(&local),
        "sent, not written"
    );
    let reset =
        json!({"token": token, "password": "dave-new-pass", "confirm_password": "dave-new-pass"});
    anonymous.expect("PUT", "/password/reset", Some(reset), 201);
    anonymous.login("dave@example.com", "dave-new-pass");

    // The SMTP server is gone: the mail is kept in the mail dir, the answer is the same.
    drop(mailed.smtp);
    anonymous.expect("POST", "/password/reset-request", Some(request), 201);
    let kept = wait_for_files(&local, 1);
    let token = token_in(&kept[0]);
    assert!(server.log().contains("SMTP refused"), "{}", server.log());
    assert!(!server.log().contains(&token), "the token is never logged");
}

fn wait_is_empty(dir: &Path) -> bool {
    std::fs::read_dir(dir).map_or(true, |mut d| d.next().is_none())
}
