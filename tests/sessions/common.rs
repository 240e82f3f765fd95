//! Shared set-up: a manual clock, session flags, a verifier over a JWKS file.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, TimeZone, Utc};
use keyconsole::domain::decision::Decision;
use keyconsole::domain::scope::{Catalog, Scope};
use keyconsole::domain::session::{SessionInput, VerifiedToken, authorize_session};
use keyconsole::server::clock::{Clock, ManualClock};
use keyconsole::server::session::{SessionFlags, SessionSettings, SessionVerifier};
use serde_json::Value;

use crate::keys::{AUDIENCE, ISSUER, ORG};

pub fn start() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 23, 12, 0, 0)
        .single()
        .expect("time")
}

pub fn clock() -> Arc<ManualClock> {
    Arc::new(ManualClock::new(start()))
}

pub fn flags(jwks: &str) -> SessionFlags {
    SessionFlags {
        jwks: Some(jwks.to_owned()),
        issuer: Some(ISSUER.to_owned()),
        audience: Some(AUDIENCE.to_owned()),
        org_claim: None,
    }
}

/// Load settings as `serve` does (short fetch timeout: a hung server fails fast).
pub async fn settings(flags: &SessionFlags, clock: &Arc<ManualClock>) -> SessionSettings {
    SessionSettings::load(flags, clock.as_ref(), Duration::from_millis(500))
        .await
        .expect("settings load")
        .expect("sessions on")
}

pub async fn verifier(flags: &SessionFlags, clock: &Arc<ManualClock>) -> SessionVerifier {
    let s = settings(flags, clock).await;
    SessionVerifier::new(
        &s,
        Catalog::default_catalog(),
        Arc::clone(clock) as Arc<dyn Clock>,
    )
}

/// A JWKS file in a temp dir.
pub struct JwksFile {
    _dir: tempfile::TempDir,
    pub path: PathBuf,
}

impl JwksFile {
    pub fn new(doc: &Value) -> JwksFile {
        let dir = tempfile::Builder::new()
            .prefix("jwt-jwks-")
            .tempdir()
            .expect("tempdir");
        let path = dir.path().join("jwks.json");
        std::fs::write(&path, doc.to_string()).expect("write jwks");
        JwksFile { _dir: dir, path }
    }

    pub fn write(&self, doc: &Value) {
        std::fs::write(&self.path, doc.to_string()).expect("write jwks");
    }

    pub fn arg(&self) -> String {
        self.path.display().to_string()
    }
}

/// Decide a verified token as a request to this org would be decided.
pub fn decide(token: &VerifiedToken, required: &[&str], now: DateTime<Utc>) -> Decision {
    let required: Vec<Scope> = required
        .iter()
        .map(|s| Scope::parse(s).expect("scope"))
        .collect();
    authorize_session(
        token,
        &SessionInput {
            org_exists: token.org_id() == Some(ORG),
            bound_app_org: None,
            app_id: None,
            app_org: None,
            required: &required,
        },
        now,
    )
}
