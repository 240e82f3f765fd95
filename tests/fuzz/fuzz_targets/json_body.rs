//! JSON request bodies through the server's own strict deserializer
//! (`server::extract::parse_json`), for every request type the API takes as JSON.
//!
//! Invariants: only an object (or an empty body) is accepted; what is accepted serializes and
//! parses back to the same value; a refusal is `invalid_request` with a message; and the
//! `credential` of `POST /v1/verify` is never shown by `Debug` nor quoted in a refusal.
#![no_main]

use std::fmt::Debug;

use keyconsole::api::{
    CreateAppRequest, CreateKeyRequest, RotateRequest, UpdateKeyRequest, VerifyRequest,
};
use keyconsole::domain::decision::ErrorCode;
use keyconsole::server::extract::parse_json;
use keyconsole_fuzz::{leaked_run, longest_alnum_run};
use libfuzzer_sys::fuzz_target;
use serde::Serialize;
use serde::de::DeserializeOwned;

fn check<T: DeserializeOwned + Serialize + PartialEq + Debug>(data: &[u8]) -> Option<T> {
    let first = data.iter().find(|b| !b.is_ascii_whitespace());
    match parse_json::<T>(data) {
        Ok(v) => {
            assert!(
                first.is_none() || first == Some(&b'{'),
                "accepted a non-object"
            );
            let again = serde_json::to_vec(&v).expect("serializes");
            let back: T = match parse_json(&again) {
                Ok(b) => b,
                Err(e) => panic!(
                    "re-parse failed: {} for {}",
                    e.message,
                    String::from_utf8_lossy(&again)
                ),
            };
            assert_eq!(
                back,
                v,
                "round trip through {}",
                String::from_utf8_lossy(&again)
            );
            Some(v)
        }
        Err(e) => {
            assert_eq!(e.code, ErrorCode::InvalidRequest);
            assert!(!e.message.is_empty());
            None
        }
    }
}

fuzz_target!(|data: &[u8]| {
    check::<CreateKeyRequest>(data);
    check::<UpdateKeyRequest>(data);
    check::<RotateRequest>(data);
    check::<CreateAppRequest>(data);
    let verify = check::<VerifyRequest>(data);
    // The credential a gateway sends for verification is a secret.
    let Ok(serde_json::Value::Object(mut body)) = serde_json::from_slice(data) else {
        return;
    };
    let credential = body
        .remove("credential")
        .and_then(|v| v.as_str().map(str::to_owned))
        .filter(|c| longest_alnum_run(c) >= 16);
    // What the rest of the body says may be quoted back.
    let rest = serde_json::to_string(&body).unwrap_or_default();
    if let Some(c) = credential {
        match (verify, parse_json::<VerifyRequest>(data)) {
            (Some(v), _) => {
                let debug = format!("{v:?}");
                assert!(
                    leaked_run(&debug, &c, 16, &rest).is_none(),
                    "Debug shows it: {debug}"
                );
            }
            (None, Err(e)) => {
                assert!(
                    leaked_run(&e.message, &c, 16, &rest).is_none(),
                    "the refusal quotes the credential: {}",
                    e.message
                );
            }
            (None, Ok(_)) => unreachable!("parse_json is deterministic"),
        }
    }
});
