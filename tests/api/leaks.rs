//! Leaked keys (API.md §9): `POST /v1/leaks` and GitHub secret scanning deliveries, signed
//! in the test with a P-256 key generated per run and served by file and by a small HTTP
//! server on 127.0.0.1.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use base64::Engine as _;
use keyconsole::api::{
    ActionTaken, AuditQuery, KeyObject, LeakAction, LeakReport, PageQuery, system_actor,
};
use keyconsole::domain::key::{Secret, SecretHash};
use keyconsole::domain::scan::hash_hex;
use keyconsole::server::ServerConfig;
use keyconsole::server::clock::{Clock, ManualClock};
use keyconsole::server::github;
use keyconsole::storage::Retention;
use p256::ecdsa::signature::Signer as _;
use p256::pkcs8::EncodePublicKey as _;
use reqwest::Method;
use serde_json::{Value, json};

use crate::common::{TestServer, raw, test_config, unknown_secret};

fn hash_of(s: &Secret) -> String {
    hash_hex(&SecretHash::of(s.expose()))
}

fn report(hashes: &[String], source: &str, action: LeakAction) -> LeakReport {
    LeakReport {
        hashes: hashes.to_vec(),
        source: source.to_owned(),
        action,
    }
}

async fn audit_of(s: &TestServer, key_id: &str) -> Vec<(String, Value, Value)> {
    s.client
        .audit(&AuditQuery {
            key_id: Some(key_id.to_owned()),
            ..Default::default()
        })
        .await
        .expect("audit")
        .data
        .into_iter()
        .map(|e| {
            (
                e.action,
                serde_json::to_value(&e.actor).expect("actor"),
                e.changes,
            )
        })
        .collect()
}

#[tokio::test]
async fn reported_hashes_match_only_the_callers_org_and_are_audited_once() {
    let s = TestServer::start().await;
    let mine = s.create("Leaky", &["runs:read"]).await;
    let other = s.new_org("Other").await;
    let unknown = unknown_secret();
    let hashes = vec![
        hash_of(&mine.secret),
        hash_of(&other.secret),
        hash_of(&unknown),
    ];
    let out = s
        .client
        .report_leaks(&report(&hashes, "ci log #12", LeakAction::Report))
        .await
        .expect("report");
    assert_eq!(out.data.len(), 3);
    let first = &out.data[0];
    assert_eq!(first.hash, hashes[0]);
    let key = first.key.as_ref().expect("my key matches");
    assert_eq!(key.id, mine.key.id);
    assert!(key.enabled, "report leaves the key working");
    assert!(key.leaked_at.is_some());
    assert_eq!(first.action_taken, ActionTaken::None);
    // Another org's key answers exactly like an unknown hash.
    let as_json = |i: usize| {
        let mut v = serde_json::to_value(&out.data[i]).expect("json");
        v["hash"] = json!("");
        v
    };
    assert_eq!(as_json(1), as_json(2));
    assert_eq!(
        as_json(1),
        json!({"hash": "", "key": null, "action_taken": "none"})
    );
    // The other org's key was not touched.
    let theirs = s
        .client_with(&other.secret)
        .get_key(&other.key.id)
        .await
        .expect("their key");
    assert_eq!(theirs.leaked_at, None);
    assert!(theirs.enabled);

    // Audited with the source; a repeat from the same place changes nothing, not even
    // leaked_at; a disable from it disables and is audited as key.disabled.
    let leaked_at = key.leaked_at;
    s.client
        .report_leaks(&report(&hashes[..1], "ci log #12", LeakAction::Report))
        .await
        .expect("repeat");
    let out = s
        .client
        .report_leaks(&report(&hashes[..1], " ci log #12 ", LeakAction::Disable))
        .await
        .expect("disable");
    let key = out.data[0].key.as_ref().expect("key");
    assert_eq!(out.data[0].action_taken, ActionTaken::Disabled);
    assert!(!key.enabled);
    assert_eq!(key.leaked_at, leaked_at, "set once");
    let out = s
        .client
        .report_leaks(&report(&hashes[..1], "elsewhere", LeakAction::Disable))
        .await
        .expect("again");
    assert_eq!(out.data[0].action_taken, ActionTaken::AlreadyDisabled);
    let entries = audit_of(&s, &mine.key.id).await;
    let actions: Vec<&str> = entries.iter().map(|(a, _, _)| a.as_str()).collect();
    assert_eq!(
        actions,
        ["key.leaked", "key.disabled", "key.leaked", "key.created"]
    );
    assert_eq!(entries[0].2["source"], "elsewhere");
    assert_eq!(entries[2].2["source"], "ci log #12");
    assert_eq!(
        entries[0].1,
        json!({"type": "key", "id": s.owner.key.id}),
        "the reporter is the actor"
    );
    // Each place is a sighting the console can show.
    let seen = s
        .client
        .key_leaks(&mine.key.id, &PageQuery::default())
        .await
        .expect("sightings");
    let places: Vec<&str> = seen.data.iter().map(|x| x.source.as_str()).collect();
    assert_eq!(places, ["elsewhere", "ci log #12"]);
    // The disabled key stops working.
    let e = s
        .client_with(&mine.secret)
        .me()
        .await
        .expect_err("disabled");
    assert_eq!(e.status(), Some(401));
}

#[tokio::test]
async fn bad_reports_are_refused_and_change_nothing() {
    let s = TestServer::start().await;
    let k = s.create("Leaky", &["runs:read"]).await;
    let good = hash_of(&k.secret);
    let owner = format!("Bearer {}", s.owner.secret.expose());
    let auth = [("authorization", owner.as_str())];
    for body in [
        json!({"hashes": [], "source": "x", "action": "report"}),
        json!({"hashes": [good, "nothex"], "source": "x", "action": "disable"}),
        json!({"hashes": [good], "source": "  ", "action": "disable"}),
        json!({"hashes": [good], "source": "a".repeat(513), "action": "disable"}),
        json!({"hashes": [good], "source": "x", "action": "revoke"}),
        json!({"hashes": vec![good.clone(); 1001], "source": "x", "action": "disable"}),
    ] {
        let (st, _, err) = raw(
            &s.url,
            Method::POST,
            "/v1/leaks",
            &auth,
            Some(&body.to_string()),
        )
        .await;
        assert_eq!(st, 400, "{body}: {err}");
    }
    let now = s.client.get_key(&k.key.id).await.expect("key");
    assert!(now.enabled && now.leaked_at.is_none());
    // keys:write is needed.
    let reader = s.create("Reader", &["keys:read"]).await;
    let e = s
        .client_with(&reader.secret)
        .report_leaks(&report(&[good], "x", LeakAction::Disable))
        .await
        .expect_err("needs keys:write");
    assert_eq!(e.status(), Some(403));
}

/// A GitHub-like signer: a P-256 key made for this run.
struct GithubSigner {
    key: p256::ecdsa::SigningKey,
    id: String,
}

impl GithubSigner {
    fn new(id: &str) -> GithubSigner {
        let key = loop {
            let mut b = [0u8; 32];
            getrandom::fill(&mut b).expect("os random");
            if let Ok(k) = p256::ecdsa::SigningKey::from_slice(&b) {
                break k;
            }
        };
        GithubSigner {
            key,
            id: id.to_owned(),
        }
    }

    fn published(signers: &[&GithubSigner]) -> String {
        let keys: Vec<Value> = signers
            .iter()
            .map(|s| {
                json!({
                    "key_identifier": s.id,
                    "key": s.key.verifying_key()
                        .to_public_key_pem(p256::pkcs8::LineEnding::LF)
                        .expect("pem"),
                    "is_current": true,
                })
            })
            .collect();
        json!({ "public_keys": keys }).to_string()
    }

    fn sign(&self, body: &str) -> String {
        let sig: p256::ecdsa::Signature = self.key.sign(body.as_bytes());
        base64::engine::general_purpose::STANDARD.encode(sig.to_der().as_bytes())
    }
}

/// A server with GitHub scanning on, and the clock its key cache runs on.
async fn github_server(keys_arg: &str, policy: LeakAction) -> (TestServer, Arc<ManualClock>) {
    let s = TestServer::start().await;
    let clock = Arc::new(ManualClock::new(chrono::Utc::now()));
    let keys = github::load(keys_arg, clock.clone(), clock.now())
        .await
        .expect("load keys");
    let config = ServerConfig {
        github_scanning: Some(keys),
        leak_policy: policy,
        ..test_config()
    };
    let reuse = s.stop().await;
    let s = TestServer::start_with(config, Some(reuse), Retention::default()).await;
    (s, clock)
}

fn delivery(tokens: &[(&str, &str)]) -> String {
    let items: Vec<Value> = tokens
        .iter()
        .map(|(t, url)| json!({"token": t, "type": "keyconsole_secret", "url": url, "source": "content"}))
        .collect();
    Value::Array(items).to_string()
}

async fn deliver(
    s: &TestServer,
    signer: &GithubSigner,
    id: &str,
    body: &str,
    signature: Option<String>,
) -> (u16, Value) {
    let sig = signature.unwrap_or_else(|| signer.sign(body));
    let headers = [
        ("github-public-key-identifier", id),
        ("github-public-key-signature", sig.as_str()),
    ];
    let (st, _, v) = raw(
        &s.url,
        Method::POST,
        "/v1/secret-scanning/github",
        &headers,
        Some(body),
    )
    .await;
    (st, v)
}

async fn key_now(s: &TestServer, id: &str) -> KeyObject {
    s.client.get_key(id).await.expect("key")
}

#[tokio::test]
async fn github_deliveries_need_a_valid_signature_and_disable_our_keys() {
    let dir = tempfile::tempdir().expect("tempdir");
    let signer = GithubSigner::new("gh-key-1");
    let file = dir.path().join("github-keys.json");
    std::fs::write(&file, GithubSigner::published(&[&signer])).expect("write keys");
    let (s, _) = github_server(file.to_str().expect("path"), LeakAction::Disable).await;
    let mine = s.create("Pushed by mistake", &["runs:read"]).await;
    let other = s.new_org("Other").await;
    let stranger = unknown_secret();
    let body = delivery(&[
        (
            mine.secret.expose(),
            "https://github.com/acme/app/blob/main/.env",
        ),
        (
            other.secret.expose(),
            "https://github.com/other/x/blob/main/a.txt",
        ),
        (stranger.expose(), "https://gist.github.com/1"),
    ]);

    // Unsigned, forged, signed by an unknown key, or a signature of another body: 401, and
    // nothing changes.
    let forger = GithubSigner::new("gh-key-1");
    let cases = [
        ("gh-key-1", Some(String::new())),
        ("gh-key-1", Some("bm90IGEgc2lnbmF0dXJl".to_owned())),
        ("gh-key-1", Some(forger.sign(&body))),
        ("gh-key-9", None),
        ("gh-key-1", Some(signer.sign("[]"))),
    ];
    for (id, sig) in cases {
        let (st, err) = deliver(&s, &signer, id, &body, sig).await;
        assert_eq!(st, 401, "{err}");
        assert!(!err.to_string().contains(mine.secret.expose()));
    }
    let (st, _, err) = raw(
        &s.url,
        Method::POST,
        "/v1/secret-scanning/github",
        &[],
        Some(&body),
    )
    .await;
    assert_eq!(
        (st, err["error"]["code"].as_str()),
        (401, Some("missing_credentials"))
    );
    assert!(key_now(&s, &mine.key.id).await.leaked_at.is_none());
    assert_eq!(
        audit_of(&s, &mine.key.id).await.len(),
        1,
        "only key.created"
    );

    // Signed: labels by hash, never a token; our keys in any org are disabled.
    let (st, out) = deliver(&s, &signer, "gh-key-1", &body, None).await;
    assert_eq!(st, 200, "{out}");
    let text = out.to_string();
    for t in [&mine.secret, &other.secret, &stranger] {
        assert!(!text.contains(t.expose()), "a token in the answer");
    }
    assert_eq!(
        out,
        json!([
            {"token_hash": hash_of(&mine.secret), "token_type": "keyconsole_secret", "label": "true_positive"},
            {"token_hash": hash_of(&other.secret), "token_type": "keyconsole_secret", "label": "true_positive"},
            {"token_hash": hash_of(&stranger), "token_type": "keyconsole_secret", "label": "false_positive"},
        ])
    );
    let k = key_now(&s, &mine.key.id).await;
    assert!(!k.enabled && k.leaked_at.is_some());
    let theirs = s.client_with(&s.owner.secret).get_key(&other.key.id).await;
    assert_eq!(theirs.expect_err("another org").status(), Some(404));
    let entries = audit_of(&s, &mine.key.id).await;
    let gh = json!({"type": "system", "id": system_actor::GITHUB_SCANNING});
    assert_eq!(entries[0].0, "key.disabled");
    assert_eq!(entries[1].0, "key.leaked");
    assert!(entries[..2].iter().all(|(_, actor, _)| *actor == gh));
    assert_eq!(
        entries[1].2["source"],
        "https://github.com/acme/app/blob/main/.env"
    );
    // The other org's owner key was disabled too: its org sees the same audit.
    let e = s
        .client_with(&other.secret)
        .me()
        .await
        .expect_err("disabled");
    assert_eq!(e.status(), Some(401));

    // A repeat changes nothing more.
    let version = key_now(&s, &mine.key.id).await.version;
    let (st, again) = deliver(&s, &signer, "gh-key-1", &body, None).await;
    assert_eq!((st, &again), (200, &out));
    assert_eq!(audit_of(&s, &mine.key.id).await.len(), entries.len());
    assert_eq!(key_now(&s, &mine.key.id).await.version, version);

    // Strict query, like every route; a bad body is 400 without quoting it.
    let q = "/v1/secret-scanning/github?foo=bar";
    let sig = signer.sign(&body);
    let headers = [
        ("github-public-key-identifier", "gh-key-1"),
        ("github-public-key-signature", sig.as_str()),
    ];
    let (st, _, _) = raw(&s.url, Method::POST, q, &headers, Some(&body)).await;
    assert_eq!(st, 400);
    let bad = format!("[{{\"token\": \"{}\", \"type\": 7}}]", mine.secret.expose());
    let (st, err) = deliver(&s, &signer, "gh-key-1", &bad, None).await;
    assert_eq!(st, 400);
    assert!(!err.to_string().contains(mine.secret.expose()), "{err}");
}

#[tokio::test]
async fn report_policy_keeps_keys_working_and_urls_are_refreshed_on_an_unknown_key() {
    // The keys come from a small HTTP server; GitHub rotates to a new key later.
    let old = GithubSigner::new("old");
    let new = GithubSigner::new("new");
    let doc = Arc::new(std::sync::Mutex::new(GithubSigner::published(&[&old])));
    let fetches = Arc::new(AtomicUsize::new(0));
    let app = {
        let (doc, fetches) = (doc.clone(), fetches.clone());
        axum::Router::new().route(
            "/meta/public_keys/secret_scanning",
            axum::routing::get(move || {
                let body = doc.lock().expect("doc").clone();
                fetches.fetch_add(1, Ordering::SeqCst);
                async move { ([("content-type", "application/json")], body) }
            }),
        )
    };
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let url = format!(
        "http://{}/meta/public_keys/secret_scanning",
        listener.local_addr().expect("addr")
    );
    let keys_server = tokio::spawn(async move { axum::serve(listener, app).await });
    let (s, clock) = github_server(&url, LeakAction::Report).await;
    assert_eq!(fetches.load(Ordering::SeqCst), 1);
    let k = s.create("Leaky", &["runs:read"]).await;
    let body = delivery(&[(k.secret.expose(), "https://github.com/a/b")]);

    let (st, _) = deliver(&s, &old, "old", &body, None).await;
    assert_eq!(st, 200);
    let now = key_now(&s, &k.key.id).await;
    assert!(now.enabled, "report policy");
    assert!(now.leaked_at.is_some());
    let actions: Vec<String> = audit_of(&s, &k.key.id)
        .await
        .into_iter()
        .map(|(a, _, _)| a)
        .collect();
    assert_eq!(actions, ["key.leaked", "key.created"]);

    // GitHub publishes a new key: a delivery signed with it makes the cache refetch (the
    // cooldown counts from the last fetch, so move the clock past it).
    *doc.lock().expect("doc") = GithubSigner::published(&[&old, &new]);
    clock.advance(chrono::Duration::seconds(31));
    let (st, _) = deliver(&s, &new, "new", &body, None).await;
    assert_eq!(st, 200);
    assert_eq!(fetches.load(Ordering::SeqCst), 2);
    // Within the cooldown an unknown identifier does not fetch again.
    let (st, _) = deliver(&s, &new, "newer", &body, None).await;
    assert_eq!(st, 401);
    assert_eq!(fetches.load(Ordering::SeqCst), 2);
    keys_server.abort();
}

#[tokio::test]
async fn the_github_receiver_is_off_without_its_flag() {
    let s = TestServer::start().await;
    let (st, _, err) = raw(
        &s.url,
        Method::POST,
        "/v1/secret-scanning/github",
        &[],
        Some("[]"),
    )
    .await;
    assert_eq!(
        (st, err["error"]["code"].as_str()),
        (404, Some("not_found"))
    );
}
