//! The crate's one error enum and its one mapping to HTTP: every failure a client can cause has a
//! stable `code` and a status; the body is always `{"error":{"code":"...","message":"..."}}`
//! (plus `seq` when the engine journalled a rejection).

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use engine::EngineError;

#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    // -- authentication (401) --
    #[error("missing or malformed authentication header {header}")]
    MissingAuth { header: &'static str },
    #[error("unknown key id {key_id:?}")]
    UnknownKey { key_id: String },
    #[error("the signature does not verify")]
    BadSignature,
    #[error("the request expired at {expiry_ms} ms (server time {now_ms} ms)")]
    Expired { expiry_ms: u64, now_ms: u64 },
    #[error("the expiry {expiry_ms} ms is more than {max_ms} ms ahead of server time")]
    ExpiryTooFar { expiry_ms: u64, max_ms: u64 },
    #[error("nonce {nonce} was already used with another request")]
    ReplayedNonce { nonce: u64 },
    #[error("nonce {nonce} is at or below the forgotten watermark {watermark}: use a larger nonce")]
    NonceTooOld { nonce: u64, watermark: u64 },
    // -- authorisation (403) --
    #[error("{principal} may not {action}")]
    Forbidden { principal: String, action: String },
    // -- rate (429) --
    #[error("rate limit of key {key_id:?} exceeded; retry after {retry_after_ms} ms")]
    RateLimited { key_id: String, retry_after_ms: u64 },
    // -- bad input (400 / 413 / 404 / 409) --
    #[error("the body is not valid JSON: {detail}")]
    MalformedJson { detail: String },
    #[error("the body does not match the request schema: {detail}")]
    InvalidBody { detail: String },
    #[error("the request's path or query is invalid: {detail}")]
    InvalidRequest { detail: String },
    #[error("field {field}: {why}")]
    OutOfRange { field: String, why: String },
    #[error("the body is over the limit of {limit} bytes")]
    BodyTooLarge { limit: usize },
    #[error("not found: {what}")]
    NotFound { what: String },
    #[error("{what} already exists")]
    Conflict { what: String },
    #[error("method {method} is not allowed on {path}")]
    MethodNotAllowed { method: String, path: String },
    // -- the engine --
    #[error("{error}")]
    Rejected { seq: u64, error: EngineError },
    #[error("{error}")]
    Refused { error: EngineError },
    // -- the service itself (5xx) --
    #[error("the service is shutting down")]
    ShuttingDown,
    #[error("the journal failed: {detail}")]
    Journal { detail: String },
    #[error("margin unavailable: {detail}")]
    Margin { detail: String },
    #[error("internal error: {detail}")]
    Internal { detail: String },
    // -- start-up (never sent to clients) --
    #[error("start-up: {detail}")]
    Startup { detail: String },
}

impl ServerError {
    /// The stable machine-readable code.
    pub fn code(&self) -> String {
        let fixed = match self {
            ServerError::MissingAuth { .. } => "missing_auth",
            ServerError::UnknownKey { .. } => "unknown_key",
            ServerError::BadSignature => "bad_signature",
            ServerError::Expired { .. } => "expired",
            ServerError::ExpiryTooFar { .. } => "expiry_too_far",
            ServerError::ReplayedNonce { .. } => "replayed_nonce",
            ServerError::NonceTooOld { .. } => "nonce_too_old",
            ServerError::Forbidden { .. } => "forbidden",
            ServerError::RateLimited { .. } => "rate_limited",
            ServerError::MalformedJson { .. } => "malformed_json",
            ServerError::InvalidBody { .. } => "invalid_body",
            ServerError::InvalidRequest { .. } => "invalid_request",
            ServerError::OutOfRange { .. } => "out_of_range",
            ServerError::BodyTooLarge { .. } => "body_too_large",
            ServerError::NotFound { .. } => "not_found",
            ServerError::Conflict { .. } => "conflict",
            ServerError::MethodNotAllowed { .. } => "method_not_allowed",
            ServerError::Rejected { error, .. } | ServerError::Refused { error } => return engine_code(error),
            ServerError::ShuttingDown => "shutting_down",
            ServerError::Journal { .. } => "journal_failed",
            ServerError::Margin { .. } => "margin_unavailable",
            ServerError::Internal { .. } => "internal",
            ServerError::Startup { .. } => "startup",
        };
        fixed.to_string()
    }

    pub fn status(&self) -> StatusCode {
        match self {
            ServerError::MissingAuth { .. }
            | ServerError::UnknownKey { .. }
            | ServerError::BadSignature
            | ServerError::Expired { .. }
            | ServerError::ExpiryTooFar { .. }
            | ServerError::ReplayedNonce { .. }
            | ServerError::NonceTooOld { .. } => StatusCode::UNAUTHORIZED,
            ServerError::Forbidden { .. } => StatusCode::FORBIDDEN,
            ServerError::RateLimited { .. } => StatusCode::TOO_MANY_REQUESTS,
            ServerError::MalformedJson { .. }
            | ServerError::InvalidBody { .. }
            | ServerError::InvalidRequest { .. }
            | ServerError::OutOfRange { .. } => StatusCode::BAD_REQUEST,
            ServerError::BodyTooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
            ServerError::NotFound { .. } => StatusCode::NOT_FOUND,
            ServerError::Conflict { .. } => StatusCode::CONFLICT,
            ServerError::MethodNotAllowed { .. } => StatusCode::METHOD_NOT_ALLOWED,
            ServerError::Rejected { .. } => StatusCode::UNPROCESSABLE_ENTITY,
            ServerError::Refused { error } => refused_status(error),
            ServerError::ShuttingDown | ServerError::Margin { .. } => StatusCode::SERVICE_UNAVAILABLE,
            ServerError::Journal { .. } | ServerError::Internal { .. } | ServerError::Startup { .. } => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// A refusal of the engine's session check is an authentication failure of the nonce.
    pub fn from_refusal(error: EngineError) -> ServerError {
        match error {
            EngineError::IdReusedWithDifferentCommand { id, .. } => ServerError::ReplayedNonce { nonce: id },
            EngineError::IdTooOld { id, watermark, .. } => ServerError::NonceTooOld { nonce: id, watermark },
            error => ServerError::Refused { error },
        }
    }

    pub fn internal(detail: impl std::fmt::Display) -> ServerError {
        ServerError::Internal { detail: detail.to_string() }
    }
}

fn refused_status(error: &EngineError) -> StatusCode {
    match error {
        EngineError::Unauthorized { .. } => StatusCode::FORBIDDEN,
        _ => StatusCode::BAD_REQUEST,
    }
}

/// The engine's own code (`insufficient_balance`, ...): its serde tag.
fn engine_code(error: &EngineError) -> String {
    serde_json::to_value(error)
        .ok()
        .and_then(|v| v.get("code").and_then(|c| c.as_str()).map(str::to_string))
        .unwrap_or_else(|| "engine_error".to_string())
}

impl IntoResponse for ServerError {
    fn into_response(self) -> Response {
        let status = self.status();
        let mut error = serde_json::json!({ "code": self.code(), "message": self.to_string() });
        if let ServerError::Rejected { seq, .. } = &self {
            error["seq"] = serde_json::json!(seq);
        }
        let mut response = (status, axum::Json(serde_json::json!({ "error": error }))).into_response();
        if let ServerError::RateLimited { retry_after_ms, .. } = &self
            && let Ok(value) = axum::http::HeaderValue::from_str(&retry_after_ms.div_ceil(1000).to_string())
        {
            response.headers_mut().insert(axum::http::header::RETRY_AFTER, value);
        }
        response
    }
}

pub type Result<T> = std::result::Result<T, ServerError>;
