//! Strict request extractors: JSON bodies and query strings whose errors become
//! `invalid_request` (or `payload_too_large`) with a message naming the field.

use axum::body::Bytes;
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::header::CONTENT_TYPE;
use axum::http::request::Parts;
use serde::Deserialize;
use serde::de::DeserializeOwned;

use super::error::ApiError;
use crate::domain::decision::ErrorCode;

/// A JSON body that rejects unknown fields (the types say `deny_unknown_fields`) and names
/// the offending field. An empty body reads as `{}`; one of only whitespace is not JSON.
#[derive(Debug)]
pub struct StrictJson<T>(pub T);

/// Parse JSON, naming the path of the first error.
pub fn parse_json<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    let bytes: &[u8] = if bytes.is_empty() { b"{}" } else { bytes };
    // serde would also fill a struct from a JSON array, bypassing unknown-field checks.
    if bytes.iter().find(|b| !b.is_ascii_whitespace()) != Some(&b'{') {
        return Err(ApiError::invalid(
            "invalid request body: must be a JSON object",
        ));
    }
    let mut de = serde_json::Deserializer::from_slice(bytes);
    match serde_path_to_error::deserialize(&mut de) {
        Ok(v) => match de.end() {
            Ok(()) => Ok(v),
            Err(e) => Err(ApiError::invalid(format!("invalid JSON body: {e}"))),
        },
        Err(e) => {
            let path = e.path().to_string();
            let inner = e.into_inner();
            let msg = if inner.is_syntax() || inner.is_eof() {
                format!("invalid JSON body: {inner}")
            } else if path == "." || inner.to_string().starts_with("unknown field") {
                format!("invalid request body: {inner}")
            } else {
                format!("invalid value for `{path}`: {inner}")
            };
            Err(ApiError::invalid(msg))
        }
    }
}

impl<S, T> FromRequest<S> for StrictJson<T>
where
    S: Send + Sync,
    T: DeserializeOwned,
{
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let content_type = req
            .headers()
            .get(CONTENT_TYPE)
            .map(|v| v.to_str().unwrap_or("").to_ascii_lowercase());
        let bytes = Bytes::from_request(req, state).await.map_err(|r| {
            if r.status().as_u16() == 413 {
                ApiError::of(ErrorCode::PayloadTooLarge)
            } else {
                ApiError::invalid(format!(
                    "could not read the request body: {}",
                    r.body_text()
                ))
            }
        })?;
        if !bytes.is_empty()
            && let Some(ct) = content_type
            && !ct.starts_with("application/json")
        {
            return Err(ApiError::invalid(
                "Content-Type must be application/json for a JSON body",
            ));
        }
        parse_json(&bytes).map(StrictJson)
    }
}

/// A query string that rejects unknown parameters (the types say `deny_unknown_fields`),
/// repeated ones and bad values, naming the parameter.
#[derive(Debug)]
pub struct StrictQuery<T>(pub T);

/// The query of an endpoint that takes no parameters: any parameter is rejected.
#[derive(Debug, Clone, Copy, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NoQuery {}

/// Parse a query string into `T`, naming the parameter of the first error.
pub fn parse_query<T: DeserializeOwned>(query: &str) -> Result<T, ApiError> {
    let de = serde_urlencoded::Deserializer::new(form_urlencoded::parse(query.as_bytes()));
    serde_path_to_error::deserialize(de).map_err(|e| {
        let path = e.path().to_string();
        let inner = e.into_inner().to_string();
        // serde words these for struct fields; here the fields are query parameters.
        if let Some(rest) = inner.strip_prefix("unknown field ") {
            let rest = rest
                .replace(
                    ", there are no fields",
                    ": this endpoint takes no query parameters",
                )
                .replace(", expected one of ", "; this endpoint takes ")
                .replace(", expected ", "; this endpoint takes ");
            ApiError::invalid(format!("unknown query parameter {rest}"))
        } else if let Some(name) = inner.strip_prefix("duplicate field ") {
            ApiError::invalid(format!("query parameter {name} given more than once"))
        } else if path == "." {
            ApiError::invalid(format!("invalid query string: {inner}"))
        } else {
            ApiError::invalid(format!("invalid query parameter `{path}`: {inner}"))
        }
    })
}

impl<S, T> FromRequestParts<S> for StrictQuery<T>
where
    S: Send + Sync,
    T: DeserializeOwned,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        parse_query(parts.uri.query().unwrap_or("")).map(StrictQuery)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::PageQuery;

    fn message(e: ApiError) -> String {
        assert_eq!(e.code, ErrorCode::InvalidRequest);
        e.message
    }

    #[test]
    fn unknown_parameters_are_named() {
        let e = parse_query::<NoQuery>("foo=bar").expect_err("unknown");
        assert_eq!(
            message(e),
            "unknown query parameter `foo`: this endpoint takes no query parameters"
        );
        let e = parse_query::<PageQuery>("limit=5&foo=1").expect_err("unknown");
        assert_eq!(
            message(e),
            "unknown query parameter `foo`; this endpoint takes `limit` or `cursor`"
        );
        assert!(parse_query::<NoQuery>("").is_ok());
    }

    #[test]
    fn only_an_empty_body_reads_as_an_empty_object() {
        assert!(parse_json::<crate::api::RotateRequest>(b"").is_ok());
        for blank in [&b"\n"[..], b" ", b"\r\n\t"] {
            let e = parse_json::<crate::api::RotateRequest>(blank).expect_err("not JSON");
            assert_eq!(message(e), "invalid request body: must be a JSON object");
        }
    }

    #[test]
    fn repeated_and_bad_values_are_named() {
        let e = parse_query::<PageQuery>("limit=5&limit=6").expect_err("repeated");
        assert_eq!(message(e), "query parameter `limit` given more than once");
        let e = parse_query::<PageQuery>("limit=lots").expect_err("bad");
        assert!(message(e).starts_with("invalid query parameter `limit`: "));
    }
}
