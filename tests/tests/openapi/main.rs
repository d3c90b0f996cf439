//! The contract's machine-readable form, `docs/openapi.yaml`, against the handlers:
//!
//! - its public paths and methods are exactly `inventory::api::ROUTES` (same template syntax);
//! - every operation declares the error statuses the handler can produce for it (400/413/415 on
//!   every route with a body, 500/503 on every route that reads the database, 401/403 where a
//!   credential is checked, ...), each with the `X-Correlation-Id` header;
//! - for a sample of real responses of a started stack (one per error path of every route), the
//!   status is declared for that operation, the `error` code is one the spec lists for that status,
//!   the body has the declared shape, and `X-Correlation-Id` is set.
//!
//! One module a concern (one test binary, linked once):
//! - `spec`: reading the spec (operations, `$ref`s, responses, schemas, error codes);
//! - `routes`: the spec's public operations against the router table;
//! - `errors`: the error statuses and codes every operation declares;
//! - `probe`, `responses`: the sample of real responses and how it is sent (raw TCP);
//! - `served`: the local stack serves the spec and its reference page.

mod errors;
mod probe;
mod responses;
mod routes;
mod served;
mod spec;
