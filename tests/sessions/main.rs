//! Sessions (API.md §8) below the HTTP layer: tokens signed in the tests with RSA 2048,
//! P-256 and Ed25519 keys generated here, checked by `server::session::SessionVerifier`
//! against a JWKS file or a JWKS served over HTTP by a tiny in-test server on 127.0.0.1:0
//! that counts its fetches. Time moves on a manual clock; nothing sleeps.

mod cli;
mod common;
mod http;
mod jwks_http;
mod keys;
#[path = "../support/mod.rs"]
mod support;
mod verifier;
