//! The tracing convention: spans around calls that leave the process.
//!
//! Every call to a database, SNS, Kinesis or the Factory API runs inside one span named after
//! what it calls, made by the helper here (one declaration of each span's fields):
//!
//! | span | helper | fields |
//! |---|---|---|
//! | `db` | [`db_span`] | `db.system` (`mysql`, `sqlite`, `memory`), `db.operation` (the store method, e.g. `sell`) |
//! | `sns` | [`sns_span`] | `aws.operation` (`Publish`), `aws.resource` (topic name), `aws.request_id`, `http.status_code` (on failure), `event_id` |
//! | `kinesis` | [`kinesis_span`] | `aws.operation` (`PutRecords`), `aws.resource` (stream name), `aws.request_id`, `http.status_code` (on failure), `records`, `failed` |
//! | `factory` | [`factory_span`] | `http.method`, `http.status_code`, `factory_order_id` |
//!
//! and every one has `error.kind`, recorded when the call fails ([`record_error`],
//! [`record_sdk_error`], or [`traced`] around a future): a short, fixed vocabulary (`timeout`,
//! `connect`, an AWS error code such as `ThrottlingException`, a `StoreError` variant in
//! snake_case such as `unavailable`) — never an error message, a URL, SQL text, a body or a
//! secret. Fields without a dot (`event_id`, `factory_order_id`, `records`, …) become searchable
//! X-Ray annotations, so they must be ids and counts only, never personal data.
//!
//! The handler spans — `request` (one HTTP request), `message` (one SQS message), `relay` (one
//! outbox event), `callback` (one factory completion) — enclose them. The call spans and the
//! handler spans are what [`crate::xray`] sends to X-Ray; on a log line they show as `span` /
//! `spans` and their fields, like any span.
//!
//! The store's adapters run every port method through `store::traced` (one funnel per adapter),
//! which is `traced(db_span(operation, system), work, StoreError::kind)`; `StoreError::kind`
//! maps an error to `unavailable`, `access_denied`, `database` or `corrupt`.

/// A `db` span (see the module docs): one store operation.
pub fn db_span(operation: &'static str, system: &'static str) -> tracing::Span {
    tracing::info_span!(
        "db",
        db.system = system,
        db.operation = operation,
        error.kind = tracing::field::Empty
    )
}

/// An `sns` span: one `Publish` of the event `event_id` to the topic `topic_arn` (recorded by
/// name: the part after the last `:`).
pub fn sns_span(topic_arn: &str, event_id: &str) -> tracing::Span {
    tracing::info_span!(
        "sns",
        aws.operation = "Publish",
        aws.resource = resource_name(topic_arn),
        aws.request_id = tracing::field::Empty,
        http.status_code = tracing::field::Empty,
        event_id,
        error.kind = tracing::field::Empty
    )
}

/// A `kinesis` span: one `PutRecords` call of `records` records to `stream`; `failed` is
/// recorded when the answer rejects some entries.
pub fn kinesis_span(stream: &str, records: usize) -> tracing::Span {
    tracing::info_span!(
        "kinesis",
        aws.operation = "PutRecords",
        aws.resource = resource_name(stream),
        aws.request_id = tracing::field::Empty,
        http.status_code = tracing::field::Empty,
        records,
        failed = tracing::field::Empty,
        error.kind = tracing::field::Empty
    )
}

/// A `factory` span: one `POST /api/manufactures` for `factory_order_id`.
pub fn factory_span(factory_order_id: &str) -> tracing::Span {
    tracing::info_span!(
        "factory",
        http.method = "POST",
        http.status_code = tracing::field::Empty,
        factory_order_id,
        error.kind = tracing::field::Empty
    )
}

/// The name in an ARN (after its last `:` or `/`), or the text itself.
fn resource_name(arn_or_name: &str) -> &str {
    arn_or_name.rsplit([':', '/']).next().unwrap_or(arn_or_name)
}

/// Marks `span`'s call as failed with `kind` (a short fixed word, see the module docs).
pub fn record_error(span: &tracing::Span, kind: &str) {
    span.record("error.kind", kind);
}

/// Marks `span`'s AWS call as failed: the service's error code, else the kind of SDK failure
/// (`timeout`, `dispatch`, …), and the HTTP status when there was an answer.
pub fn record_sdk_error<E>(
    span: &tracing::Span,
    error: &aws_sdk_sns::error::SdkError<E, aws_sdk_sns::config::http::HttpResponse>,
) where
    E: aws_sdk_sns::error::ProvideErrorMetadata,
{
    use aws_sdk_sns::error::{ProvideErrorMetadata, SdkError};
    let kind = error.code().unwrap_or(match error {
        SdkError::ConstructionFailure(_) => "construction",
        SdkError::TimeoutError(_) => "timeout",
        SdkError::DispatchFailure(_) => "dispatch",
        SdkError::ResponseError(_) => "response",
        SdkError::ServiceError(_) => "service",
        _ => "sdk",
    });
    record_error(span, kind);
    if let Some(status) = error.raw_response().map(|r| r.status().as_u16()) {
        span.record("http.status_code", status);
    }
}

/// Runs `call` inside `span`, recording `error.kind` = `kind(&error)` when it fails.
pub async fn traced<T, E, F>(
    span: tracing::Span,
    call: F,
    kind: impl FnOnce(&E) -> &'static str,
) -> Result<T, E>
where
    F: std::future::Future<Output = Result<T, E>>,
{
    use tracing::Instrument;
    let result = call.instrument(span.clone()).await;
    if let Err(e) = &result {
        record_error(&span, kind(e));
    }
    result
}
