//! The drive: every operation family of the platform through the HTTP API, and a
//! device's MQTT session, remembering what each stream must then hold.

use serde_json::json;

use crate::common::{assert_success, Server};
use crate::platform::{self, Api};

/// What the drive did: the operations per stream in order, and the secrets that must
/// never appear in any event.
pub struct Drive {
    pub users: Vec<&'static str>,
    pub clients: Vec<&'static str>,
    pub bootstrap: Vec<&'static str>,
    pub mqtt_client: String,
    pub secrets: Vec<String>,
}

/// Runs every operation family once (and some twice) through the API, then a device's
/// MQTT connect and disconnect.
pub fn drive(server: &Server) -> Drive {
    let admin = Api::admin(server);
    // The first start created the admin; every `Api::admin` logs in.
    let mut users = drive_users(server, &admin);
    let d = admin.domain("Events", "factory");
    users.extend(drive_groups(&admin, &d));
    let (mut clients, device) = drive_clients(server, &admin, &d);
    let (bootstrap, more_clients) = drive_bootstrap(&admin, &d);
    clients.extend(more_clients);
    let secrets = vec![
        "fay-password".into(),
        "fay-password-2".into(),
        device.secret,
        "meter-secret-2".into(),
        BOOT_KEY.into(),
        DEVICE_KEY.into(),
        "-----BEGIN".into(),
    ];
    Drive {
        users,
        clients,
        bootstrap,
        mqtt_client: device.id,
        secrets,
    }
}

/// The user operations, the admin's and a new user's; the users stream they make.
fn drive_users(server: &Server, admin: &Api) -> Vec<&'static str> {
    let mut users = vec!["user.create", "user.issue_token"];
    let u = admin.expect("POST", "/users", Some(json!({"email": "fay@example.com", "credentials": {"username": "fay", "secret": "fay-password"}, "tags": ["ops"]})), 201);
    let uid = u["id"].as_str().unwrap().to_string();
    let fay = {
        let mut a = Api::admin(server);
        a.token = admin.login("fay@example.com", "fay-password");
        a
    };
    admin.expect("GET", &format!("/users/{uid}"), None, 200);
    fay.expect("GET", "/users/profile", None, 200);
    admin.expect("GET", "/users", None, 200);
    admin.expect(
        "PATCH",
        &format!("/users/{uid}"),
        Some(json!({"first_name": "Fay"})),
        200,
    );
    admin.expect(
        "PATCH",
        &format!("/users/{uid}/tags"),
        Some(json!({"tags": ["ops", "night"]})),
        200,
    );
    admin.expect(
        "PATCH",
        &format!("/users/{uid}/email"),
        Some(json!({"email": "fay2@example.com"})),
        200,
    );
    admin.expect(
        "PATCH",
        &format!("/users/{uid}/role"),
        Some(json!({"role": "admin"})),
        200,
    );
    fay.expect(
        "PATCH",
        "/users/secret",
        Some(json!({"old_secret": "fay-password", "new_secret": "fay-password-2"})),
        200,
    );
    admin.expect("POST", &format!("/users/{uid}/disable"), None, 200);
    let mut anonymous = Api::admin(server);
    anonymous.token.clear();
    anonymous.expect(
        "POST",
        "/password/reset-request",
        Some(json!({"email": "admin@example.com", "host": "https://h"})),
        201,
    );
    users.extend([
        "user.create",
        "user.issue_token",
        "user.issue_token",
        "user.view",
        "user.view_profile",
        "user.list",
        "user.update",
        "user.update_tags",
        "user.update_identity",
        "user.update_role",
        "user.update_secret",
        "user.remove",
        "user.issue_token",
        "user.generate_reset_token",
        "user.send_password_reset",
    ]);
    users
}

/// The group operations in domain `d`; what they add to the users stream.
fn drive_groups(admin: &Api, d: &str) -> Vec<&'static str> {
    let mut users = Vec::new();
    let g = admin.expect(
        "POST",
        &format!("/{d}/groups"),
        Some(json!({"name": "hall"})),
        201,
    )["id"]
        .as_str()
        .unwrap()
        .to_string();
    admin.expect(
        "PATCH",
        &format!("/{d}/groups/{g}"),
        Some(json!({"name": "hall-2"})),
        200,
    );
    admin.expect("GET", &format!("/{d}/groups/{g}"), None, 200);
    admin.expect("GET", &format!("/{d}/groups"), None, 200);
    admin.expect("POST", &format!("/{d}/groups/{g}/disable"), None, 200);
    users.extend([
        "group.create",
        "group.update",
        "group.view",
        "group.list",
        "group.remove",
    ]);
    users
}

/// Client and channel operations in domain `d` and the device's MQTT session; the
/// clients stream they make, and the device (with its first secret).
fn drive_clients(server: &Server, admin: &Api, d: &str) -> (Vec<&'static str>, platform::Device) {
    let device = admin.client(d, "meter");
    let ch = admin.channel(d, "power");
    admin.expect(
        "PATCH",
        &format!("/{d}/clients/{}", device.id),
        Some(json!({"name": "meter-2", "metadata": {"k": 1}})),
        200,
    );
    admin.expect(
        "PATCH",
        &format!("/{d}/clients/{}/tags", device.id),
        Some(json!({"tags": ["a"]})),
        200,
    );
    let changed = admin.expect(
        "PATCH",
        &format!("/{d}/clients/{}/secret", device.id),
        Some(json!({"secret": "meter-secret-2"})),
        200,
    );
    assert_eq!(changed["credentials"]["secret"], "meter-secret-2");
    admin.expect("GET", &format!("/{d}/clients/{}", device.id), None, 200);
    admin.expect("GET", &format!("/{d}/clients"), None, 200);
    admin.expect(
        "PATCH",
        &format!("/{d}/channels/{ch}"),
        Some(json!({"name": "power-2"})),
        200,
    );
    admin.expect("GET", &format!("/{d}/channels/{ch}"), None, 200);
    admin.expect("GET", &format!("/{d}/channels"), None, 200);
    admin.connect(d, &ch, &device.id, &["publish", "subscribe"]);
    admin.expect("GET", &format!("/{d}/channels/{ch}/clients"), None, 200);
    admin.expect(
        "GET",
        &format!("/{d}/clients/{}/channels", device.id),
        None,
        200,
    );
    // The device connects over MQTT with its (new) secret, publishes, disconnects.
    let port = server.port();
    let renewed = platform::Device {
        id: device.id.clone(),
        secret: "meter-secret-2".into(),
    };
    let topic = format!("m/{d}/c/{ch}");
    let out = platform::device_pub(&port, &renewed, &topic, "7", &["-i", "any-mqtt-id"]);
    assert_success(&out);
    admin.disconnect(d, &ch, &device.id, &["publish"]);
    admin.expect("POST", &format!("/{d}/channels/{ch}/disable"), None, 200);
    admin.expect("DELETE", &format!("/{d}/clients/{}", device.id), None, 204);
    let clients = vec![
        "client.create",
        "channel.create",
        "client.update",
        "client.update_tags",
        "client.update_secret",
        "client.view",
        "client.list",
        "channel.update",
        "channel.view",
        "channel.list",
        "channel.connect",
        "client.list_by_channel",
        "channel.list_by_client",
        "channel.disconnect",
        "channel.remove",
        "client.remove",
    ];
    (clients, device)
}

const BOOT_KEY: &str = "factory-key-4711";
/// The device private key given to `cert.update`: events carry only its SHA-256.
const DEVICE_KEY: &str =
    "-----BEGIN PRIVATE KEY-----\nMC4CAQAwBQYDK2VwBCIEIDEVICEKEY4711\n-----END PRIVATE KEY-----\n";

/// Every bootstrap operation once; returns the bootstrap stream's expected operations
/// and what it adds to the clients stream.
fn drive_bootstrap(admin: &Api, d: &str) -> (Vec<&'static str>, Vec<&'static str>) {
    let ch = admin.channel(d, "boot-channel");
    let body = json!({"external_id": "ext-1", "external_key": BOOT_KEY, "name": "gateway", "content": "{}", "channels": [ch]});
    let cfg = admin.expect("POST", &format!("/{d}/clients/configs"), Some(body), 201);
    let id = cfg["client_id"]
        .as_str()
        .expect("config client id")
        .to_string();
    admin.expect("GET", &format!("/{d}/clients/configs/{id}"), None, 200);
    admin.expect("GET", &format!("/{d}/clients/configs"), None, 200);
    admin.expect(
        "PUT",
        &format!("/{d}/clients/configs/{id}"),
        Some(json!({"name": "gateway-2", "content": "{\"a\":1}"})),
        200,
    );
    admin.expect(
        "PATCH",
        &format!("/{d}/clients/configs/certs/{id}"),
        Some(json!({"client_cert": "CERT", "client_key": DEVICE_KEY, "ca_cert": "CA"})),
        200,
    );
    admin.expect(
        "PUT",
        &format!("/{d}/clients/configs/connections/{id}"),
        Some(json!({"channels": [ch]})),
        200,
    );
    let http = reqwest::blocking::Client::new();
    let base = admin.base_url();
    let ok = http
        .get(format!("{base}/clients/bootstrap/ext-1"))
        .header("Authorization", format!("Client {BOOT_KEY}"))
        .send()
        .expect("bootstrap");
    assert_eq!(ok.status().as_u16(), 200);
    let bad = http
        .get(format!("{base}/clients/bootstrap/ext-1"))
        .header("Authorization", "Client wrong-key")
        .send()
        .expect("bootstrap");
    assert!(bad.status().is_client_error());
    admin.expect(
        "PUT",
        &format!("/{d}/clients/state/{id}"),
        Some(json!({"state": 1})),
        200,
    );
    admin.expect("DELETE", &format!("/{d}/clients/configs/{id}"), None, 204);
    let boot = vec![
        "config.create",
        "config.view",
        "config.list",
        "config.update",
        "cert.update",
        "client.update_connections",
        "client.bootstrap",
        "client.bootstrap",
        "client.change_state",
        "config.remove",
    ];
    (
        boot,
        vec!["channel.create", "client.create", "channel.connect"],
    )
}
