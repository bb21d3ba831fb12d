//! The routes: the HTTP messaging adapter (SuperMQ `http.yaml`) and the readers
//! (`readers.yaml`), as the official SDK's `Messages.Send` and `Messages.Read` call them.
//!
//! - `POST /m/{domain}/c/{channel}[/{subtopic...}]` and the legacy
//!   `POST /channels/{channel}/messages[/{subtopic...}]`: any content type, body =
//!   the MQTT payload, `Authorization: Client <secret>` or `Basic` (client id, secret);
//!   202 once handed to the broker.
//! - `GET /{domain}/channels/{channel}/messages`: `Authorization: Bearer` of a user who
//!   may read the channel, or `Client <secret>` of a device that may subscribe to it;
//!   `{total, offset, limit, messages}`.

use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Arc;

use axum::body::Body as RawBody;
use axum::extract::{ConnectInfo, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::Json;
use base64::Engine;
use magnetite_auth::http::{Caller, PlatformState};
use magnetite_auth::Platform;
use magnetite_httpkit::routes::{get, post, Routes};
use magnetite_httpkit::{ApiError, Params, Path};
use serde_json::{json, Value};

use crate::error::MessagesError;
use crate::query::{ReadParams, ReadQuery};
use crate::service::{Credentials, MessagesService, Reader, Target};

type AppState = Arc<MessagesService>;

impl PlatformState for MessagesService {
    fn platform_of_state(&self) -> &Platform {
        self.platform()
    }
}

pub fn router(service: Arc<MessagesService>) -> Routes {
    Routes::new()
        .route("/m/:domain/c/:channel", post(publish))
        .route("/m/:domain/c/:channel/", post(publish))
        .route("/m/:domain/c/:channel/*subtopic", post(publish))
        .route("/channels/:channel/messages", post(publish))
        .route("/channels/:channel/messages/*subtopic", post(publish))
        .route("/:domain/channels/:channel/messages", get(read))
        .with_state(service)
}

/// Every publish route: `domain` is absent on the legacy paths, `subtopic` when the
/// path has none.
async fn publish(
    State(service): State<AppState>,
    Path(names): Path<HashMap<String, String>>,
    peer: Option<ConnectInfo<SocketAddr>>,
    headers: HeaderMap,
    body: RawBody,
) -> Result<StatusCode, ApiError> {
    let target = Target {
        domain: names.get("domain").map(String::as_str),
        channel: names.get("channel").map_or("", String::as_str),
        subtopic: names.get("subtopic").map_or("", String::as_str),
    };
    accept(&service, target, peer, &headers, body).await
}

/// Credentials and the gate first (an unauthorized request costs no body read), then
/// the body up to the broker's maximum packet size, then the publish.
async fn accept(
    service: &MessagesService,
    target: Target<'_>,
    peer: Option<ConnectInfo<SocketAddr>>,
    headers: &HeaderMap,
    body: RawBody,
) -> Result<StatusCode, ApiError> {
    let credentials = publish_credentials(headers).ok_or(MessagesError::BadCredentials)?;
    let authorized = service
        .authorize(&credentials, target, peer_ip(peer))
        .await?;
    let max = service.limits().max_payload;
    let payload = axum::body::to_bytes(body, max)
        .await
        .map_err(|_| MessagesError::TooLarge(max))?;
    service.publish(authorized, payload)?;
    Ok(StatusCode::ACCEPTED)
}

/// The client's address (a router served without the server's accept loop, as in a
/// test, has none: all such requests share the unspecified address).
fn peer_ip(peer: Option<ConnectInfo<SocketAddr>>) -> IpAddr {
    peer.map_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED), |c| c.0.ip())
}

/// What a publish accepts: [`credentials`], or a device's secret as a bearer token, the
/// form of SuperMQ's own README example (`Authorization: Bearer <client secret>`).
/// Publishing never takes a user's token, so the bearer value can only be a secret; the
/// readers, where a bearer token is a user's, use [`credentials`] alone.
fn publish_credentials(headers: &HeaderMap) -> Option<Credentials> {
    credentials(headers).or_else(|| {
        let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?.trim();
        let (scheme, rest) = value.split_once(' ')?;
        let rest = rest.trim();
        (scheme.eq_ignore_ascii_case("bearer") && !rest.is_empty())
            .then(|| Credentials::Secret(rest.to_string()))
    })
}

/// `Client <secret>` or `Basic base64(<client id>:<secret>)`.
pub fn credentials(headers: &HeaderMap) -> Option<Credentials> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?.trim();
    let (scheme, rest) = value.split_once(' ')?;
    let rest = rest.trim();
    if scheme.eq_ignore_ascii_case("client") && !rest.is_empty() {
        return Some(Credentials::Secret(rest.to_string()));
    }
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(rest)
        .ok()?;
    let text = String::from_utf8(decoded).ok()?;
    let (client_id, secret) = text.split_once(':')?;
    (!client_id.is_empty() && !secret.is_empty()).then(|| Credentials::Basic {
        client_id: client_id.to_string(),
        secret: secret.to_string(),
    })
}

/// A user's bearer token, or a device's `Client <secret>` (readers.yaml's thing access).
async fn read(
    State(service): State<AppState>,
    Path((domain, channel)): Path<(String, String)>,
    peer: Option<ConnectInfo<SocketAddr>>,
    headers: HeaderMap,
    params: Params<ReadParams>,
    // A user's access token, or a PAT whose scope covers this route (auth's route
    // table); absent for a device's `Client` secret, or when refused (then
    // `from_headers` below gives the refusal its status).
    user: Option<Caller>,
) -> Result<Json<Value>, ApiError> {
    let query = ReadQuery::parse(&params.values)?;
    let page = match credentials(&headers) {
        Some(Credentials::Secret(secret)) => {
            let reader = Reader::Client {
                secret: &secret,
                peer: peer_ip(peer),
            };
            service.read(reader, &domain, &channel, &query).await?
        }
        _ => {
            let caller = match user {
                Some(caller) => caller,
                None => Caller::from_headers(service.platform(), &headers).await?,
            };
            let reader = Reader::User(&caller);
            service.read(reader, &domain, &channel, &query).await?
        }
    };
    Ok(Json(json!({
        "total": page.total,
        "offset": query.offset,
        "limit": query.limit,
        "messages": page.messages,
    })))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with(authorization: &str) -> Option<Credentials> {
        let mut headers = HeaderMap::new();
        headers.insert(header::AUTHORIZATION, authorization.parse().unwrap());
        credentials(&headers)
    }

    #[test]
    fn client_and_basic_credentials_are_read() {
        assert!(matches!(with("Client s3cret"), Some(Credentials::Secret(s)) if s == "s3cret"));
        let basic = base64::engine::general_purpose::STANDARD.encode("id-1:s3:cret");
        match with(&format!("Basic {basic}")) {
            Some(Credentials::Basic { client_id, secret }) => {
                assert_eq!((client_id.as_str(), secret.as_str()), ("id-1", "s3:cret"));
            }
            _ => panic!("basic not read"),
        }
    }

    #[test]
    fn anything_else_is_no_credentials() {
        let no_secret = base64::engine::general_purpose::STANDARD.encode("id-1:");
        for value in [
            "Bearer x",
            "Client ",
            "Basic !!",
            "secret",
            &format!("Basic {no_secret}"),
        ] {
            assert!(with(value).is_none(), "{value}");
        }
        assert!(credentials(&HeaderMap::new()).is_none());
    }

    #[test]
    fn a_publish_also_takes_a_secret_as_a_bearer_token() {
        let mut headers = HeaderMap::new();
        let value = axum::http::HeaderValue::from_static("Bearer device-secret");
        headers.insert(header::AUTHORIZATION, value);
        match publish_credentials(&headers) {
            Some(Credentials::Secret(secret)) => assert_eq!(secret, "device-secret"),
            _ => panic!("bearer secret not read"),
        }
        assert!(
            credentials(&headers).is_none(),
            "readers take bearer as a user token"
        );
        let empty = axum::http::HeaderValue::from_static("Bearer ");
        headers.insert(header::AUTHORIZATION, empty);
        assert!(publish_credentials(&headers).is_none());
    }
}
