//! The settings as parsed: secrets never shown, the defaults of the message store and
//! of the cluster link.

use clap::Parser;

use super::{Cli, Command, MessagesStoreMode};

/// Settings that can carry a password (database, event sinks, SMTP) print redacted.
#[test]
fn debug_of_the_settings_shows_no_password() {
    let cli = Cli::try_parse_from([
        "magnetite",
        "serve",
        "--database-url",
        "postgres://app:hunter2-db@db/magnetite",
        "--event-store",
        "rabbitmq-stream://app:hunter2-mq@mq:5552",
        "--smtp-url",
        "smtp://mailer:hunter2-smtp@mail",
        "--messages-db",
        "postgres://app:hunter2-msgs@db/messages",
    ]);
    let cli = cli.unwrap();
    let shown = format!("{cli:?}");
    assert!(!shown.contains("hunter2"), "{shown}");
    let Command::Serve(settings) = cli.command else {
        panic!("serve");
    };
    assert_eq!(
        settings.storage.database_url(),
        "postgres://app:hunter2-db@db/magnetite"
    );
    assert_eq!(
        settings.event_stores(),
        ["rabbitmq-stream://app:hunter2-mq@mq:5552"]
    );
    assert_eq!(
        settings.mail.smtp_url(),
        Some("smtp://mailer:hunter2-smtp@mail")
    );
    assert_eq!(
        settings.messages_db_url(),
        "postgres://app:hunter2-msgs@db/messages"
    );
}

#[test]
fn messages_are_stored_on_opt_in_in_their_own_sqlite_file_by_default() {
    let cli = Cli::try_parse_from(["magnetite", "serve", "--data-dir", "/var/lib/m"]);
    let Command::Serve(settings) = cli.unwrap().command else {
        panic!("serve");
    };
    assert_eq!(settings.messages_store, MessagesStoreMode::OptIn);
    assert_eq!(
        settings.messages_db_url(),
        "sqlite:///var/lib/m/messages.db"
    );
    assert_eq!(
        settings.messages_retention,
        std::time::Duration::from_secs(30 * 86_400)
    );
}

#[test]
fn the_cluster_link_is_off_by_default_and_its_url_kept_secret() {
    let serve = |extra: &[&str]| {
        let args = ["magnetite", "serve"].iter().chain(extra).copied();
        let cli = Cli::try_parse_from(args).unwrap();
        assert!(!format!("{cli:?}").contains("hunter2"));
        let Command::Serve(settings) = cli.command else {
            panic!("serve");
        };
        settings.cluster_nats().map(str::to_string)
    };
    assert_eq!(serve(&[]), None);
    let url = "nats://bus:hunter2-nats@nats:4222";
    assert_eq!(serve(&["--cluster-nats", url]).as_deref(), Some(url));
}
