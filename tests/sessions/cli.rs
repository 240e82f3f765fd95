//! `keyconsole serve` with the session flags: what is refused at start (exit 2, one line),
//! and that a good JWKS file lets the service start.

use std::process::Command;

use serde_json::json;

use crate::common::JwksFile;
use crate::keys::{TestKey, jwks};
use crate::support::serve::{BIN, Served};

fn serve(args: &[&str], db: &str) -> std::process::Output {
    Command::new(BIN)
        .arg("serve")
        .args(["--listen", "127.0.0.1:0", "--database", db])
        .args(args)
        .env_remove("KEYCONSOLE_DATABASE_URL")
        .env("NO_COLOR", "1")
        .output()
        .expect("run keyconsole")
}

#[test]
fn bad_session_flags_are_usage_errors_with_one_line() {
    let dir = tempfile::tempdir().expect("tempdir");
    let db_path = dir.path().join("k.db");
    let db = format!("sqlite://{}", db_path.display());
    let good = JwksFile::new(&jwks(&[&TestKey::ed25519("k1")]));
    let garbage = JwksFile::new(&json!({"not": "a jwks"}));
    let missing = dir.path().join("nowhere.json").display().to_string();
    for (args, says) in [
        (
            vec![
                "--jwks",
                missing.as_str(),
                "--jwt-issuer",
                "https://id.test/",
            ],
            "cannot read",
        ),
        (vec!["--jwks", &good.arg()], "--jwt-issuer"),
        (vec!["--jwt-issuer", "https://id.test/"], "needs --jwks"),
        (
            vec!["--jwks", &garbage.arg(), "--jwt-issuer", "https://id.test/"],
            "not a JWKS",
        ),
        (
            vec!["--jwks", "http://id.example.com/jwks", "--jwt-issuer", "x"],
            "https",
        ),
        (
            vec![
                "--jwks",
                &good.arg(),
                "--jwt-issuer",
                "x",
                "--jwt-org-claim",
                "iss",
            ],
            "--jwt-org-claim",
        ),
    ] {
        let out = serve(&args, &db);
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {err}");
        assert_eq!(
            err.trim_end().lines().count(),
            1,
            "{args:?}: one line: {err}"
        );
        assert!(
            err.starts_with("keyconsole: ") && err.contains(says),
            "{args:?}: {err}"
        );
    }
    assert!(!db_path.exists(), "a refused start touches no database");
}

#[test]
fn a_good_jwks_file_lets_serve_start() {
    let dir = tempfile::tempdir().expect("tempdir");
    let db = format!("sqlite://{}", dir.path().join("k.db").display());
    let good = JwksFile::new(&jwks(&[&TestKey::ed25519("k1"), &TestKey::p256("k2")]));
    let jwks_arg = good.arg();
    let served = Served::start(&[
        "--database",
        &db,
        "--create",
        "--jwks",
        &jwks_arg,
        "--jwt-issuer",
        "https://id.test/",
        "--jwt-audience",
        "keyconsole",
        "--jwt-org-claim",
        "tenant",
    ]);
    let log = served.log();
    assert!(
        log.contains("sessions on: Bearer JWTs are accepted") && log.contains("k1"),
        "{log}"
    );
}

#[tokio::test]
async fn sessions_through_real_serve_processes_act_as_the_user() {
    let dir = tempfile::tempdir().expect("tempdir");
    let db = format!("sqlite://{}", dir.path().join("k.db").display());
    let out = Command::new(BIN)
        .args(["org", "create", "Acme", "--database", &db, "--json"])
        .env_remove("KEYCONSOLE_DATABASE_URL")
        .output()
        .expect("org create");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let created: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    let org = created["org"]["id"].as_str().expect("org id").to_owned();
    let owner = created["secret"].as_str().expect("secret").to_owned();

    let key = TestKey::p256("k1");
    let file = JwksFile::new(&jwks(&[&key]));
    let mut claims = crate::keys::claims(chrono::Utc::now());
    claims["org_id"] = json!(org);
    claims["scope"] = json!("keys:read keys:write runs:read");
    let jwt = key.token(&claims);
    let session_args = [
        "--database",
        &db,
        "--jwks",
        &file.arg(),
        "--jwt-issuer",
        crate::keys::ISSUER,
        "--jwt-audience",
        crate::keys::AUDIENCE,
    ];
    let on = Served::start(&session_args);
    let url = on.url.clone();
    let http = reqwest::Client::new();
    let me: serde_json::Value = http
        .get(format!("{url}/v1/me"))
        .bearer_auth(&jwt)
        .send()
        .await
        .expect("me")
        .json()
        .await
        .expect("json");
    assert_eq!(me["auth_method"], "session", "{me}");
    assert_eq!(me["user"]["sub"], "user_ana");
    let made = http
        .post(format!("{url}/v1/keys"))
        .bearer_auth(&jwt)
        .json(&json!({"name": "made by ana", "scopes": ["runs:read"]}))
        .send()
        .await
        .expect("create");
    assert_eq!(made.status().as_u16(), 201);
    let audit: serde_json::Value = http
        .get(format!("{url}/v1/audit"))
        .bearer_auth(&owner)
        .send()
        .await
        .expect("audit")
        .json()
        .await
        .expect("json");
    assert_eq!(audit["data"][0]["actor"]["type"], "user", "{audit}");
    drop(on);

    // The same database served without --jwks: the JWT is malformed_credentials there.
    let off = Served::start(&["--database", &db]);
    let url = off.url.clone();
    let r = http
        .get(format!("{url}/v1/me"))
        .bearer_auth(&jwt)
        .send()
        .await
        .expect("me");
    let status = r.status().as_u16();
    let body: serde_json::Value = r.json().await.expect("json");
    drop(off);
    assert_eq!(status, 401);
    assert_eq!(body["error"]["code"], "malformed_credentials");
}

#[test]
fn doctor_lints_a_jwt_offline_and_never_prints_it() {
    let mut c = crate::keys::claims(chrono::Utc::now() - chrono::Duration::hours(3));
    c["iss"] = json!("https://other.example/");
    let jwt = crate::keys::hmac_token(&json!({"alg": "HS256", "kid": "k1"}), &c, b"s");
    let line = format!("Authorization: Bearer {jwt}");
    let out = Command::new(BIN)
        .args([
            "doctor",
            &line,
            "--jwt-issuer",
            crate::keys::ISSUER,
            "-o",
            "json",
        ])
        .output()
        .expect("doctor");
    assert_eq!(out.status.code(), Some(1));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(!stdout.contains(&jwt), "the token is never printed");
    let v: serde_json::Value = serde_json::from_str(&stdout).expect("json");
    let rules: Vec<&str> = v["findings"]
        .as_array()
        .map(|f| f.iter().filter_map(|x| x["rule"].as_str()).collect())
        .unwrap_or_default();
    assert!(rules.contains(&"alg_hmac"), "{rules:?}");
    assert!(rules.contains(&"expired"), "{rules:?}");
    assert!(
        v["signature"]
            .as_str()
            .unwrap_or("")
            .contains("not verified")
    );
    assert!(v.to_string().contains("other.example"), "iss is shown: {v}");
}

/// As for keys, `doctor` exits 0 when a JWT has only warnings (here: no scopes), and says
/// what it found.
#[test]
fn doctor_exits_0_for_a_jwt_with_warnings_only() {
    let mut c = crate::keys::claims(chrono::Utc::now());
    c.as_object_mut().expect("claims").remove("scope");
    let jwt = TestKey::rsa("k1").token(&c);
    let out = Command::new(BIN)
        .args(["doctor", &format!("Authorization: Bearer {jwt}")])
        .output()
        .expect("doctor");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{stdout}");
    assert!(stdout.contains("⚠"), "the warning is shown: {stdout}");
    assert!(!stdout.contains(&jwt));
}
