//! `magnetite certs issue|revoke`: operator tools that work on the database directly
//! (the CA passphrase and the auth key come from `MAGNETITE_CA_KEY_PASSPHRASE` and
//! `MAGNETITE_AUTH_KEY` or the data dir, as for `serve`).

use std::sync::Arc;

use anyhow::Context;
use magnetite_auth::{Platform, PlatformConfig, Store};
use magnetite_certs::cli::{issue_to_files, revoke, RevokeTarget};
use magnetite_certs::{Ca, CertsService};
use magnetite_db::Db;
use magnetite_events::OutboxDb;

use crate::cli::{CertsAction, CertsArgs};

pub async fn run(args: CertsArgs) -> anyhow::Result<()> {
    let data_dir = &args.storage.data_dir;
    let url = args.storage.database_url();
    let passphrase = crate::tls::saved_ca_passphrase(&args.secrets, data_dir)?
        .context("set MAGNETITE_CA_KEY_PASSPHRASE (the passphrase of the CA key)")?;
    let ca = Ca::load_or_create(&data_dir.join("ca"), &passphrase)?;
    // The pool only: no shipper or pruner runs for a one-shot command. The outbox
    // tables are still created, so a write that records an event finds them.
    let db = Db::open(url.as_str())
        .await
        .context("opening the database")?;
    db.ensure_schema()
        .await
        .context("creating the outbox tables")?;
    let store = Store::open(db.clone()).await?;
    let keys = args.secrets.auth_keys(data_dir)?;
    let platform = Arc::new(Platform::new(store, keys, PlatformConfig::default()));
    let service = CertsService::open(db, ca, platform).await?;
    match args.action {
        CertsAction::Issue { client, ttl, out } => {
            std::fs::create_dir_all(&out).with_context(|| format!("creating {}", out.display()))?;
            let files = issue_to_files(&service, &client, ttl, &out).await?;
            println!(
                "serial {} expires {}",
                files.serial_number, files.expires_at
            );
            println!(
                "certificate {}\nkey {}\nca {}",
                files.cert_path.display(),
                files.key_path.display(),
                files.ca_path.display()
            );
        }
        CertsAction::Revoke { serial, client } => {
            let target = match (&serial, &client) {
                (Some(s), _) => RevokeTarget::Serial(s),
                (None, Some(c)) => RevokeTarget::Client(c),
                (None, None) => anyhow::bail!("give --serial or --client"),
            };
            let n = revoke(&service, target).await?;
            println!(
                "revoked {n} certificate(s); running brokers refuse them at the next handshake"
            );
        }
    }
    Ok(())
}
