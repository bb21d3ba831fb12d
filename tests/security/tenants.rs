//! Two tenants set up through the API as an operator would: domain D1 administered by
//! user A, domain D2 by user B (neither is a platform admin). Each domain has one device
//! connected to one channel for publish and subscribe.

#![allow(dead_code)]

use serde_json::json;

use crate::common::Server;
use crate::platform::{self, Api, Device};

pub struct Tenant {
    /// Logged in as this tenant's domain admin (a plain user who created the domain).
    pub api: Api,
    pub user_id: String,
    pub email: String,
    pub password: String,
    pub domain: String,
    pub route: String,
    pub device: Device,
    pub channel: String,
    pub channel_route: String,
}

pub struct Tenants {
    pub server: Server,
    /// The platform admin.
    pub admin: Api,
    pub d1: Tenant,
    pub d2: Tenant,
}

/// A platform server with `extra` flags and two tenants whose channels have the same
/// route (`telemetry`), the collision an attacker would try first.
pub fn two_tenants(extra: &[&str]) -> Tenants {
    let server = platform::server(extra);
    let admin = Api::admin(&server);
    let d1 = tenant(&server, &admin, "a", "plant-one", "telemetry");
    let d2 = tenant(&server, &admin, "b", "plant-two", "telemetry");
    Tenants {
        server,
        admin,
        d1,
        d2,
    }
}

/// A user (created by the platform admin) who creates and administers their own domain.
pub fn tenant(
    server: &Server,
    admin: &Api,
    name: &str,
    route: &str,
    channel_route: &str,
) -> Tenant {
    let email = format!("{name}@{route}.example.com");
    let password = format!("{name}-password-{route}");
    let body = json!({"email": email, "credentials": {"username": format!("{name}-{route}"), "secret": password}});
    let user = admin.expect("POST", "/users", Some(body), 201);
    let user_id = user["id"].as_str().expect("user id").to_string();
    let mut api = Api::admin(server);
    api.token = api.login(&email, &password);
    let domain = api.domain(&format!("Domain {name}"), route);
    let device = api.client(&domain, &format!("sensor-{name}"));
    let ch = api.expect(
        "POST",
        &format!("/{domain}/channels"),
        Some(json!({"name": "telemetry", "route": channel_route})),
        201,
    );
    let channel = ch["id"].as_str().expect("channel id").to_string();
    api.connect(&domain, &channel, &device.id, &["publish", "subscribe"]);
    Tenant {
        api,
        user_id,
        email,
        password,
        domain,
        route: route.to_string(),
        device,
        channel,
        channel_route: channel_route.to_string(),
    }
}

/// Writes a route straight into the server's SQLite database, as a row created before
/// id-shaped routes were refused would look (the API refuses to create one now).
/// `table` is `domains` or `channels`.
pub fn force_route(server: &Server, table: &str, id: &str, route: &str) {
    assert!(matches!(table, "domains" | "channels"), "table {table}");
    let url = format!(
        "sqlite://{}?mode=rw",
        server.data_dir.join("magnetite.db").display()
    );
    let sql = format!("UPDATE {table} SET route = $1 WHERE id = $2");
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    runtime.block_on(async {
        use sqlx::ConnectOptions;
        let options: sqlx::sqlite::SqliteConnectOptions = url.parse().expect("sqlite url");
        let mut db = options
            .busy_timeout(std::time::Duration::from_secs(10))
            .connect()
            .await
            .expect("open the server's database");
        let done = sqlx::query(&sql)
            .bind(route)
            .bind(id)
            .execute(&mut db)
            .await
            .expect("update route");
        assert_eq!(done.rows_affected(), 1, "{table} {id}");
    });
}
