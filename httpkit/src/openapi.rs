//! The OpenAPI 3.1 document of a set of [`Operation`]s (utoipa's model, serialized by
//! it): every path and method, the path parameters (from the path), the query
//! parameters a handler's extractors accept, whether it reads a body, which need a
//! bearer token. Built once at start from the routes the server serves.

use utoipa::openapi::path::{OperationBuilder, ParameterBuilder, ParameterIn};
use utoipa::openapi::request_body::RequestBodyBuilder;
use utoipa::openapi::security::{Http, HttpAuthScheme, SecurityScheme};
use utoipa::openapi::{
    ComponentsBuilder, ContentBuilder, HttpMethod, Info, Object, OpenApi, Paths, Required,
    ResponseBuilder, SecurityRequirement, Type,
};

use crate::routes::{BodyKind, Operation};

/// The security scheme name of `Authorization: Bearer <access token>`.
const BEARER: &str = "bearer";

/// The document of `operations`, titled `title` at `version`.
pub fn document(title: &str, version: &str, operations: &[Operation]) -> OpenApi {
    let mut paths = Paths::new();
    let mut sorted: Vec<&Operation> = operations.iter().collect();
    sorted.sort_by(|a, b| (&a.path, a.method).cmp(&(&b.path, b.method)));
    for op in sorted {
        let Some(method) = http_method(op.method) else {
            continue;
        };
        paths.add_path_operation(openapi_path(&op.path), vec![method], operation(op));
    }
    let mut doc = OpenApi::new(Info::new(title, version), paths);
    let bearer = SecurityScheme::Http(Http::new(HttpAuthScheme::Bearer));
    doc.components = Some(
        ComponentsBuilder::new()
            .security_scheme(BEARER, bearer)
            .build(),
    );
    doc
}

/// axum's `/:domain/clients/:id` as OpenAPI's `/{domain}/clients/{id}`.
pub fn openapi_path(axum_path: &str) -> String {
    axum_path
        .split('/')
        .map(|segment| match path_param(segment) {
            Some(name) => format!("{{{name}}}"),
            None => segment.to_string(),
        })
        .collect::<Vec<_>>()
        .join("/")
}

/// The parameter name of a `:name` or `*name` segment.
fn path_param(segment: &str) -> Option<&str> {
    segment
        .strip_prefix(':')
        .or_else(|| segment.strip_prefix('*'))
}

fn http_method(method: &str) -> Option<HttpMethod> {
    Some(match method {
        "GET" => HttpMethod::Get,
        "POST" => HttpMethod::Post,
        "PUT" => HttpMethod::Put,
        "PATCH" => HttpMethod::Patch,
        "DELETE" => HttpMethod::Delete,
        _ => return None,
    })
}

fn string_parameter(name: &str, place: ParameterIn, required: Required) -> ParameterBuilder {
    ParameterBuilder::new()
        .name(name)
        .parameter_in(place)
        .required(required)
        .schema(Some(Object::with_type(Type::String)))
}

fn operation(op: &Operation) -> utoipa::openapi::path::Operation {
    let id = format!("{} {}", op.method, op.path);
    let mut builder = OperationBuilder::new().operation_id(Some(id));
    for name in op.path.split('/').filter_map(path_param) {
        builder = builder.parameter(string_parameter(name, ParameterIn::Path, Required::True));
    }
    for name in op.input.query {
        builder = builder.parameter(string_parameter(name, ParameterIn::Query, Required::False));
    }
    if let Some(kind) = op.input.body {
        let (content_type, schema) = match kind {
            BodyKind::Json => ("application/json", Object::with_type(Type::Object)),
            BodyKind::Raw => ("*/*", Object::with_type(Type::String)),
        };
        let content = ContentBuilder::new().schema(Some(schema)).build();
        let body = RequestBodyBuilder::new()
            .content(content_type, content)
            .required(Some(Required::True))
            .build();
        builder = builder.request_body(Some(body));
    }
    if op.input.bearer {
        builder = builder.security(SecurityRequirement::new(BEARER, Vec::<String>::new()));
    }
    let error = ResponseBuilder::new().description("an error: {\"message\": ...}");
    builder
        .response("2XX", ResponseBuilder::new().description("success"))
        .response("4XX", error)
        .build()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::routes::{delete, get, DocArg, Routes};
    use crate::{Accepted, Body, Params, Path};
    use std::collections::BTreeMap;

    fn operations_per_path(operations: &[Operation]) -> BTreeMap<String, usize> {
        let mut counts = BTreeMap::new();
        for op in operations {
            *counts.entry(openapi_path(&op.path)).or_insert(0) += 1;
        }
        counts
    }

    struct Listing;
    impl Accepted for Listing {
        const KEYS: &'static [&'static str] = &["offset", "limit"];
    }
    struct Token;
    impl DocArg for Token {
        fn bearer() -> bool {
            true
        }
    }
    #[axum::async_trait]
    impl<S: Send + Sync> axum::extract::FromRequestParts<S> for Token {
        type Rejection = crate::ApiError;
        async fn from_request_parts(
            _: &mut axum::http::request::Parts,
            _: &S,
        ) -> Result<Self, crate::ApiError> {
            Ok(Token)
        }
    }

    async fn list(_: Token, _: Path<String>, _: Params<Listing>) {}
    async fn create(_: Token, _: Path<String>, _: Body<serde_json::Value>) {}
    async fn remove(_: Path<(String, String)>) {}
    async fn ca() {}

    fn routes() -> Routes {
        let things = Routes::new()
            .route("/:domain/things", get(list).post(create))
            .route("/:domain/things/:id", delete(remove));
        Routes::new().route("/ca", get(ca).post(ca)).merge(things)
    }

    #[test]
    fn every_route_and_method_is_recorded_with_what_its_handler_takes() {
        let (_router, operations) = routes().into_parts();
        assert_eq!(operations.len(), 5);
        let counts = operations_per_path(&operations);
        assert_eq!(counts["/{domain}/things"], 2);
        assert_eq!(counts["/{domain}/things/{id}"], 1);
        let doc = serde_json::to_value(document("t", "1", &operations)).expect("JSON");
        let listing = &doc["paths"]["/{domain}/things"]["get"];
        let names: Vec<&str> = listing["parameters"]
            .as_array()
            .expect("parameters")
            .iter()
            .map(|p| p["name"].as_str().unwrap_or_default())
            .collect();
        assert_eq!(names, ["domain", "offset", "limit"]);
        assert_eq!(listing["security"][0][BEARER], serde_json::json!([]));
        assert!(listing["requestBody"].is_null());
        let creating = &doc["paths"]["/{domain}/things"]["post"];
        assert!(creating["requestBody"]["content"]["application/json"].is_object());
        let removing = &doc["paths"]["/{domain}/things/{id}"]["delete"];
        assert_eq!(removing["parameters"][1]["in"], "path");
        assert!(removing["security"].is_null());
        assert!(doc["paths"]["/ca"]["get"].is_object() && doc["paths"]["/ca"]["post"].is_object());
    }

    #[tokio::test]
    async fn the_recorded_routes_are_the_ones_served() {
        use tower::ServiceExt;
        let (router, _) = routes().into_parts();
        let request = |method: &str, uri: &str| {
            axum::http::Request::builder()
                .method(method)
                .uri(uri)
                .body(axum::body::Body::empty())
                .expect("request")
        };
        let served = router
            .clone()
            .oneshot(request("DELETE", "/d/things/x"))
            .await;
        assert_eq!(served.map(|r| r.status().as_u16()).ok(), Some(200));
        let missing = router.oneshot(request("PUT", "/d/things/x")).await;
        assert_eq!(missing.map(|r| r.status().as_u16()).ok(), Some(405));
    }
}
