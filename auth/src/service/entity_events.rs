//! The event of each entity operation, by kind: clients and channels in the `clients`
//! stream, groups in `users` (as Magistrala records them).

use magnetite_events::model::{clients as cev, users as uev};
use magnetite_events::{Event, Page};

use crate::model::{Entity, Kind};

pub(super) fn ev_create(e: &Entity) -> Event {
    match e.kind {
        Kind::Client => cev::client_create(&e.record()),
        Kind::Channel => cev::channel_create(&e.record()),
        Kind::Group => uev::group_create(&e.record()),
    }
}

pub(super) fn ev_update(e: &Entity) -> Event {
    match e.kind {
        Kind::Client => cev::client_update(&e.record()),
        Kind::Channel => cev::channel_update(&e.record()),
        Kind::Group => uev::group_update(&e.record()),
    }
}

pub(super) fn ev_remove(e: &Entity) -> Event {
    match e.kind {
        Kind::Client => cev::client_remove(&e.record()),
        Kind::Channel => cev::channel_remove(&e.record()),
        Kind::Group => uev::group_remove(&e.record()),
    }
}

pub(super) fn ev_view(e: &Entity) -> Event {
    match e.kind {
        Kind::Client => cev::client_view(&e.record()),
        Kind::Channel => cev::channel_view(&e.record()),
        Kind::Group => uev::group_view(&e.record()),
    }
}

pub(super) fn ev_list(kind: Kind, p: &Page) -> Event {
    match kind {
        Kind::Client => cev::client_list(p),
        Kind::Channel => cev::channel_list(p),
        Kind::Group => uev::group_list(p),
    }
}
