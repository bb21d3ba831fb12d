//! The route registry every HTTP API is built from, so `/openapi.json` cannot drift.
//!
//! A crate declares its routes on [`Routes`] with this module's [`get`], [`post`],
//! [`put`], [`patch`] and [`delete`] instead of axum's: the same calls, and each one
//! also records an [`Operation`] (method, path, what the handler extracts). The axum
//! `Router` that serves them is the one inside, so a route is served if and only if it
//! is documented. What a handler takes is read from its extractor types at compile
//! time ([`DocArg`], impls in `doc_arg.rs`): the query names of a
//! [`Params`](crate::Params) or a `Query`, whether it reads a body, whether it needs a
//! bearer token. A handler with an extractor that has no `DocArg` impl does not
//! compile, rather than going undocumented.

use std::convert::Infallible;

use axum::extract::Request;
use axum::handler::Handler;
use axum::response::IntoResponse;
use axum::routing::{self, MethodRouter, Route};
use axum::Router;
use tower::{Layer, Service};

/// What one extractor contributes to an operation's description; every extractor a
/// handler takes implements it (the defaults say "nothing to document").
pub trait DocArg {
    /// The query parameter names it accepts (a `Params`'s keys, a `Query`'s fields).
    fn query() -> &'static [&'static str] {
        &[]
    }
    /// The request body it reads, if any.
    fn body() -> Option<BodyKind> {
        None
    }
    /// It authenticates the caller with `Authorization: Bearer <access token>`.
    fn bearer() -> bool {
        false
    }
}

/// What a handler's extractors say about its request, read from the tuple axum's
/// `Handler` is implemented for (`(marker, extractor, ...)`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Input {
    pub query: &'static [&'static str],
    pub body: Option<BodyKind>,
    pub bearer: bool,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BodyKind {
    /// `application/json`.
    Json,
    /// Bytes of any content type.
    Raw,
}

/// Implemented for every extractor tuple whose parts implement [`DocArg`].
pub trait DocArgs {
    fn input() -> Input;
}

/// A handler without extractors.
impl DocArgs for ((),) {
    fn input() -> Input {
        Input::default()
    }
}

/// Folds the [`DocArg`]s of one tuple: the first non-empty query list, a body if any
/// part reads one, bearer if any part authenticates.
macro_rules! doc_args_for_tuple {
    ($($arg:ident),+) => {
        impl<M, $($arg: DocArg),+> DocArgs for (M, $($arg,)+) {
            fn input() -> Input {
                let mut input = Input::default();
                $(
                    if input.query.is_empty() {
                        input.query = $arg::query();
                    }
                    input.body = input.body.or($arg::body());
                    input.bearer |= $arg::bearer();
                )+
                input
            }
        }
    };
}

doc_args_for_tuple!(T1);
doc_args_for_tuple!(T1, T2);
doc_args_for_tuple!(T1, T2, T3);
doc_args_for_tuple!(T1, T2, T3, T4);
doc_args_for_tuple!(T1, T2, T3, T4, T5);
doc_args_for_tuple!(T1, T2, T3, T4, T5, T6);
doc_args_for_tuple!(T1, T2, T3, T4, T5, T6, T7);
doc_args_for_tuple!(T1, T2, T3, T4, T5, T6, T7, T8);

/// One served (and documented) operation.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Operation {
    /// Upper case: `GET`, `POST`, ...
    pub method: &'static str,
    /// axum's form: `/:domain/clients/:id`.
    pub path: String,
    pub input: Input,
}

/// The methods of one path, built like axum's `get(a).post(b)`.
pub struct Methods<S> {
    router: MethodRouter<S>,
    methods: Vec<(&'static str, Input)>,
}

/// The constructors and chain methods are generated once per HTTP method.
macro_rules! method {
    ($name:ident, $verb:literal) => {
        #[doc = concat!("A `", $verb, "` route to `handler`, recorded with its input.")]
        pub fn $name<H, T, S>(handler: H) -> Methods<S>
        where
            H: Handler<T, S>,
            T: DocArgs + 'static,
            S: Clone + Send + Sync + 'static,
        {
            Methods {
                router: routing::$name(handler),
                methods: vec![($verb, T::input())],
            }
        }

        impl<S: Clone + Send + Sync + 'static> Methods<S> {
            #[doc = concat!("Adds `", $verb, "` to `handler`.")]
            pub fn $name<H, T>(mut self, handler: H) -> Self
            where
                H: Handler<T, S>,
                T: DocArgs + 'static,
            {
                self.router = self.router.$name(handler);
                self.methods.push(($verb, T::input()));
                self
            }
        }
    };
}

method!(get, "GET");
method!(post, "POST");
method!(put, "PUT");
method!(patch, "PATCH");
method!(delete, "DELETE");

/// An axum `Router` and the [`Operation`]s it serves, always built together.
pub struct Routes<S = ()> {
    router: Router<S>,
    operations: Vec<Operation>,
}

impl<S: Clone + Send + Sync + 'static> Default for Routes<S> {
    fn default() -> Self {
        Self::new()
    }
}

impl<S: Clone + Send + Sync + 'static> Routes<S> {
    pub fn new() -> Self {
        Routes {
            router: Router::new(),
            operations: Vec::new(),
        }
    }

    /// `Router::route`, recording each method of `methods` under `path`.
    pub fn route(mut self, path: &str, methods: Methods<S>) -> Self {
        self.router = self.router.route(path, methods.router);
        let recorded = methods
            .methods
            .into_iter()
            .map(|(method, input)| Operation {
                method,
                path: path.to_string(),
                input,
            });
        self.operations.extend(recorded);
        self
    }

    /// `Router::merge`: both routers and both lists.
    pub fn merge(mut self, other: Routes<S>) -> Self {
        self.router = self.router.merge(other.router);
        self.operations.extend(other.operations);
        self
    }

    /// `Router::layer` (middleware changes no route).
    pub fn layer<L>(self, layer: L) -> Self
    where
        L: Layer<Route> + Clone + Send + 'static,
        L::Service: Service<Request> + Clone + Send + 'static,
        <L::Service as Service<Request>>::Response: IntoResponse + 'static,
        <L::Service as Service<Request>>::Error: Into<Infallible> + 'static,
        <L::Service as Service<Request>>::Future: Send + 'static,
    {
        Routes {
            router: self.router.layer(layer),
            operations: self.operations,
        }
    }

    /// `Router::with_state`, keeping the operations.
    pub fn with_state<S2>(self, state: S) -> Routes<S2> {
        Routes {
            router: self.router.with_state(state),
            operations: self.operations,
        }
    }

    pub fn operations(&self) -> &[Operation] {
        &self.operations
    }

    /// The router alone (tests that serve one crate's routes).
    pub fn into_router(self) -> Router<S> {
        self.router
    }

    /// The router to serve and what it serves.
    pub fn into_parts(self) -> (Router<S>, Vec<Operation>) {
        (self.router, self.operations)
    }
}
