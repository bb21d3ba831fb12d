//! Where a platform topic goes: resolved in the connecting client's own domain to the
//! channel's identity, and routed under its canonical name
//! `m/<domain id>/c/<channel id>[/<subtopic>]`.
//!
//! The broker routes, retains and shares subscriptions by the canonical name only, so
//! every form of one channel (ids, routes, legacy `channels/<ch>/messages`) reaches the
//! same subscribers, and one tenant's `telemetry` can never be another's. A subscriber
//! gets each message under the form it subscribed with (a [`ShownPrefix`]).
//!
//! These are auth's own decisions; the binary turns them into the broker's verdicts
//! (`src/platform_hooks.rs`), so auth does not depend on the engine.

use super::topic::{canonical_prefix, with_subtopic, ChannelTopic};
use crate::model::ConnType;
use crate::store::connections::ClientAccess;

/// The channel id `topic` names for `access`'s client and `action`, or `None` when it
/// names nothing this client may use. The domain part must be the client's own domain
/// (by id or route); the channel is looked up among the client's channels of that
/// domain only.
pub fn resolve_channel<'a>(
    access: &'a ClientAccess,
    topic: &ChannelTopic<'_>,
    action: ConnType,
) -> Option<&'a str> {
    if !access.enabled {
        return None;
    }
    if let Some(domain) = topic.domain {
        if domain != &*access.domain_id && domain != &*access.domain_route {
            return None;
        }
    }
    let channels = match action {
        ConnType::Publish => &access.publish,
        ConnType::Subscribe => &access.subscribe,
    };
    channels.resolve(topic.channel)
}

/// Where a PUBLISH goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PublishRoute {
    Refuse,
    /// Routed under the topic as sent: it already is canonical (no copy).
    AsSent,
    /// Routed under this canonical topic.
    Canonical(String),
}

/// Where a SUBSCRIBE filter goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SubscribeRoute {
    Refuse,
    /// Subscribed as sent: canonical already, and shown as routed.
    AsSent,
    /// Subscribed under the canonical `filter`; `shown` says how delivered topics are
    /// shown to this subscriber when its own prefix differs from the canonical one.
    Canonical {
        filter: String,
        shown: Option<ShownPrefix>,
    },
}

/// A delivered topic starting with `canonical` is shown with `written` (the prefix the
/// subscriber wrote, e.g. `channels/telemetry/messages`) in its place.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ShownPrefix {
    pub canonical: String,
    pub written: String,
}

/// Where a PUBLISH to `topic` goes: refused, or routed under the canonical topic (as
/// sent when it already is canonical, which costs no copy).
pub fn publish_route(access: &ClientAccess, topic: Option<ChannelTopic<'_>>) -> PublishRoute {
    let Some(topic) = topic else {
        return PublishRoute::Refuse;
    };
    let Some(channel_id) = resolve_channel(access, &topic, ConnType::Publish) else {
        return PublishRoute::Refuse;
    };
    if topic.is_canonical(&access.domain_id, channel_id) {
        return PublishRoute::AsSent;
    }
    let prefix = canonical_prefix(&access.domain_id, channel_id);
    PublishRoute::Canonical(with_subtopic(prefix, topic.subtopic.as_deref()))
}

/// Where a SUBSCRIBE filter goes: refused, or the canonical filter plus how this
/// subscriber is shown delivered topics (its own prefix, when it differs).
pub fn subscribe_route(
    access: &ClientAccess,
    filter_text: &str,
    filter: Option<ChannelTopic<'_>>,
) -> SubscribeRoute {
    let Some(filter) = filter else {
        return SubscribeRoute::Refuse;
    };
    let Some(channel_id) = resolve_channel(access, &filter, ConnType::Subscribe) else {
        return SubscribeRoute::Refuse;
    };
    let prefix = canonical_prefix(&access.domain_id, channel_id);
    let routed = with_subtopic(prefix.clone(), filter.subtopic.as_deref());
    let written = filter.written_prefix();
    let shown = (prefix != written).then_some(ShownPrefix {
        canonical: prefix,
        written,
    });
    if shown.is_none() && routed == filter_text {
        return SubscribeRoute::AsSent;
    }
    SubscribeRoute::Canonical {
        filter: routed,
        shown,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mqtt::topic::{parse_publish, parse_subscribe};
    use crate::store::connections::ChannelNames;

    const D1: &str = "11111111-1111-4111-8111-111111111111";
    const CH1: &str = "aaaaaaaa-aaaa-4aaa-8aaa-aaaaaaaaaaaa";
    const D2: &str = "22222222-2222-4222-8222-222222222222";
    const CH2: &str = "bbbbbbbb-bbbb-4bbb-8bbb-bbbbbbbbbbbb";

    /// A client of `domain` (route `route`) connected to `channel` for both actions.
    fn access(domain: &str, route: &str, channel: &str, channel_route: &str) -> ClientAccess {
        let names: ChannelNames = [(channel.to_string(), Some(channel_route.to_string()))]
            .into_iter()
            .collect();
        ClientAccess {
            client_id: "client".into(),
            domain_id: domain.into(),
            domain_route: route.into(),
            secret: Default::default(),
            enabled: true,
            platform_admin: false,
            publish: names.clone(),
            subscribe: names,
        }
    }

    fn routed(access: &ClientAccess, topic: &str) -> PublishRoute {
        publish_route(access, parse_publish(topic))
    }

    #[test]
    fn every_form_of_a_channel_routes_to_its_canonical_name() {
        let a = access(D1, "plant", CH1, "telemetry");
        assert_eq!(
            routed(&a, &format!("m/{D1}/c/{CH1}/t")),
            PublishRoute::AsSent
        );
        let canonical = PublishRoute::Canonical(format!("m/{D1}/c/{CH1}/t"));
        for form in [
            "m/plant/c/telemetry/t".to_string(),
            format!("m/plant/c/{CH1}/t"),
            format!("m/{D1}/c/telemetry/t/"),
            "channels/telemetry/messages/t".to_string(),
            format!("channels/{CH1}/messages/t"),
        ] {
            assert_eq!(routed(&a, &form), canonical, "{form}");
        }
    }

    /// Rows written before routes shaped like ids were refused: D2's domain route is
    /// D1's id and D2's channel route is D1's channel id. D2's client still only ever
    /// reaches D2's channel.
    #[test]
    fn id_shaped_routes_of_another_tenant_never_cross() {
        let d2 = access(D2, D1, CH2, CH1);
        let own = PublishRoute::Canonical(format!("m/{D2}/c/{CH2}"));
        assert_eq!(routed(&d2, &format!("m/{D1}/c/{CH1}")), own);
        assert_eq!(routed(&d2, &format!("channels/{CH1}/messages")), own);
        match subscribe_route(&d2, "x", parse_subscribe(&format!("m/{D1}/c/{CH1}/#"))) {
            SubscribeRoute::Canonical { filter, .. } => {
                assert_eq!(&*filter, format!("m/{D2}/c/{CH2}/#"))
            }
            other => panic!("{other:?}"),
        }
        // D1's own client, connected to CH1: untouched by D2's names.
        let d1 = access(D1, "plant", CH1, "telemetry");
        assert_eq!(
            routed(&d1, &format!("m/{D1}/c/{CH1}")),
            PublishRoute::AsSent
        );
        assert_eq!(
            routed(&d1, &format!("m/{D2}/c/{CH2}")),
            PublishRoute::Refuse
        );
        assert_eq!(
            routed(&d1, &format!("m/{D1}/c/{CH2}")),
            PublishRoute::Refuse
        );
    }

    #[test]
    fn an_id_wins_over_a_route_of_the_same_text() {
        let names: ChannelNames = [
            (CH2.to_string(), Some(CH1.to_string())),
            (CH1.to_string(), Some("other".to_string())),
        ]
        .into_iter()
        .collect();
        assert_eq!(names.resolve(CH1), Some(CH1));
        assert_eq!(names.resolve("other"), Some(CH1));
        assert_eq!(names.resolve(CH2), Some(CH2));
    }

    #[test]
    fn subscribers_are_shown_their_own_form() {
        let a = access(D1, "plant", CH1, "telemetry");
        let SubscribeRoute::Canonical { filter, shown } =
            subscribe_route(&a, "x", parse_subscribe("channels/telemetry/messages/#"))
        else {
            panic!("refused");
        };
        assert_eq!(filter, format!("m/{D1}/c/{CH1}/#"));
        // The broker then shows `m/<D1>/c/<CH1>/room/1` as
        // `channels/telemetry/messages/room/1` (asserted in src/platform_hooks.rs).
        let shown = shown.expect("a presentation");
        assert_eq!(shown.canonical, format!("m/{D1}/c/{CH1}"));
        assert_eq!(shown.written, "channels/telemetry/messages");
        let id_form = format!("m/{D1}/c/{CH1}/#");
        assert_eq!(
            subscribe_route(&a, &id_form, parse_subscribe(&id_form)),
            SubscribeRoute::AsSent
        );
    }

    #[test]
    fn disabled_or_unconnected_is_refused() {
        let mut a = access(D1, "plant", CH1, "telemetry");
        assert_eq!(routed(&a, "channels/nope/messages"), PublishRoute::Refuse);
        assert_eq!(routed(&a, "m/other/c/telemetry"), PublishRoute::Refuse);
        a.enabled = false;
        assert_eq!(
            routed(&a, "channels/telemetry/messages"),
            PublishRoute::Refuse
        );
    }
}
