//! [`DocArg`] for the extractors of axum and of this crate. Other crates implement it
//! for their own extractors (auth's `Caller` says it needs a bearer token).

use axum::body::Bytes;
use axum::extract::{ConnectInfo, Request, State};
use axum::http::{HeaderMap, Method, Uri};
use axum::{Extension, Json};
use serde::de::{self, DeserializeOwned, Visitor};

use crate::routes::{BodyKind, DocArg};
use crate::{Accepted, Body, CheckedQuery, Params, Path, Query};

impl<S> DocArg for State<S> {}
impl<T> DocArg for Extension<T> {}
impl<T> DocArg for ConnectInfo<T> {}
impl DocArg for HeaderMap {}
impl DocArg for Method {}
impl DocArg for Uri {}
impl<T> DocArg for Path<T> {}
impl<T> DocArg for axum::extract::Path<T> {}

impl<T: DocArg> DocArg for Option<T> {
    fn query() -> &'static [&'static str] {
        T::query()
    }
    fn body() -> Option<BodyKind> {
        T::body()
    }
    fn bearer() -> bool {
        T::bearer()
    }
}

/// A handler that takes `Result<T, _>` decides itself when `T`'s rejection is answered
/// (e.g. after checking the token); the route still accepts what `T` accepts.
impl<T: DocArg, E> DocArg for Result<T, E> {
    fn query() -> &'static [&'static str] {
        T::query()
    }
    fn body() -> Option<BodyKind> {
        T::body()
    }
    fn bearer() -> bool {
        T::bearer()
    }
}

impl<A: Accepted> DocArg for Params<A> {
    fn query() -> &'static [&'static str] {
        A::KEYS
    }
}

impl<T: Accepted> DocArg for CheckedQuery<T> {
    fn query() -> &'static [&'static str] {
        T::KEYS
    }
}

impl<T: DeserializeOwned> DocArg for Query<T> {
    fn query() -> &'static [&'static str] {
        struct_fields::<T>()
    }
}

impl<T: DeserializeOwned> DocArg for axum::extract::Query<T> {
    fn query() -> &'static [&'static str] {
        struct_fields::<T>()
    }
}

impl<T> DocArg for Body<T> {
    fn body() -> Option<BodyKind> {
        Some(BodyKind::Json)
    }
}

impl<T> DocArg for Json<T> {
    fn body() -> Option<BodyKind> {
        Some(BodyKind::Json)
    }
}

impl DocArg for Bytes {
    fn body() -> Option<BodyKind> {
        Some(BodyKind::Raw)
    }
}

impl DocArg for String {
    fn body() -> Option<BodyKind> {
        Some(BodyKind::Raw)
    }
}

impl DocArg for axum::body::Body {
    fn body() -> Option<BodyKind> {
        Some(BodyKind::Raw)
    }
}

impl DocArg for Request {
    fn body() -> Option<BodyKind> {
        Some(BodyKind::Raw)
    }
}

impl DocArg for axum::extract::ws::WebSocketUpgrade {}

/// The field names serde's derive gives a struct (`deserialize_struct`'s `fields`),
/// read by asking it to deserialize from a probe that records them and stops; empty
/// for anything that is not a struct (a map takes any name).
fn struct_fields<T: DeserializeOwned>() -> &'static [&'static str] {
    let mut fields: &'static [&'static str] = &[];
    let _ = T::deserialize(FieldProbe {
        fields: &mut fields,
    });
    fields
}

struct FieldProbe<'a> {
    fields: &'a mut &'static [&'static str],
}

impl<'de> de::Deserializer<'de> for FieldProbe<'_> {
    type Error = de::value::Error;

    fn deserialize_any<V: Visitor<'de>>(self, _visitor: V) -> Result<V::Value, Self::Error> {
        Err(de::Error::custom("field probe"))
    }

    fn deserialize_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        fields: &'static [&'static str],
        _visitor: V,
    ) -> Result<V::Value, Self::Error> {
        *self.fields = fields;
        Err(de::Error::custom("field probe"))
    }

    serde::forward_to_deserialize_any! {
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string bytes
        byte_buf option unit unit_struct newtype_struct seq tuple tuple_struct map enum
        identifier ignored_any
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    #[derive(serde::Deserialize)]
    #[allow(dead_code)]
    struct Page {
        offset: Option<u64>,
        #[serde(rename = "limit")]
        max: Option<u64>,
    }

    #[test]
    fn a_query_struct_documents_its_serde_field_names() {
        assert_eq!(Query::<Page>::query(), ["offset", "limit"]);
        assert!(Query::<HashMap<String, String>>::query().is_empty());
    }
}
