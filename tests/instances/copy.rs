//! `keyconsole db copy` both ways: SQLite to PostgreSQL and back. After each copy a real
//! `serve` on the target answers every list exactly as the source did, and every secret
//! still authenticates (or is still refused, for a disabled key) through it.

use reqwest::Method;
use serde_json::json;

use crate::http::call;
use crate::support::pg::TestDb;
use crate::support::serve::{BIN, Served, kc, org_create};

// `db_copy_shows_progress_on_a_terminal_only` needs no PostgreSQL: SQLite to SQLite.

/// The lists a deployment answers, as text (ids, times and cursors are copied unchanged, so
/// nothing is normalized but the owner key's own `last_used_at`: the snapshot's requests
/// move it, flushed whenever the server's once-a-second batch happens to run).
async fn snapshot(url: &str, token: &str, owner: &str, keys: &[String]) -> Vec<String> {
    let http = reqwest::Client::new();
    let mut out = Vec::new();
    let mut paths: Vec<String> = [
        "/v1/keys?limit=500",
        "/v1/apps",
        "/v1/audit?limit=500",
        "/v1/auth-events?limit=500",
        "/v1/review",
    ]
    .iter()
    .map(|p| (*p).to_owned())
    .collect();
    for k in keys {
        paths.push(format!("/v1/keys/{k}/usage?bucket=day"));
    }
    for path in paths {
        let mut r = call(&http, url, token, Method::GET, &path, None, &[]).await;
        assert_eq!(r.status, 200, "{path}: {}", r.text);
        scrub(&mut r.body, owner);
        out.push(format!("{path}\n{}", r.body));
    }
    out
}

/// The first key page of one key: its cursor, and the page that cursor opens (through
/// `url`, which need not be the server that made the cursor).
async fn cursor_and_next(http: &reqwest::Client, url: &str, token: &str) -> (String, String) {
    let first = call(http, url, token, Method::GET, "/v1/keys?limit=1", None, &[]).await;
    assert_eq!(first.status, 200, "{}", first.text);
    let cursor = first.body["next_cursor"]
        .as_str()
        .expect("more than one key")
        .to_owned();
    (
        cursor,
        next_page(http, url, token, &first.body["next_cursor"]).await,
    )
}

async fn next_page(
    http: &reqwest::Client,
    url: &str,
    token: &str,
    cursor: &serde_json::Value,
) -> String {
    let cursor = cursor.as_str().expect("a cursor");
    let path = format!("/v1/keys?limit=1&cursor={cursor}");
    let next = call(http, url, token, Method::GET, &path, None, &[]).await;
    assert_eq!(
        next.status, 200,
        "a cursor of the source on the copy: {}",
        next.text
    );
    next.body["data"].to_string()
}

/// The owner key's `last_used_at`, wherever the key object appears.
fn scrub(v: &mut serde_json::Value, owner: &str) {
    match v {
        serde_json::Value::Object(m) => {
            if m.get("id").and_then(|i| i.as_str()) == Some(owner) {
                m.insert("last_used_at".into(), serde_json::Value::Null);
            }
            m.values_mut().for_each(|x| scrub(x, owner));
        }
        serde_json::Value::Array(a) => a.iter_mut().for_each(|x| scrub(x, owner)),
        _ => {}
    }
}

/// Each secret's `GET /v1/me` status and code.
async fn secrets_answer(url: &str, secrets: &[String]) -> Vec<(u16, String)> {
    let http = reqwest::Client::new();
    let mut out = Vec::new();
    for s in secrets {
        let r = call(&http, url, s, Method::GET, "/v1/me", None, &[]).await;
        out.push((
            r.status,
            r.body["error"]["code"].as_str().unwrap_or("ok").to_owned(),
        ));
    }
    out
}

fn copy_cmd(from: &str, to: &str) -> std::process::Output {
    kc(&["db", "copy", "--from", from, "--to", to])
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn db_copy_sqlite_to_postgres_and_back_keeps_every_secret() {
    let Some(pg) = TestDb::fresh("db_copy").await else {
        return;
    };
    let dir = tempfile::tempdir().expect("tempdir");
    let sqlite = format!("sqlite://{}", dir.path().join("source.db").display());
    let back = format!("sqlite://{}", dir.path().join("back.db").display());
    // A deployment with a bit of everything.
    let owner = org_create(&sqlite);
    let token = owner.secret.expose().to_owned();
    let owner_id = owner.key.id.clone();
    let mut secrets = vec![token.clone()];
    let mut key_ids = Vec::new();
    {
        let mut s = Served::start(&["--database", &sqlite]);
        let http = reqwest::Client::new();
        let app = call(
            &http,
            &s.url,
            &token,
            Method::POST,
            "/v1/apps",
            Some(json!({"name": "Web"})),
            &[],
        )
        .await;
        let app = app.body["id"].as_str().expect("app").to_owned();
        for (i, body) in [
            json!({"name": "plain", "scopes": ["runs:read"], "owner": "a@b.c"}),
            json!({"name": "app bound", "scopes": ["runs:read"], "app_id": app}),
            json!({"name": "widget", "scopes": ["runs:read"], "allowed_domains": ["*.example.com"]}),
            json!({"name": "to disable", "scopes": ["runs:read"]}),
            json!({"name": "to rotate", "scopes": ["runs:read"], "env": "test"}),
        ]
        .into_iter()
        .enumerate()
        {
            let k = call(&http, &s.url, &token, Method::POST, "/v1/keys", Some(body), &[]).await;
            assert_eq!(k.status, 201, "{}", k.text);
            let id = k.body["key"]["id"].as_str().expect("id").to_owned();
            key_ids.push(id.clone());
            secrets.push(k.body["secret"].as_str().expect("secret").to_owned());
            if i == 3 {
                call(&http, &s.url, &token, Method::PATCH, &format!("/v1/keys/{id}"), Some(json!({"enabled": false})), &[]).await;
            }
            if i == 4 {
                let r = call(&http, &s.url, &token, Method::POST, &format!("/v1/keys/{id}/rotate"), Some(json!({"grace_period_seconds": 3600})), &[]).await;
                secrets.push(r.body["secret"].as_str().expect("secret").to_owned());
            }
        }
        // Usage, auth events, a leak sighting.
        for sec in &secrets {
            call(&http, &s.url, sec, Method::GET, "/v1/me", None, &[]).await;
        }
        call(
            &http,
            &s.url,
            "sk_live_nope",
            Method::GET,
            "/v1/me",
            None,
            &[],
        )
        .await;
        let hash: String = sha2::Digest::finalize(sha2::Digest::chain_update(
            sha2::Sha256::default(),
            secrets[1].as_bytes(),
        ))
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
        call(
            &http,
            &s.url,
            &token,
            Method::POST,
            "/v1/leaks",
            Some(json!({"hashes": [hash], "source": "gist", "action": "report"})),
            &[],
        )
        .await;
        assert_eq!(s.term(), 0);
    }
    let served = Served::start(&["--database", &sqlite]);
    let before = snapshot(&served.url, &token, &owner_id, &key_ids).await;
    let http = reqwest::Client::new();
    let (cursor, after_cursor) = cursor_and_next(&http, &served.url, &token).await;
    let answers = secrets_answer(&served.url, &secrets).await;
    drop(served);
    assert!(
        answers
            .iter()
            .any(|(st, c)| *st == 401 && c == "key_disabled"),
        "{answers:?}"
    );

    // SQLite -> PostgreSQL.
    let out = copy_cmd(&sqlite, &pg.url);
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(
        stdout.contains("keys") && stdout.contains("audit") && stdout.contains("usage"),
        "{stdout}"
    );
    assert!(
        stderr.is_empty(),
        "no progress when stderr is not a terminal: {stderr}"
    );
    for sec in &secrets {
        assert!(!stdout.contains(sec.as_str()) && !stderr.contains(sec.as_str()));
    }
    let on_pg = Served::start(&["--database", &pg.url]);
    // Snapshot first: `/v1/me` calls would add usage the source did not have.
    assert_eq!(
        snapshot(&on_pg.url, &token, &owner_id, &key_ids).await,
        before,
        "PostgreSQL copy lists the same"
    );
    assert_eq!(
        secrets_answer(&on_pg.url, &secrets).await,
        answers,
        "every secret answers the same"
    );
    // A cursor a client got from the source opens the same page on the copy.
    assert_eq!(
        next_page(&http, &on_pg.url, &token, &json!(cursor)).await,
        after_cursor
    );
    drop(on_pg);

    // A non-empty target is refused, and left as it was.
    let on_pg = Served::start(&["--database", &pg.url]);
    let pg_before = snapshot(&on_pg.url, &token, &owner_id, &key_ids).await;
    drop(on_pg);
    let again = copy_cmd(&sqlite, &pg.url);
    assert_eq!(again.status.code(), Some(2));
    let err = String::from_utf8_lossy(&again.stderr);
    assert!(
        err.contains("not empty") && err.contains("nothing was written"),
        "{err}"
    );

    // PostgreSQL -> SQLite (a new file).
    let on_pg = Served::start(&["--database", &pg.url]);
    let pg_now = snapshot(&on_pg.url, &token, &owner_id, &key_ids).await;
    drop(on_pg);
    assert_eq!(pg_now, pg_before, "the refused copy wrote nothing");
    let out = copy_cmd(&pg.url, &back);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let on_back = Served::start(&["--database", &back]);
    assert_eq!(
        snapshot(&on_back.url, &token, &owner_id, &key_ids).await,
        pg_now,
        "the copy back lists the same"
    );
    assert_eq!(secrets_answer(&on_back.url, &secrets).await, answers);
    assert_eq!(
        next_page(&http, &on_back.url, &token, &json!(cursor)).await,
        after_cursor,
        "and on the copy back"
    );
}

#[test]
fn db_copy_shows_progress_on_a_terminal_only() {
    let dir = tempfile::tempdir().expect("tempdir");
    let from = format!("sqlite://{}", dir.path().join("a.db").display());
    let to = format!("sqlite://{}", dir.path().join("b.db").display());
    org_create(&from);
    // `script` runs the copy on a pseudo-terminal, as an operator's shell would.
    let cmd = format!("{BIN} db copy --from {from} --to {to}");
    let out = std::process::Command::new("script")
        .args(["-qec", &cmd, "/dev/null"])
        .env("NO_COLOR", "1")
        .output()
        .expect("script");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{text}");
    assert!(text.contains("copying keys: 1 of 1"), "{text}");
}
