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
        log.contains("session settings loaded") && log.contains("k1"),
        "{log}"
    );
}
