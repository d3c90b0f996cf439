//! The sim's HTTP routes (its Function URL), declared once in an axum [`Router`], as the
//! inventory API declares its own: the router picks the [`Endpoint`] for a method and path; the
//! handlers (in `app/function_url.rs`) speak the Function URL's request and response types.

use axum::routing::post;
use axum::{Extension, Router};
use std::sync::LazyLock;
use tower::ServiceExt;

/// The factory's one route.
pub const MANUFACTURES: &str = "/api/manufactures";

/// What answers a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Endpoint {
    Manufacture,
    /// A known path with another method (the `Allow` header says which).
    MethodNotAllowed(&'static str),
    NotFound,
}

static ROUTER: LazyLock<Router> = LazyLock::new(|| {
    Router::new()
        .route(
            MANUFACTURES,
            post(|| async { Extension(Endpoint::Manufacture) })
                .fallback(|| async { Extension(Endpoint::MethodNotAllowed("POST")) }),
        )
        .fallback(|| async { Extension(Endpoint::NotFound) })
});

/// The endpoint for `method` and `path` (trailing slashes ignored).
pub async fn endpoint(method: &http::Method, path: &str) -> Endpoint {
    let path = match path.trim_end_matches('/') {
        "" => "/",
        p => p,
    };
    let Ok(req) = http::Request::builder()
        .method(method.clone())
        .uri(path)
        .body(axum::body::Body::empty())
    else {
        return Endpoint::NotFound;
    };
    match ROUTER.clone().oneshot(req).await {
        Ok(res) => res
            .extensions()
            .get::<Endpoint>()
            .copied()
            .unwrap_or(Endpoint::NotFound),
        Err(never) => match never {},
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::Method;

    #[tokio::test]
    async fn routes() {
        assert_eq!(
            endpoint(&Method::POST, "/api/manufactures").await,
            Endpoint::Manufacture
        );
        assert_eq!(
            endpoint(&Method::POST, "/api/manufactures//").await,
            Endpoint::Manufacture
        );
        for m in [Method::GET, Method::HEAD, Method::PUT] {
            assert_eq!(
                endpoint(&m, "/api/manufactures").await,
                Endpoint::MethodNotAllowed("POST")
            );
        }
        for p in ["/", "/api", "/api/manufactures/x", "/nope", "not a path"] {
            assert_eq!(endpoint(&Method::POST, p).await, Endpoint::NotFound, "{p}");
        }
    }
}
