//! `ApiError`: every non-2xx answer. Handlers return it; the response carries it as an
//! extension and the request middleware renders the body (which needs the request id), the
//! `WWW-Authenticate` and `Retry-After` headers. Internals are logged, never sent.

use std::sync::Arc;

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};

use crate::api::{ErrorBody, ErrorDetail};
use crate::domain::decision::{Denial, ErrorCode, LAST_OWNER_MESSAGE};
use crate::storage::{Outage, StoreError};

/// An error answer.
#[derive(Debug, Clone)]
pub struct ApiError {
    /// The code (and so status and type).
    pub code: ErrorCode,
    /// Caller-facing message.
    pub message: String,
    /// For `insufficient_scope`.
    pub required_scopes: Vec<String>,
    /// Logged with the request id, never sent.
    pub internal: Option<String>,
    /// Seconds for `Retry-After`.
    pub retry_after: Option<u64>,
}

impl ApiError {
    /// An error with a specific message.
    pub fn new(code: ErrorCode, message: impl Into<String>) -> ApiError {
        ApiError {
            code,
            message: message.into(),
            required_scopes: Vec::new(),
            internal: None,
            retry_after: None,
        }
    }

    /// An error with the code's default message.
    pub fn of(code: ErrorCode) -> ApiError {
        ApiError::new(code, code.default_message())
    }

    /// 400 naming the field.
    pub fn invalid(message: impl Into<String>) -> ApiError {
        ApiError::new(ErrorCode::InvalidRequest, message)
    }

    /// 404.
    pub fn not_found(what: &str) -> ApiError {
        ApiError::new(
            ErrorCode::NotFound,
            format!("No such {what} in this organization."),
        )
    }

    /// The API.md §4 body of this error.
    pub fn body(&self, request_id: &str) -> ErrorBody {
        ErrorBody {
            error: ErrorDetail {
                kind: self.code.kind().to_owned(),
                code: self.code.as_str().to_owned(),
                message: self.message.clone(),
                request_id: request_id.to_owned(),
                required_scopes: (self.code == ErrorCode::InsufficientScope)
                    .then(|| self.required_scopes.clone()),
            },
        }
    }

    /// 500 with internals kept for the log.
    pub fn internal(detail: impl Into<String>) -> ApiError {
        let mut e = ApiError::of(ErrorCode::Internal);
        e.internal = Some(detail.into());
        e
    }
}

impl From<Denial> for ApiError {
    fn from(d: Denial) -> ApiError {
        ApiError {
            code: d.code,
            message: d.message,
            required_scopes: d.required_scopes,
            internal: None,
            retry_after: None,
        }
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> ApiError {
        match e {
            // The message names the cause. No detail is kept for the log: the store logs
            // once when writes start failing and once when they work again, instead of a
            // line per refused request.
            StoreError::Unavailable { cause, .. } => {
                let mut err = ApiError::new(ErrorCode::Unavailable, cause.message());
                err.retry_after = Some(match cause {
                    Outage::Unreachable | Outage::Busy => 1,
                    Outage::DiskFull | Outage::ReadOnly | Outage::Io | Outage::FileReplaced => 5,
                });
                err
            }
            StoreError::Conflict(detail) => {
                let mut err = ApiError::of(ErrorCode::Conflict);
                err.internal = Some(detail);
                err
            }
            StoreError::LastOwner => ApiError::new(ErrorCode::Conflict, LAST_OWNER_MESSAGE),
            other => ApiError::internal(other.to_string()),
        }
    }
}

/// The error travelling on a response until the middleware renders it.
#[derive(Debug, Clone)]
pub struct ErrorMarker(pub Arc<ApiError>);

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status =
            StatusCode::from_u16(self.code.status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let mut resp = status.into_response();
        resp.extensions_mut().insert(ErrorMarker(Arc::new(self)));
        resp
    }
}

/// The `WWW-Authenticate` value for an error, per RFC 6750 (API.md §4).
pub fn www_authenticate(err: &ApiError) -> Option<String> {
    const REALM: &str = "Bearer realm=\"keyconsole\"";
    match err.code {
        ErrorCode::MissingCredentials => Some(REALM.to_owned()),
        ErrorCode::MalformedCredentials => Some(format!("{REALM}, error=\"invalid_request\"")),
        ErrorCode::InvalidKey
        | ErrorCode::KeyDisabled
        | ErrorCode::KeyExpired
        | ErrorCode::InvalidToken
        | ErrorCode::TokenExpired => Some(format!("{REALM}, error=\"invalid_token\"")),
        ErrorCode::InsufficientScope => Some(format!(
            "{REALM}, error=\"insufficient_scope\", scope=\"{}\"",
            err.required_scopes.join(" ")
        )),
        _ => None,
    }
}
