//! `--auth platform` with rumqttc (MQTT 3.1.1, Rust): a device round trip on its channel,
//! and an unauthorized publish ending the 3.1.1 connection.

mod common;
mod platform;

use std::time::Duration;

use rumqttc::{AsyncClient, Event, EventLoop, MqttOptions, Packet, QoS};

/// Polls until `done` or an error / timeout; returns whether `done` was reached.
async fn drive(
    eventloop: &mut EventLoop,
    mut done: impl FnMut(&Event) -> bool,
) -> Result<(), String> {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        match tokio::time::timeout_at(deadline, eventloop.poll()).await {
            Ok(Ok(event)) if done(&event) => return Ok(()),
            Ok(Ok(_)) => {}
            Ok(Err(e)) => return Err(e.to_string()),
            Err(_) => return Err("timed out".into()),
        }
    }
}

#[test]
fn rumqttc_device_on_its_channel() {
    let (server, _api, f) = platform::fleet_server("rust");
    let topic = format!("m/{}/c/{}/rpm", f.domain, f.ch);
    let forbidden = format!("m/{}/c/{}", f.domain, f.other);
    let port = server.mqtt.port();
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    runtime.block_on(async move {
        let mut options = MqttOptions::new("rust-device", "127.0.0.1", port);
        options.set_credentials(f.device.id.clone(), f.device.secret.clone());
        let (client, mut eventloop) = AsyncClient::new(options, 10);
        client
            .subscribe(&topic, QoS::AtLeastOnce)
            .await
            .expect("subscribe");
        let mut granted = None;
        drive(&mut eventloop, |e| match e {
            Event::Incoming(Packet::SubAck(ack)) => {
                granted = Some(format!("{:?}", ack.return_codes));
                true
            }
            _ => false,
        })
        .await
        .expect("SUBACK");
        assert_eq!(granted.as_deref(), Some("[Success(AtLeastOnce)]"));
        client
            .publish(&topic, QoS::AtLeastOnce, false, b"1200".to_vec())
            .await
            .expect("publish");
        let mut payload = Vec::new();
        drive(&mut eventloop, |e| match e {
            Event::Incoming(Packet::Publish(p)) => {
                payload = p.payload.to_vec();
                true
            }
            _ => false,
        })
        .await
        .expect("own message back");
        assert_eq!(payload, b"1200");
        // Not connected to that channel: 3.1.1 has no negative PUBACK, the broker closes.
        client
            .publish(&forbidden, QoS::AtLeastOnce, false, b"x".to_vec())
            .await
            .expect("queue");
        let ended = drive(&mut eventloop, |e| {
            matches!(e, Event::Incoming(Packet::PubAck(_)))
        })
        .await;
        assert!(
            ended.is_err(),
            "the connection must end instead of a PUBACK: {ended:?}"
        );
    });
}

#[test]
fn rumqttc_wrong_secret_is_refused() {
    let (server, _api, f) = platform::fleet_server("rust2");
    let port = server.mqtt.port();
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    runtime.block_on(async move {
        let mut options = MqttOptions::new("rust-device", "127.0.0.1", port);
        options.set_credentials(f.device.id.clone(), "not-the-secret");
        let (_client, mut eventloop) = AsyncClient::new(options, 10);
        let err = drive(&mut eventloop, |e| {
            matches!(e, Event::Incoming(Packet::ConnAck(_)))
        })
        .await;
        let err = err.expect_err("refused");
        assert!(err.contains("BadUserNamePassword"), "{err}");
    });
}
