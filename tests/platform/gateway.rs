//! A gateway written with a plain MQTT client (rumqttc, MQTT 3.1.1): one session that
//! PUBLISHes the endpoint topics of the central's declaration door in order.

use std::net::SocketAddr;
use std::time::Duration;

use rumqttc::{AsyncClient, Event, MqttOptions, Packet, QoS};

use super::Device;

/// `$magnetite/endpoints/<id>`: the gateway serves `id` from now on.
pub fn declare(id: &str) -> String {
    format!("$magnetite/endpoints/{id}")
}

/// `$magnetite/endpoints/<id>/gone`: it no longer does.
pub fn undeclare(id: &str) -> String {
    format!("$magnetite/endpoints/{id}/gone")
}

/// One session of `gateway` (MQTT client id `mqtt_client_id`) that PUBLISHes (QoS 1,
/// empty payload) to each of `topics`, waits for every PUBACK, then DISCONNECTs.
pub fn session(mqtt: SocketAddr, gateway: &Device, mqtt_client_id: &str, topics: &[String]) {
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    rt.block_on(async {
        let mut options = MqttOptions::new(mqtt_client_id, "127.0.0.1", mqtt.port());
        options.set_credentials(gateway.id.clone(), gateway.secret.clone());
        let (client, mut eventloop) = AsyncClient::new(options, 100);
        for topic in topics {
            client
                .publish(topic, QoS::AtLeastOnce, false, Vec::new())
                .await
                .expect("publish");
        }
        let (mut acks, mut connected) = (0, false);
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        while !connected || acks < topics.len() {
            match tokio::time::timeout_at(deadline, eventloop.poll()).await {
                Ok(Ok(Event::Incoming(Packet::ConnAck(_)))) => connected = true,
                Ok(Ok(Event::Incoming(Packet::PubAck(_)))) => acks += 1,
                Ok(Ok(_)) => {}
                other => panic!("session ended early: {other:?}"),
            }
        }
        client.disconnect().await.expect("disconnect");
        while let Ok(Ok(_)) = tokio::time::timeout_at(deadline, eventloop.poll()).await {}
    });
}
