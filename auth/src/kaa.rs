//! Kaa endpoint events of client changes (`--kaa-events`, see `magnetite_events::kaa`):
//! lifecycle registered / unregistered / appversion-updated and metadata updated.
//! The entity service asks here for the events of a create, delete or change and
//! appends them in the same transaction as the change, so they are as durable as it.

use magnetite_events::kaa::{app_version, metadata_diff, KaaOrigin, KaaRecord};
use magnetite_events::Event;

use crate::model::{Entity, Kind};

/// Default `--kaa-app-version-key`.
pub const DEFAULT_APP_VERSION_KEY: &str = "app_version";
/// Default `--kaa-max-endpoints`.
pub const DEFAULT_MAX_ENDPOINTS: usize = 1000;

/// How client changes become Kaa events (present only when `--kaa-events` is on).
#[derive(Debug, Clone)]
pub struct KaaSettings {
    /// Originator and replica stamped on every event.
    pub origin: KaaOrigin,
    /// The client metadata key holding the app version.
    pub app_version_key: String,
}

impl KaaSettings {
    /// The app version of a client.
    pub fn app_version(&self, e: &Entity) -> String {
        app_version(&e.metadata, &self.app_version_key)
    }

    /// lifecycle/registered of a created client (nothing for other kinds).
    pub fn registered(&self, e: &Entity) -> Vec<Event> {
        self.lifecycle(e, |endpoint_id, app_version| KaaRecord::Registered {
            endpoint_id,
            app_version,
        })
    }

    /// lifecycle/unregistered of a deleted client (nothing for other kinds).
    pub fn unregistered(&self, e: &Entity) -> Vec<Event> {
        self.lifecycle(e, |endpoint_id, app_version| KaaRecord::Unregistered {
            endpoint_id,
            app_version,
        })
    }

    fn lifecycle(&self, e: &Entity, record: fn(String, String) -> KaaRecord) -> Vec<Event> {
        if e.kind != Kind::Client {
            return Vec::new();
        }
        let record = record(e.id.clone(), self.app_version(e));
        vec![self.event(e, record)]
    }

    /// metadata/updated when the metadata diff is not empty, then
    /// lifecycle/appversion-updated when the app-version key's value changed.
    pub fn changed(&self, before: &Entity, after: &Entity) -> Vec<Event> {
        if after.kind != Kind::Client {
            return Vec::new();
        }
        let diff = metadata_diff(&before.metadata, &after.metadata);
        if diff.is_empty() {
            return Vec::new();
        }
        let (previous, current) = (self.app_version(before), self.app_version(after));
        let mut events = vec![self.event(
            after,
            KaaRecord::MetadataUpdated {
                endpoint_id: after.id.clone(),
                app_version: current.clone(),
                diff,
            },
        )];
        if previous != current {
            let record = KaaRecord::AppVersionUpdated {
                endpoint_id: after.id.clone(),
                app_version: current,
                previous_app_version: previous,
            };
            events.push(self.event(after, record));
        }
        events
    }

    fn event(&self, e: &Entity, record: KaaRecord) -> Event {
        self.origin
            .event(record)
            .into_outbox_event(Some(&e.domain_id))
    }
}
