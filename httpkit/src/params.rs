//! Query parameters checked against the route's declared names: an unknown parameter
//! is a 400, never silently ignored (a misspelt filter would otherwise list everything,
//! which is worse than an error). One extractor, one declaration per route
//! ([`Accepted::KEYS`]), so no handler checks its own query.

use axum::async_trait;
use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::StatusCode;
use serde::de::DeserializeOwned;
use std::collections::HashMap;
use std::marker::PhantomData;

use crate::{ApiError, Query};

/// The query parameter names one route accepts.
pub trait Accepted: Send + Sync + 'static {
    const KEYS: &'static [&'static str];
}

/// How much of an unknown parameter's name the error message repeats.
const NAME_SHOWN: usize = 64;

/// The query of a route as name -> value, every name one of `A::KEYS` (the last value
/// wins when a name repeats).
#[derive(Debug)]
pub struct Params<A> {
    pub values: HashMap<String, String>,
    accepted: PhantomData<A>,
}

impl<A: Accepted> Params<A> {
    /// `values` if every name is accepted; else a 400 naming the first unknown one.
    pub fn checked(values: HashMap<String, String>) -> Result<Self, ApiError> {
        if let Some(unknown) = values.keys().find(|k| !A::KEYS.contains(&k.as_str())) {
            let shown: String = unknown.chars().take(NAME_SHOWN).collect();
            return Err(ApiError::new(
                StatusCode::BAD_REQUEST,
                format!("unknown query parameter: {shown:?}"),
            ));
        }
        Ok(Params {
            values,
            accepted: PhantomData,
        })
    }
}

#[async_trait]
impl<S: Send + Sync, A: Accepted> FromRequestParts<S> for Params<A> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        let Query(values) =
            Query::<HashMap<String, String>>::from_request_parts(parts, state).await?;
        Params::checked(values)
    }
}

/// A typed query whose names are checked against `T::KEYS` first: for routes that
/// read their query into a struct. An unknown name is the same 400 as with
/// [`Params`]; a known name with a bad value is axum's 400 (through [`Query`]).
#[derive(Debug)]
pub struct CheckedQuery<T>(pub T);

#[async_trait]
impl<S: Send + Sync, T: Accepted + DeserializeOwned> FromRequestParts<S> for CheckedQuery<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        Params::<T>::from_request_parts(parts, state).await?;
        let Query(typed) = Query::<T>::from_request_parts(parts, state).await?;
        Ok(CheckedQuery(typed))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::Request;

    #[derive(Debug)]
    struct Paging;
    impl Accepted for Paging {
        const KEYS: &'static [&'static str] = &["limit", "offset"];
    }

    async fn params(uri: &str) -> Result<Params<Paging>, ApiError> {
        let (mut parts, ()) = Request::builder().uri(uri).body(()).unwrap().into_parts();
        Params::<Paging>::from_request_parts(&mut parts, &()).await
    }

    #[tokio::test]
    async fn declared_names_pass() {
        let p = params("/x?limit=5&offset=2").await.unwrap();
        assert_eq!(p.values["limit"], "5");
        assert!(params("/x").await.unwrap().values.is_empty());
    }

    #[tokio::test]
    async fn an_unknown_name_is_a_400_naming_it() {
        let error = params("/x?limit=5&usrname=bob").await.unwrap_err();
        assert_eq!(error.status(), StatusCode::BAD_REQUEST);
        assert_eq!(error.message(), "unknown query parameter: \"usrname\"");
    }

    #[derive(Debug, serde::Deserialize)]
    struct Page {
        limit: Option<u64>,
    }
    impl Accepted for Page {
        const KEYS: &'static [&'static str] = &["limit"];
    }

    async fn page(uri: &str) -> Result<CheckedQuery<Page>, ApiError> {
        let (mut parts, ()) = Request::builder().uri(uri).body(()).unwrap().into_parts();
        CheckedQuery::<Page>::from_request_parts(&mut parts, &()).await
    }

    #[tokio::test]
    async fn a_typed_query_checks_names_then_values() {
        assert_eq!(page("/x?limit=7").await.unwrap().0.limit, Some(7));
        let unknown = page("/x?limit=7&size=1").await.unwrap_err();
        assert_eq!(unknown.message(), "unknown query parameter: \"size\"");
        let bad = page("/x?limit=many").await.unwrap_err();
        assert_eq!(bad.status(), StatusCode::BAD_REQUEST);
    }

    #[tokio::test]
    async fn a_long_unknown_name_is_cut_in_the_message() {
        let long = "z".repeat(10_000);
        let error = params(&format!("/x?{long}=1")).await.unwrap_err();
        assert!(error.message().len() < 100, "{}", error.message());
    }
}
