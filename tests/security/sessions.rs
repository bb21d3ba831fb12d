//! MQTT sessions are namespaced by the authenticated identity: devices of two tenants
//! that both call themselves `sensor-1` never share a persistent session, never receive
//! each other's queued or live messages, and never take each other over.

use crate::mqtt::{payloads, Login, Mqtt, V311, V5};
use crate::tenants::{two_tenants, Tenant};

const SHARED_ID: &str = "sensor-1";

fn id_form(t: &Tenant) -> String {
    format!("m/{}/c/{}", t.domain, t.channel)
}

/// Connects `tenant`'s device as MQTT client `SHARED_ID` with clean start off.
fn persistent(
    addr: std::net::SocketAddr,
    tenant: &Tenant,
    version: magnetite_broker::protocol::ProtocolVersion,
) -> (Mqtt, bool) {
    let (client, ack) = Mqtt::connect(
        addr,
        Login {
            version,
            client_id: SHARED_ID,
            device: &tenant.device,
            clean: false,
        },
    );
    assert_eq!(ack.code, 0, "CONNACK {ack:?}");
    (client, ack.session_present)
}

#[test]
fn the_same_mqtt_client_id_in_two_tenants_never_shares_a_session() {
    let t = two_tenants(&[]);
    let addr = t.server.mqtt;
    // D1's `sensor-1` leaves a persistent session with a subscription behind, and a
    // message is queued for it while it is away.
    let (mut d1, present) = persistent(addr, &t.d1, V5);
    assert!(!present);
    assert_eq!(d1.subscribe(&format!("{}/#", id_form(&t.d1))), vec![1]);
    d1.disconnect();
    let mut d1_pub = Mqtt::online(addr, V311, &t.d1.device);
    d1_pub.publish_ok(&id_form(&t.d1), "queued-for-d1");

    // D2's `sensor-1` (3.1.1 here, 5.0 below): no session present, none of D1's queue.
    let (mut d2, present) = persistent(addr, &t.d2, V311);
    assert!(!present, "D2 must not resume D1's session");
    assert_eq!(d2.subscribe(&format!("{}/#", id_form(&t.d2))), vec![1]);
    let mut d2_pub = Mqtt::online(addr, V311, &t.d2.device);
    d2_pub.publish_ok(&id_form(&t.d2), "d2-end");
    assert_eq!(payloads(&d2.until("d2-end")), ["d2-end"]);

    // D1 comes back (D2's `sensor-1` still connected): its session and queue are intact.
    let (mut d1, present) = persistent(addr, &t.d1, V5);
    assert!(present, "D1's own session survived D2's connections");
    assert_eq!(payloads(&d1.until("queued-for-d1")), ["queued-for-d1"]);
    assert!(d2.alive(), "D1's connect did not take over D2's session");

    // D2 connects `sensor-1` again: that takes over D2's own session only.
    let (mut d2_again, present) = persistent(addr, &t.d2, V5);
    assert!(present, "D2 resumes its own session");
    assert!(d1.alive(), "D2's takeover did not kick D1");
    assert!(d2.closed(), "D2's first connection was taken over");

    // Live traffic: each gets only its own.
    d1_pub.publish_ok(&id_form(&t.d1), "d1-live");
    d2_pub.publish_ok(&id_form(&t.d2), "d2-live");
    assert_eq!(payloads(&d1.until("d1-live")), ["d1-live"]);
    assert_eq!(payloads(&d2_again.until("d2-live")), ["d2-live"]);

    // Revoking D2's device ends D2's `sensor-1` only.
    let path = format!("/{}/clients/{}/disable", t.d2.domain, t.d2.device.id);
    t.d2.api.expect("POST", &path, None, 200);
    assert!(
        d2_again.closed(),
        "revocation reaches the namespaced session"
    );
    assert!(
        d1.alive(),
        "D1's session of the same MQTT client id is untouched"
    );
    d1_pub.publish_ok(&id_form(&t.d1), "d1-after");
    assert_eq!(payloads(&d1.until("d1-after")), ["d1-after"]);
}
