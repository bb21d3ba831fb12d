//! The certificate-expiry sweep: every `every`, the certificates that expire within
//! `notice` (not revoked, not already renewed: see `magnetite_certs::store::expiring`)
//! are noticed to their domain's admins, once per certificate (the mark and the
//! notices commit together, `crate::store`), so later sweeps and other instances
//! sharing a PostgreSQL never repeat them.

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, SecondsFormat, Utc};
use magnetite_auth::Platform;
use magnetite_certs::store::{self as certs, CertRow};
use magnetite_db::Db;
use tokio::sync::watch;

use crate::error::Result;
use crate::model::{Ref, Variant};
use crate::reader::to_each;
use crate::resolve::{self, label};
use crate::{store, Counters};

/// Certificates read per page.
const PAGE: u32 = 200;

/// Sweeps until `stop` turns true.
pub(crate) struct CertSweep {
    pub(crate) db: Db,
    pub(crate) platform: Arc<Platform>,
    pub(crate) counters: Arc<Counters>,
    pub(crate) max_per_user: u32,
    pub(crate) notice: Duration,
    pub(crate) every: Duration,
    pub(crate) stop: watch::Receiver<bool>,
}

/// The stored form of a time (the certs store's: second precision, `Z`), so text order
/// is time order in its queries.
pub fn stored_time(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Secs, true)
}

/// The latest time the stored text format orders correctly (a year of five digits
/// would sort before every four-digit one).
const LAST_STORED: &str = "9999-12-31T23:59:59Z";

/// The window a sweep at `now` covers: `(now, now + notice]` as stored times, the end
/// capped at [`LAST_STORED`].
pub fn window(now: DateTime<Utc>, notice: Duration) -> (String, String) {
    let horizon = chrono::Duration::from_std(notice)
        .ok()
        .and_then(|notice| now.checked_add_signed(notice))
        .map(stored_time)
        .filter(|t| t.len() == LAST_STORED.len() && t.as_str() <= LAST_STORED)
        .unwrap_or_else(|| LAST_STORED.to_string());
    (stored_time(now), horizon)
}

impl CertSweep {
    /// Runs until shutdown: a sweep at once, then one every `every`.
    pub(crate) async fn run(mut self) {
        loop {
            match self.sweep().await {
                Ok(()) => self.counters.swept(),
                Err(e) => tracing::warn!(error = %e, "notifications: certificate sweep failed"),
            }
            if *self.stop.borrow() {
                return;
            }
            tokio::select! {
                _ = tokio::time::sleep(self.every) => {}
                _ = self.stop.changed() => return,
            }
        }
    }

    /// One pass over the certificates expiring within the notice window.
    async fn sweep(&self) -> Result<()> {
        let (now, horizon) = window(Utc::now(), self.notice);
        let mut after = None;
        loop {
            let page = certs::expiring(&self.db, &now, &horizon, after.as_ref(), PAGE).await?;
            for cert in &page {
                if !store::cert_noticed(&self.db, &cert.serial).await? {
                    self.notice(cert).await?;
                }
            }
            match page.last() {
                Some(last) if page.len() == PAGE as usize => {
                    after = Some((last.expires_at.clone(), last.serial.clone()));
                }
                _ => return Ok(()),
            }
        }
    }

    /// Tells the certificate's domain admins, once.
    async fn notice(&self, cert: &CertRow) -> Result<()> {
        let domain_id = &cert.domain_id;
        let domain_name = resolve::domain_name(&self.platform, domain_id).await?;
        let client_name = resolve::client(&self.platform, &cert.client_id)
            .await?
            .map(|(_, name)| name)
            .unwrap_or_default();
        let admins = resolve::domain_admins(&self.platform, domain_id).await?;
        let message = format!(
            "Certificate {} of client {} in domain {} expires at {}",
            cert.serial,
            label(&client_name, &cert.client_id),
            label(&domain_name, domain_id),
            cert.expires_at
        );
        let refs = vec![
            resolve::domain_ref(&domain_name, domain_id),
            Ref::new("client", &client_name, &cert.client_id),
            Ref::new("certificate", &cert.serial, &cert.serial),
        ];
        let source = format!("cert:{}", cert.serial);
        let drafts = to_each(
            &admins,
            &source,
            Variant::CertificateExpiring,
            &message,
            &refs,
        );
        let stored = store::store_cert_notice(&self.db, &cert.serial, &drafts, self.max_per_user);
        if let Some(stored) = stored.await? {
            self.counters.add(stored);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_window_is_in_the_stored_format() {
        let now = DateTime::parse_from_rfc3339("2030-01-02T03:04:05.678Z")
            .map(|t| t.with_timezone(&Utc))
            .unwrap_or_default();
        let (from, to) = window(now, Duration::from_secs(7 * 86_400));
        assert_eq!(from, "2030-01-02T03:04:05Z");
        assert_eq!(to, "2030-01-09T03:04:05Z");
    }

    #[test]
    fn a_huge_notice_saturates() {
        let (_, to) = window(Utc::now(), Duration::MAX);
        assert_eq!(to, LAST_STORED);
    }
}
