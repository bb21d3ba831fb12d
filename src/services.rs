//! The platform services behind `--auth platform`: identity and access (auth), client
//! certificates (certs), device bootstrap, personal notifications and the journal,
//! sharing one database and merged into one HTTP router.

use magnetite_auth::mail::Mailer;
use std::sync::Arc;

use anyhow::Context;
use magnetite_auth::bootstrap_admin::{ensure_admin, AdminBootstrap};
use magnetite_auth::http::Caller;
use magnetite_auth::kaa::KaaSettings;
use magnetite_auth::mqtt::remote::RemoteRevocations;
use magnetite_auth::platform::PlatformCollector;
use magnetite_auth::{Platform, PlatformConfig, Store};
use magnetite_bootstrap::{BootstrapService, CertIssuer, IssueFuture, IssuedCert, StorageKey};
use magnetite_certs::{Ca, CertsService};
use magnetite_consumers::{ConsumerService, ConsumersConfig};
use magnetite_events::http::{LogAccess, Refused};
use magnetite_events::{Events, ReadScope};
use magnetite_journal::{JournalService, JournalSettings};
use magnetite_notifications::{NotificationService, NotificationSettings};
use secrecy::ExposeSecret;

use crate::cli::Settings;
use crate::http::MetricsSource;

pub struct Services {
    pub platform: Arc<Platform>,
    /// Access changes made on other instances, applied here (on PostgreSQL).
    pub remote_revocations: Option<RemoteRevocations>,
    pub bootstrap: Arc<BootstrapService>,
    pub consumers: Arc<ConsumerService>,
    pub notifications: Arc<NotificationService>,
    pub journal: Arc<JournalService>,
    /// Their routes, served and documented (`/openapi.json`).
    pub api: magnetite_httpkit::routes::Routes,
    /// Their `/metrics` families (throttle tables, bootstrap attempts for unknown ids).
    pub metrics: Vec<MetricsSource>,
}

pub async fn start(
    settings: &Settings,
    events: &Events,
    ca: Option<Ca>,
    instance_id: &str,
    kaa: Option<KaaSettings>,
) -> anyhow::Result<Services> {
    let platform = start_platform(settings, events, kaa).await?;
    let mut api = magnetite_auth::http::router(Arc::clone(&platform))
        .merge(events.router(event_log_access(&platform)));
    let certs = match ca {
        Some(ca) => {
            let service =
                CertsService::open(events.db().clone(), ca, Arc::clone(&platform)).await?;
            Some(Arc::new(service))
        }
        None => {
            tracing::warn!("certs service off: set MAGNETITE_CA_KEY_PASSPHRASE (or use --tls-self-signed) to issue client certificates");
            None
        }
    };
    if let Some(certs) = &certs {
        let resolver = Arc::clone(certs);
        platform.set_cert_resolver(Arc::new(move |der: Vec<u8>| {
            let certs = Arc::clone(&resolver);
            Box::pin(async move { certs.identify_der(&der).await })
        }));
        api = api.merge(magnetite_certs::http::router(Arc::clone(certs)));
    }
    let notifications = start_notifications(settings, events, &platform, certs.is_some()).await?;
    api = api.merge(magnetite_notifications::router(Arc::clone(&notifications)));
    let journal = JournalService::start(
        events.db().clone(),
        Arc::clone(&platform),
        JournalSettings {
            retention: settings.journal_retention,
        },
    )
    .await
    .context("starting the journal")?;
    api = api.merge(magnetite_journal::router(Arc::clone(&journal)));
    let bootstrap = start_bootstrap(settings, events, &platform, certs).await?;
    api = api.merge(magnetite_bootstrap::router(Arc::clone(&bootstrap)));
    let consumers = start_consumers(settings, events, &platform, instance_id).await?;
    api = api.merge(magnetite_consumers::http::router(Arc::clone(&consumers)));
    let metrics: Vec<MetricsSource> = vec![
        Box::new(PlatformCollector(Arc::clone(&platform))),
        Box::new(bootstrap.collector()),
        Box::new(notifications.collector()),
    ];
    // Several instances need a shared database: on SQLite there is no other instance.
    let remote_revocations = match events.db() {
        magnetite_db::Db::Postgres(_) => Some(RemoteRevocations::start(
            Arc::clone(&platform),
            instance_id,
            settings.revocation_poll,
        )),
        magnetite_db::Db::Sqlite(_) => None,
    };
    Ok(Services {
        platform,
        remote_revocations,
        bootstrap,
        consumers,
        notifications,
        journal,
        api,
        metrics,
    })
}

/// Who reads what from `GET /events`: an access token is required; the platform admin
/// reads every event, anyone else only the events of the domains they administer or
/// belong to (never the platform-level user and token events, which carry e-mails).
fn event_log_access(platform: &Arc<Platform>) -> LogAccess {
    let platform = Arc::clone(platform);
    Arc::new(move |headers| {
        let platform = Arc::clone(&platform);
        Box::pin(async move {
            let refused = |e: magnetite_auth::AuthError| Refused {
                status: e.status(),
                message: e.public_message(),
            };
            let caller = Caller::from_headers(&platform, &headers)
                .await
                .map_err(refused)?;
            match caller.readable_domains(&platform).await.map_err(refused)? {
                None => Ok(ReadScope::All),
                Some(domains) => Ok(ReadScope::Domains(domains)),
            }
        })
    })
}

/// Auth: store (same database as the outbox), keys, first-start admin; Kaa endpoint
/// events of client changes when `kaa` is set.
async fn start_platform(
    settings: &Settings,
    events: &Events,
    kaa: Option<KaaSettings>,
) -> anyhow::Result<Arc<Platform>> {
    let store = Store::open(events.db().clone())
        .await
        .context("opening the platform store")?;
    let data_dir = &settings.storage.data_dir;
    let keys = settings.secrets.auth_keys(data_dir)?;
    let mail_dir = data_dir.join("mail");
    let mailer = match settings.mail.smtp_url() {
        Some(url) => Mailer::smtp(url, &settings.mail.smtp_from, mail_dir)?,
        None => Mailer::files(mail_dir),
    };
    let config = PlatformConfig {
        mailer,
        public_url: settings.public_url(),
        ui_hosts: settings.mail.ui_hosts.clone(),
        kaa,
        max_endpoints: settings.kaa_max_endpoints,
        allow_self_register: settings.allow_self_register,
        ..PlatformConfig::default()
    };
    let platform = Arc::new(Platform::new(store, keys, config));
    let secrets = &settings.secrets;
    let email = secrets.admin_email.clone();
    let password = secrets
        .admin_password
        .as_ref()
        .map(|p| p.expose_secret().to_string());
    match ensure_admin(&platform, email, password).await? {
        AdminBootstrap::Existing => {}
        AdminBootstrap::Created { email } => tracing::info!(%email, "created the platform admin"),
        AdminBootstrap::Generated { email, password } => {
            tracing::warn!(%email, "created the platform admin with a generated password (printed once on stderr)");
            // Deliberately not a log line: logs are shipped and kept, this is a secret.
            eprintln!("\n  Platform admin: {email}\n  Password:       {password}\n  (shown once; set MAGNETITE_ADMIN_EMAIL / MAGNETITE_ADMIN_PASSWORD to choose them)\n");
        }
    }
    Ok(platform)
}

/// Personal notifications: the outbox reader, and the certificate-expiry sweep when
/// the certs service is on (its table exists then).
async fn start_notifications(
    settings: &Settings,
    events: &Events,
    platform: &Arc<Platform>,
    certs_on: bool,
) -> anyhow::Result<Arc<NotificationService>> {
    let config = NotificationSettings {
        max_per_user: settings.notifications_max_per_user,
        cert_expiry_notice: settings.cert_expiry_notice,
        cert_sweep_every: certs_on.then_some(settings.cert_expiry_sweep),
    };
    NotificationService::start(events.db().clone(), Arc::clone(platform), config)
        .await
        .context("starting notifications")
}

/// Bootstrap: configs, device bootstrap (plain and AES with
/// `MAGNETITE_BOOTSTRAP_ENCRYPT_KEY`), certificates from the certs service when on.
async fn start_bootstrap(
    settings: &Settings,
    events: &Events,
    platform: &Arc<Platform>,
    certs: Option<Arc<CertsService>>,
) -> anyhow::Result<Arc<BootstrapService>> {
    let encrypt_key = settings.secrets.bootstrap_encrypt_key.as_ref();
    let encrypt_key = encrypt_key
        .map(|key| magnetite_bootstrap::parse_encrypt_key(key.expose_secret()))
        .transpose()
        .context("MAGNETITE_BOOTSTRAP_ENCRYPT_KEY")?;
    let storage = StorageKey::load_or_create(&settings.storage.data_dir.join("bootstrap.key"))?;
    let issuer = certs.map(|c| Arc::new(Issuer(c)) as Arc<dyn CertIssuer>);
    let service = BootstrapService::start(
        events.db().clone(),
        Arc::clone(platform),
        encrypt_key,
        issuer,
        storage,
    )
    .await
    .context("starting bootstrap")?;
    Ok(service)
}

/// Event consumers (`/consumers`) over the outbox, with the `--consumer-*` settings.
async fn start_consumers(
    settings: &Settings,
    events: &Events,
    platform: &Arc<Platform>,
    instance_id: &str,
) -> anyhow::Result<Arc<ConsumerService>> {
    let config = ConsumersConfig {
        ack_wait: settings.consumers.consumer_ack_wait,
        expiry: settings.consumers.consumer_expiry,
        keepalive: settings.consumers.consumer_keepalive,
        max_per_user: settings.consumers.consumer_max_per_user,
        max_pending: settings.consumers.consumer_max_pending,
        max_streams_per_user: settings.consumers.consumer_max_streams_per_user,
        max_streams: settings.consumers.consumer_max_streams,
        instance_id: instance_id.to_string(),
    };
    let names = events.names().clone();
    ConsumerService::start(events.db().clone(), Arc::clone(platform), names, config)
        .await
        .context("starting the event consumers")
}

/// Bootstrap's certificate issuer: the certs service, in the client's own domain.
struct Issuer(Arc<CertsService>);

/// How long certificates issued at bootstrap are valid.
const BOOTSTRAP_CERT_TTL: std::time::Duration = std::time::Duration::from_secs(365 * 86_400);

impl CertIssuer for Issuer {
    fn issue<'a>(&'a self, domain_id: &'a str, client_id: &'a str) -> IssueFuture<'a> {
        Box::pin(async move {
            let issued = self
                .0
                .issue(domain_id, client_id, BOOTSTRAP_CERT_TTL)
                .await
                .map_err(|e| e.to_string())?;
            Ok(IssuedCert {
                certificate: issued.certificate_pem,
                key: issued.key_pem,
                ca: self.0.ca().certificate_pem().to_string(),
            })
        })
    }
}
