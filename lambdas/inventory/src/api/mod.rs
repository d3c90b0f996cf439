//! The HTTP API: one route table ([`ROUTES`]) and the axum router built from it, served by the
//! `sales-api` and `restock` functions (each answers the routes the table gives it) on
//! `lambda_http`, and by the local stack.
//!
//! - `routes.rs`: the router (each path with its method and handler), the table of which
//!   function serves which route, and the "served here" check;
//! - `observe.rs`: the layer around every request (correlation id, log line, capture record);
//! - one file per group of routes: `sales.rs`, `inventory.rs`, `admin.rs`, `callbacks.rs`,
//!   `events.rs`; `request.rs` is what a handler gets and answers, `errors.rs` what it may fail
//!   with; `outcome.rs` resolves a write whose commit was ambiguous before the handler answers.
//!
//! A handler is an axum handler that names what it uses from the [`Api`] as its state
//! ([`ApiState`]): the store in the role it needs (`State<Arc<dyn Sales>>`, …), the publisher,
//! the admin token, the callback signer; never the whole store.

mod admin;
mod callbacks;
mod errors;
mod events;
mod inventory;
mod observe;
mod outcome;
mod request;
mod routes;
mod sales;
#[cfg(test)]
mod tests;

pub use admin::AdminToken;
pub use errors::ApiError;
pub use inventory::{order_json, product_json};
pub use outcome::LOCAL_BUDGET;
pub use routes::{Function, ROUTES, Route, match_route};
pub use sales::sale_json;

use crate::capture::DynCapture;
use crate::factory::CallbackSigner;
use crate::messaging::DynPublisher;
use crate::store::{Catalog, DynStore, Orders, Outbox, Restock, Sales};
use axum::Router;
use axum::body::HttpBody;
use axum::extract::FromRef;
use axum::routing::future::RouteFuture;
use futures::FutureExt;
use lambda_http::{Body, Request, Response};
use std::convert::Infallible;
use std::sync::Arc;
use std::task::{Context, Poll};
use tower::ServiceExt;

/// Largest request body accepted (bytes).
pub const MAX_BODY: usize = 16 * 1024;
/// Largest client analytics event accepted (bytes).
pub const MAX_EVENT_BODY: usize = 4 * 1024;

/// What a process serving the API is wired with.
#[derive(Clone)]
pub struct Api {
    /// The `service` of log lines and capture records.
    pub service: &'static str,
    /// The functions whose routes ([`ROUTES`]) are answered here; the others are 404s.
    pub serves: &'static [Function],
    pub store: DynStore,
    /// Where stock-out events go after the sale's commit (none: the outbox relay sends them).
    pub publisher: Option<DynPublisher>,
    pub admin: Option<AdminToken>,
    pub callbacks: Option<CallbackSigner>,
    pub capture: DynCapture,
}

/// The router's state: the one [`Api`]. A handler takes only the parts it names, as axum
/// sub-states (`State<Arc<dyn Sales>>`): the store as one role at a time (the one `DynStore`,
/// coerced), the publisher, the admin token, the callback signer, the service name.
#[derive(Clone)]
pub(crate) struct ApiState(Arc<Api>);

/// `State<$part>` in a handler's signature: `$part` taken from the [`Api`].
macro_rules! state_parts {
    ($($part:ty => $field:ident),* $(,)?) => {$(
        impl FromRef<ApiState> for $part {
            fn from_ref(state: &ApiState) -> Self {
                state.0.$field.clone()
            }
        }
    )*};
}

state_parts! {
    Arc<dyn Sales> => store,
    Arc<dyn Catalog> => store,
    Arc<dyn Orders> => store,
    Arc<dyn Restock> => store,
    Arc<dyn Outbox> => store,
    Option<DynPublisher> => publisher,
    Option<AdminToken> => admin,
    Option<CallbackSigner> => callbacks,
    &'static str => service,
}

/// The API as a `tower` service (what `lambda_http::run` and the local stack serve): the
/// router over one [`Api`]. Cheap to clone.
#[derive(Clone)]
pub struct App {
    api: Arc<Api>,
    router: Router,
}

impl App {
    pub fn new(api: Api) -> Self {
        let api = Arc::new(api);
        let router = routes::router(api.clone()).layer(axum::middleware::from_fn_with_state(
            api.clone(),
            observe::observe,
        ));
        App { router, api }
    }

    /// What the app is wired with.
    pub fn api(&self) -> &Api {
        &self.api
    }

    /// Serves one request. Never fails: every error is a JSON response.
    pub async fn handle(&self, req: Request) -> Response<Body> {
        let Ok(res) = self.clone().oneshot(req).await;
        let (parts, body) = res.into_parts();
        let body = match axum::body::to_bytes(body, usize::MAX).await {
            Ok(b) if b.is_empty() => Body::Empty,
            Ok(b) => match String::from_utf8(b.to_vec()) {
                Ok(s) => Body::Text(s),
                Err(e) => Body::Binary(e.into_bytes()),
            },
            Err(_) => Body::Empty,
        };
        Response::from_parts(parts, body)
    }
}

impl<B> tower::Service<http::Request<B>> for App
where
    B: HttpBody<Data = bytes::Bytes> + Send + 'static,
    B::Error: Into<axum::BoxError>,
{
    type Response = axum::response::Response;
    type Error = Infallible;
    type Future = futures::future::Map<RouteFuture<Infallible>, fn(Answer) -> Answer>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        // The router is always ready.
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, req: http::Request<B>) -> Self::Future {
        self.router
            .call(request::normalise(req))
            .map(without_content_length as fn(Answer) -> Answer)
    }
}

type Answer = Result<axum::response::Response, Infallible>;

/// axum adds `Content-Length`; the API's responses never carried it (API Gateway and the local
/// server compute their own).
fn without_content_length(mut res: Answer) -> Answer {
    if let Ok(r) = &mut res {
        r.headers_mut().remove(http::header::CONTENT_LENGTH);
    }
    res
}

/// Serves one request with `app` (see [`App::handle`]).
pub async fn handle(app: &App, req: Request) -> Response<Body> {
    app.handle(req).await
}

/// Runs `app` on the Lambda runtime, flushing the EMF metrics after each invocation.
pub async fn run(app: App) -> Result<(), lambda_http::Error> {
    lambda_http::run(lambda_http::service_fn(move |req: Request| {
        let app = app.clone();
        crate::metrics::flushed(app.oneshot(req))
    }))
    .await
}
