//! Config management: create (provisioning the platform client when none is named),
//! view, list, update, certificates, remove.
//!
//! A config is its client's, so the client's roles decide (`Caller::authorize_client`,
//! the cached decision every client route uses; a client not in the domain is a 404,
//! no such action a 403): view `read`, every change `update`, remove `delete`; a config
//! for a new client needs `client_create` on the domain; the list shows the configs of
//! the clients the caller may read (`Actor::readable_clients`).

use magnetite_auth::access::{Actor, Caller, Need};
use magnetite_auth::model::Domain;
use magnetite_auth::model::Entity;
use magnetite_auth::service::{NewEntityInput, PreparedCreate};
use magnetite_events::model::bootstrap as bev;
use serde::Deserialize;
use std::time::Instant;

use super::{now, Result};
use crate::error::{is_unique_violation, BootstrapError};
use crate::model::{Channel, Config, State};
use crate::store::configs::ListFilter;
use crate::BootstrapService;

/// `POST /{domainID}/clients/configs` body (Magistrala's, plus `client_secret` when
/// `client_id` names an existing client, and `issue_cert`). No `Debug`: it holds keys.
#[derive(Deserialize, Default)]
pub struct CreateConfig {
    /// Device external id (unique in the domain).
    pub external_id: Option<String>,
    /// Device external key (stored as a keyed hash).
    pub external_key: Option<String>,
    /// Existing platform client; absent = create one named like the config.
    pub client_id: Option<String>,
    /// Secret of the existing client (verified, then stored sealed).
    pub client_secret: Option<String>,
    /// Config name.
    pub name: Option<String>,
    /// Opaque content for the device.
    pub content: Option<String>,
    /// Channel ids.
    pub channels: Option<Vec<String>>,
    /// Device certificate (PEM).
    pub client_cert: Option<String>,
    /// Device private key (PEM).
    pub client_key: Option<String>,
    /// CA certificate (PEM).
    pub ca_cert: Option<String>,
    /// Issue the certificate with the configured [`crate::CertIssuer`].
    #[serde(default)]
    pub issue_cert: bool,
}

/// `PATCH .../configs/certs/{id}` body: the three PEMs replace the stored ones
/// (absent = empty), as in Magistrala.
#[derive(Deserialize, Default)]
pub struct UpdateCerts {
    /// Device certificate.
    pub client_cert: Option<String>,
    /// Device private key.
    pub client_key: Option<String>,
    /// CA certificate.
    pub ca_cert: Option<String>,
}

/// `PUT .../configs/{id}` body.
#[derive(Deserialize, Default)]
pub struct UpdateConfig {
    /// New name (absent = unchanged).
    pub name: Option<String>,
    /// New content (absent = unchanged).
    pub content: Option<String>,
}

/// The platform client a config is for: an existing one (its secret verified), or a
/// new one whose row is written in the config's transaction.
enum Provisioned {
    Existing { entity: Entity, secret: String },
    New(PreparedCreate),
}

impl Provisioned {
    fn entity(&self) -> &Entity {
        match self {
            Provisioned::Existing { entity, .. } => entity,
            Provisioned::New(p) => p.entity(),
        }
    }

    fn secret(&self) -> &str {
        match self {
            Provisioned::Existing { secret, .. } => secret,
            Provisioned::New(p) => p.secret().unwrap_or_default(),
        }
    }
}

/// A required, bounded text field.
fn required(v: Option<String>, what: &str) -> Result<String> {
    match v.map(|s| s.trim().to_string()) {
        Some(s) if !s.is_empty() && s.len() <= 1024 => Ok(s),
        Some(_) => Err(BootstrapError::bad_request(format!(
            "{what} must be 1 to 1024 characters"
        ))),
        None => Err(BootstrapError::bad_request(format!("missing {what}"))),
    }
}

impl BootstrapService {
    /// Creates a config; when `client_id` is absent, its new client is created in the
    /// same transaction (both or neither).
    pub async fn create(
        &self,
        caller: &Caller,
        domain: &str,
        body: CreateConfig,
    ) -> Result<Config> {
        let (d, existing) = self.authorize_create(caller, domain, &body).await?;
        let external_id = required(body.external_id.clone(), "external_id")?;
        required(body.external_key.clone(), "external_key")?;
        if let Some(n) = &body.name {
            required(Some(n.clone()), "name")?;
        }
        self.count_as_key_guess(&external_id)?;
        if self
            .store
            .external_id_in_domain(&d.id, &external_id)
            .await?
        {
            return Err(BootstrapError::Conflict(
                "a config with this external_id already exists in this domain".into(),
            ));
        }
        let channels = self
            .resolve_channels(&d.id, body.channels.as_deref().unwrap_or_default())
            .await?;
        let channel_ids: Vec<String> = channels.iter().map(|ch| ch.id.clone()).collect();
        self.require_connect(caller, &d.id, &channel_ids).await?;
        let client = match existing {
            Some(entity) => self.existing_client(entity, &body).await?,
            None => self.new_client(caller, &d.id, &body, &external_id).await?,
        };
        self.store_new(&d.id, body, channels, client).await
    }

    /// Who may create a config: for an existing client, a user who may `update` it
    /// (returned); for a new one, a user who may create clients (`client_create` on
    /// the domain, checked again when the client is prepared).
    async fn authorize_create(
        &self,
        caller: &Caller,
        domain: &str,
        body: &CreateConfig,
    ) -> Result<(Domain, Option<Entity>)> {
        let actor = Actor::User(caller);
        match body.client_id.as_deref().filter(|s| !s.is_empty()) {
            Some(id) => {
                let (d, e) = caller
                    .authorize_client(&self.platform, domain, id, "update")
                    .await?;
                Ok((d, Some(e)))
            }
            None => {
                let d = actor
                    .authorize_domain(&self.platform, domain, "client_create")
                    .await?;
                Ok((d, None))
            }
        }
    }

    /// A creation is refused (409) when another domain's config has the same external
    /// id *and* key — the device could not tell them apart. Only someone who already
    /// holds that key learns anything from it, but each creation is still a guess at
    /// the key of every config with this external id; so it is checked against, and
    /// counted in, the same per-external-id throttle as a device's wrong key (every
    /// creation counts, whatever its outcome, so the count itself says nothing about
    /// other domains). A device's successful bootstrap clears it.
    fn count_as_key_guess(&self, external_id: &str) -> Result<()> {
        let now = Instant::now();
        self.attempts.check(external_id, now)?;
        self.attempts.failed(external_id, now);
        Ok(())
    }

    /// A new client named like the config (its row written with the config's).
    async fn new_client(
        &self,
        caller: &Caller,
        domain_id: &str,
        body: &CreateConfig,
        external_id: &str,
    ) -> Result<Provisioned> {
        let name = body.name.clone().unwrap_or_else(|| external_id.to_string());
        let input = NewEntityInput {
            name: Some(required(Some(name), "name")?),
            ..NewEntityInput::default()
        };
        let clients = self.platform.clients();
        let prepared = clients
            .prepare_create(&Actor::User(caller), domain_id, input)
            .await?;
        Ok(Provisioned::New(prepared))
    }

    /// The existing client `entity` (already authorized), once its secret is verified
    /// and it has no config yet.
    async fn existing_client(&self, entity: Entity, body: &CreateConfig) -> Result<Provisioned> {
        if self.store.get_any(&entity.id).await?.is_some() {
            return Err(BootstrapError::Conflict(
                "this client already has a bootstrap config".into(),
            ));
        }
        let secret = body
            .client_secret
            .clone()
            .filter(|s| !s.is_empty())
            .ok_or_else(|| BootstrapError::bad_request("client_id needs client_secret"))?;
        if !self
            .platform
            .clients()
            .secret_matches(&entity.id, &secret)
            .await?
        {
            return Err(BootstrapError::bad_request(
                "client_secret does not match the client",
            ));
        }
        Ok(Provisioned::Existing { entity, secret })
    }

    /// Certificates (issued or given), sealing, and the insert with `config.create`.
    async fn store_new(
        &self,
        domain_id: &str,
        body: CreateConfig,
        channels: Vec<Channel>,
        client: Provisioned,
    ) -> Result<Config> {
        let id = client.entity().id.clone();
        let (cert, key, ca) = self.certs_for(domain_id, &id, &body).await?;
        let external_key = body.external_key.unwrap_or_default();
        let c = Config {
            client_id: id.clone(),
            domain_id: domain_id.to_string(),
            external_id: body.external_id.unwrap_or_default().trim().to_string(),
            name: client_name(body.name, client.entity()),
            content: body.content.unwrap_or_default(),
            client_cert: cert,
            ca_cert: ca,
            state: State::Inactive,
            channels,
            created_at: now(),
            updated_at: None,
            external_key_hash: self.platform.keys.hash_secret(external_key.trim()),
            client_secret_sealed: self.storage.seal(&id, client.secret())?,
            client_key_sealed: self.storage.seal(&id, &key)?,
        };
        let ev = bev::config_create(&c.create_event(&bev::key_fingerprint(&key)));
        let new_client = match &client {
            Provisioned::New(p) => Some(p.row()),
            Provisioned::Existing { .. } => None,
        };
        let stored = self.store.insert(&c, &ev, new_client).await;
        stored.map_err(|e| match e {
            BootstrapError::Database(ref db) if is_unique_violation(db) => config_taken(),
            other => other,
        })?;
        if let Provisioned::New(p) = client {
            let created = p.committed();
            tracing::info!(client_id = %created.entity.id, "bootstrap: client created for a config");
        }
        tracing::info!(client_id = %c.client_id, external_id = %c.external_id, "bootstrap: config created");
        Ok(c)
    }

    /// The PEMs: from the issuer when asked and configured, otherwise from the body.
    async fn certs_for(
        &self,
        domain_id: &str,
        client_id: &str,
        body: &CreateConfig,
    ) -> Result<(String, String, String)> {
        match (&self.issuer, body.issue_cert) {
            (Some(issuer), true) => {
                let cert = issuer.issue(domain_id, client_id).await.map_err(|e| {
                    BootstrapError::Internal(format!("certificate for {client_id}: {e}"))
                })?;
                Ok((cert.certificate, cert.key, cert.ca))
            }
            (None, true) => {
                tracing::warn!(client_id, "bootstrap: issue_cert asked but no issuer is configured; using the body's PEMs");
                Ok(body_certs(body))
            }
            _ => Ok(body_certs(body)),
        }
    }

    /// `GET .../configs/{id}` (`config.view`).
    pub async fn view(&self, caller: &Caller, domain: &str, client_id: &str) -> Result<Config> {
        let (d, client) = caller
            .authorize_client(&self.platform, domain, client_id, "read")
            .await?;
        let c = self.config(&d.id, &client.id).await?;
        self.record(&bev::config_view(&c.view_event()).in_domain(&d.id))
            .await?;
        Ok(c)
    }

    /// `GET .../configs` (`config.list`): the total and one page.
    pub async fn list(
        &self,
        caller: &Caller,
        domain: &str,
        f: &ListFilter,
    ) -> Result<(u64, Vec<Config>)> {
        let actor = Actor::User(caller);
        let d = actor.domain(&self.platform, domain, Need::Read).await?;
        let readable = actor.readable_clients(&self.platform, &d.id).await?;
        let page = self.store.list(&d.id, f, &readable).await?;
        self.record(&bev::config_list(f.offset, f.limit).in_domain(&d.id))
            .await?;
        Ok(page)
    }

    /// `PUT .../configs/{id}`: name and content (`config.update`).
    pub async fn update(
        &self,
        caller: &Caller,
        domain: &str,
        client_id: &str,
        body: UpdateConfig,
    ) -> Result<Config> {
        let name = body.name.map(|n| required(Some(n), "name")).transpose()?;
        let (d, client) = caller
            .authorize_client(&self.platform, domain, client_id, "update")
            .await?;
        let mut c = self.config(&d.id, &client.id).await?;
        if let Some(n) = name {
            c.name = n;
        }
        if let Some(content) = body.content {
            c.content = content;
        }
        c.updated_at = Some(now());
        self.store
            .update_info(&c, &bev::config_update(&c.update_event()))
            .await?;
        Ok(c)
    }

    /// `PATCH .../configs/certs/{id}` (`cert.update`).
    pub async fn update_certs(
        &self,
        caller: &Caller,
        domain: &str,
        client_id: &str,
        body: UpdateCerts,
    ) -> Result<Config> {
        let (d, client) = caller
            .authorize_client(&self.platform, domain, client_id, "update")
            .await?;
        let mut c = self.config(&d.id, &client.id).await?;
        let key = body.client_key.unwrap_or_default();
        c.client_cert = body.client_cert.unwrap_or_default();
        c.ca_cert = body.ca_cert.unwrap_or_default();
        c.client_key_sealed = self.storage.seal(&c.client_id, &key)?;
        c.updated_at = Some(now());
        let ev = bev::cert_update(
            &c.client_id,
            &c.client_cert,
            &bev::key_fingerprint(&key),
            &c.ca_cert,
        );
        self.store.update_certs(&c, &ev).await?;
        Ok(c)
    }

    /// `DELETE .../configs/{id}` (`config.remove`). The client and its connections
    /// stay, as in Magistrala.
    pub async fn remove(&self, caller: &Caller, domain: &str, client_id: &str) -> Result<()> {
        let (d, client) = caller
            .authorize_client(&self.platform, domain, client_id, "delete")
            .await?;
        let id = client.id.as_str();
        self.store
            .delete(&d.id, id, &bev::config_remove(id))
            .await?;
        tracing::info!(client_id = id, "bootstrap: config removed");
        Ok(())
    }
}

fn body_certs(body: &CreateConfig) -> (String, String, String) {
    let pem = |v: &Option<String>| v.clone().unwrap_or_default();
    (
        pem(&body.client_cert),
        pem(&body.client_key),
        pem(&body.ca_cert),
    )
}

/// The config name: as given, else the client's name.
fn client_name(given: Option<String>, client: &Entity) -> String {
    given
        .map(|n| n.trim().to_string())
        .filter(|n| !n.is_empty())
        .unwrap_or_else(|| client.name.clone())
}

/// A unique index refused the row: the client already has a config, this domain
/// already has the external id (a race the earlier check missed), or a config of any
/// domain has this external id with this very key.
fn config_taken() -> BootstrapError {
    BootstrapError::Conflict(
        "a config for this client or with this external_id and external_key already exists; \
         choose another external_key"
            .into(),
    )
}
