//! One request script, answered by `serve` on SQLite and on PostgreSQL: every status,
//! header and body must be the same, byte for byte, once what is random or timed (ids,
//! secrets, hints, hashes, request ids, sealed cursors, timestamps, `date`) is replaced by
//! placeholders
//! numbered in order of first appearance.

use std::collections::HashMap;

use reqwest::Method;
use serde_json::{Value, json};
use sha2::Digest;

use crate::http::{Resp, call};
use crate::support::pg::TestDb;
use crate::support::serve::{Served, org_create};

/// Replaces random and timed values by numbered placeholders.
struct Normalizer {
    seen: HashMap<String, usize>,
    patterns: Vec<(regex::Regex, &'static str)>,
}

impl Normalizer {
    fn new() -> Normalizer {
        let p = |r: &str, name| (regex::Regex::new(r).expect("regex"), name);
        Normalizer {
            seen: HashMap::new(),
            patterns: vec![
                p(r"\b(pk|sk)_(live|test)_[0-9A-Za-z]{24,38}\b", "key"),
                p(r"\b(org|app|aud|req)_[0-9A-Za-z]{16,20}\b", "id"),
                p(r"\b[0-9a-f]{64}\b", "sha"),
                // Sealed cursors: each database seals with its own secret.
                p(r"\bcur_[0-9A-Za-z_-]+", "cursor"),
                p(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?Z", "time"),
                // The tester's trace gives times to the minute ("works until 2026-12-03
                // 22:11 UTC"); a run on each store can fall either side of a minute.
                p(r"\d{4}-\d{2}-\d{2} \d{2}:\d{2}(:\d{2})? UTC", "time"),
                p(r"…[0-9A-Za-z]{4}", "hint"),
                // A secret's last characters asked for (each database's secrets differ).
                p(r"hint=[0-9A-Za-z]{4}\b", "hint query"),
            ],
        }
    }

    fn apply(&mut self, text: &str) -> String {
        let mut out = text.to_owned();
        for (re, name) in &self.patterns {
            let mut result = String::new();
            let mut last = 0;
            for m in re.find_iter(&out) {
                result.push_str(&out[last..m.start()]);
                if *name == "time" {
                    result.push_str("<time>");
                } else {
                    let n = self.seen.len();
                    let n = *self.seen.entry(m.as_str().to_owned()).or_insert(n);
                    result.push_str(&format!("<{name}{n}>"));
                }
                last = m.end();
            }
            result.push_str(&out[last..]);
            out = result;
        }
        out
    }
}

/// One backend's run of the script.
struct Run {
    http: reqwest::Client,
    url: String,
    owner: String,
    owner_id: Option<String>,
    norm: Normalizer,
    transcript: Vec<String>,
}

impl Run {
    async fn req(
        &mut self,
        token: &str,
        method: Method,
        path: &str,
        body: Option<Value>,
        extra: &[(&str, &str)],
    ) -> Resp {
        let r = call(
            &self.http,
            &self.url,
            token,
            method.clone(),
            path,
            body.clone(),
            extra,
        )
        .await;
        let headers: Vec<String> = r
            .headers
            .iter()
            .filter(|(k, _)| !matches!(k.as_str(), "date" | "content-length"))
            .map(|(k, v)| format!("{k}: {v}"))
            .collect();
        let entry = format!(
            "{method} {path} {}\n=> {}\n{}\n{}",
            body.map(|b| b.to_string()).unwrap_or_default(),
            r.status,
            headers.join("\n"),
            r.text
        );
        // The owner key makes every request, so its `last_used_at` depends on when the
        // server's once-a-second usage flush happened to run: not compared.
        let entry = match &self.owner_id {
            Some(id) => {
                let re = regex::Regex::new(&format!(
                    r#"("id":"{id}"[^{{}}]*?"last_used_at":)(null|"[^"]*")"#
                ))
                .expect("regex");
                re.replace_all(&entry, "${1}\"<owner-last-used>\"")
                    .into_owned()
            }
            None => entry,
        };
        // How long ago the change feed last confirmed, and how far it has applied, depend
        // on when its poll ran.
        let feed =
            regex::Regex::new(r#""(change_feed_lag_ms|applied_change)":\d+"#).expect("regex");
        let entry = feed.replace_all(&entry, "\"$1\":\"<feed>\"").into_owned();
        let entry = self.norm.apply(&entry);
        self.transcript.push(entry);
        r
    }

    async fn owner(&mut self, method: Method, path: &str, body: Option<Value>) -> Resp {
        let t = self.owner.clone();
        self.req(&t, method, path, body, &[]).await
    }
}

fn s(v: &Value) -> String {
    v.as_str().unwrap_or_default().to_owned()
}

/// Part one: everything that writes, and requests that count in usage and auth events.
async fn part_one(r: &mut Run) -> HashMap<&'static str, String> {
    let mut ids = HashMap::new();
    r.owner(Method::GET, "/v1/me", None).await;
    r.owner(Method::GET, "/v1/scopes", None).await;
    let app = r
        .owner(Method::POST, "/v1/apps", Some(json!({"name": "Web"})))
        .await;
    let app = s(&app.body["id"]);
    r.owner(Method::GET, "/v1/apps", None).await;
    let k1 = r.owner(Method::POST, "/v1/keys", Some(json!({"name": "Billing Worker", "scopes": ["runs:read", "runs:write", "keys:read"], "owner": "pay@acme.com", "description": "charges"}))).await;
    let k2 = r.owner(Method::POST, "/v1/keys", Some(json!({"name": "widget", "scopes": ["runs:read"], "allowed_domains": ["*.example.com"], "app_id": app}))).await;
    let k3 = r
        .owner(
            Method::POST,
            "/v1/keys",
            Some(json!({"name": "Test key", "preset": "read-only", "env": "test"})),
        )
        .await;
    let k4 = r
        .owner(
            Method::POST,
            "/v1/keys",
            Some(json!({"name": "Ärger", "scopes": ["webhooks:*"]})),
        )
        .await;
    r.owner(Method::POST, "/v1/keys", Some(json!({"name": "x"})))
        .await;
    r.owner(
        Method::POST,
        "/v1/keys",
        Some(json!({"name": "x", "scopes": ["runs:read"], "nope": 1})),
    )
    .await;
    let (k1id, k2id, k3id, k4id) = (
        s(&k1.body["key"]["id"]),
        s(&k2.body["key"]["id"]),
        s(&k3.body["key"]["id"]),
        s(&k4.body["key"]["id"]),
    );
    let first = r.owner(Method::GET, "/v1/keys?limit=2", None).await;
    let cursor = s(&first.body["next_cursor"]);
    r.owner(
        Method::GET,
        &format!("/v1/keys?limit=2&cursor={cursor}"),
        None,
    )
    .await;
    for q in [
        "q=BILL",
        "q=%C3%A4rg",
        "q=%C3%84rg",
        "q=worker",
        "status=active",
        "status=disabled",
        "env=test",
        &format!("app_id={app}"),
        "owner=PAY@acme.com",
        "scope=runs:write",
        "scope=webhooks:read",
        "sort=name",
        "limit=0",
        "limit=501",
        "cursor=garbage",
        "status=nope",
        &format!("q={k2id}"),
        // A hint no secret can be relied on not to have would be random: ask for the
        // widget's own (`hint=zz` matched a key now and then, on one backend only).
        &format!(
            "hint={}",
            s(&k2.body["key"]["secret_hint"]).trim_start_matches('…')
        ),
        "created_before=2000-01-01T00:00:00Z",
    ] {
        r.owner(Method::GET, &format!("/v1/keys?{q}"), None).await;
    }
    let p1 = format!("/v1/keys/{k1id}");
    let t = r.owner.clone();
    r.req(
        &t,
        Method::PATCH,
        &p1,
        Some(json!({"name": "Billing worker v2", "expires_at": "2099-01-01T00:00:00Z"})),
        &[("if-match", "\"1\"")],
    )
    .await;
    r.req(
        &t,
        Method::PATCH,
        &p1,
        Some(json!({"name": "lost"})),
        &[("if-match", "\"1\"")],
    )
    .await;
    r.req(
        &t,
        Method::PATCH,
        &p1,
        Some(json!({"name": "lost"})),
        &[("if-match", "one")],
    )
    .await;
    r.owner(
        Method::PATCH,
        &format!("/v1/keys/{k4id}"),
        Some(json!({"enabled": false})),
    )
    .await;
    let rot = r
        .owner(
            Method::POST,
            &format!("{p1}/rotate"),
            Some(json!({"grace_period_seconds": 3600})),
        )
        .await;
    r.owner(Method::POST, &format!("{p1}/rotate"), Some(json!({})))
        .await;
    let k1new = s(&rot.body["key"]["id"]);
    r.owner(Method::DELETE, &format!("/v1/keys/{k3id}"), None)
        .await;
    r.owner(Method::GET, &format!("/v1/keys/{k3id}"), None)
        .await;
    r.owner(Method::DELETE, &format!("/v1/keys/{k3id}"), None)
        .await;
    r.owner(Method::GET, &p1, None).await;
    // Credentials of every kind, good and bad (usage and auth events).
    let k1secret = s(&rot.body["secret"]);
    let k2secret = s(&k2.body["secret"]);
    let k4secret = s(&k4.body["secret"]);
    let old_k1 = s(&k1.body["secret"]);
    r.req(&k1secret, Method::GET, "/v1/me", None, &[]).await;
    r.req(&old_k1, Method::GET, "/v1/keys?limit=1", None, &[])
        .await;
    r.req(&k2secret, Method::GET, "/v1/keys", None, &[]).await;
    // Distinct totals per key, so `top_keys` has no ties (ties fall back to the random ids).
    for _ in 0..3 {
        r.req(&k4secret, Method::GET, "/v1/me", None, &[]).await;
    }
    r.req("sk_live_short", Method::GET, "/v1/me", None, &[])
        .await;
    r.req("", Method::GET, "/v1/me", None, &[]).await;
    r.req(
        &k2id,
        Method::GET,
        "/v1/me",
        None,
        &[("origin", "https://a.example.com")],
    )
    .await;
    r.req(
        &k2id,
        Method::GET,
        "/v1/me",
        None,
        &[("origin", "https://evil.test")],
    )
    .await;
    r.req(
        &k2secret,
        Method::GET,
        "/v1/me",
        None,
        &[("x-app-id", "app_0000000000000000")],
    )
    .await;
    r.owner(
        Method::POST,
        "/v1/verify",
        Some(json!({"credential": old_k1, "required_scopes": ["runs:read"]})),
    )
    .await;
    r.owner(
        Method::POST,
        "/v1/verify",
        Some(json!({"credential": k4secret})),
    )
    .await;
    let hash = hex(&sha2::Sha256::digest(k2secret.as_bytes()));
    r.owner(Method::POST, "/v1/leaks", Some(json!({"hashes": [hash, "0".repeat(64)], "source": "https://github.com/acme/x", "action": "report"}))).await;
    let me = r.owner(Method::GET, "/v1/me", None).await;
    let owner_id = s(&me.body["key"]["id"]);
    r.owner(
        Method::PATCH,
        &format!("/v1/keys/{owner_id}"),
        Some(json!({"enabled": false})),
    )
    .await;
    r.owner(Method::DELETE, &format!("/v1/keys/{owner_id}"), None)
        .await;
    r.owner(Method::GET, "/v1/nope", None).await;
    ids.insert("k1", k1id);
    ids.insert("k1new", k1new);
    ids.insert("k2", k2id);
    ids
}

/// Part two, after a clean restart (usage flushed): the reports.
async fn part_two(r: &mut Run, ids: &HashMap<&'static str, String>) {
    r.owner(Method::GET, "/v1/usage?bucket=day", None).await;
    r.owner(
        Method::GET,
        &format!("/v1/keys/{}/usage?bucket=day", ids["k1new"]),
        None,
    )
    .await;
    r.owner(
        Method::GET,
        &format!(
            "/v1/keys/{}/usage?bucket=hour&from=2000-01-01T00:00:00Z",
            ids["k2"]
        ),
        None,
    )
    .await;
    let ev = r.owner(Method::GET, "/v1/auth-events?limit=3", None).await;
    let c = s(&ev.body["next_cursor"]);
    r.owner(
        Method::GET,
        &format!("/v1/auth-events?limit=3&cursor={c}"),
        None,
    )
    .await;
    r.owner(Method::GET, "/v1/auth-events?code=key_disabled", None)
        .await;
    let au = r.owner(Method::GET, "/v1/audit?limit=4", None).await;
    let c = s(&au.body["next_cursor"]);
    r.owner(Method::GET, &format!("/v1/audit?limit=4&cursor={c}"), None)
        .await;
    r.owner(
        Method::GET,
        &format!("/v1/audit?key_id={}", ids["k1"]),
        None,
    )
    .await;
    r.owner(
        Method::GET,
        &format!("/v1/keys/{}/scope-usage", ids["k1"]),
        None,
    )
    .await;
    r.owner(Method::GET, "/v1/review", None).await;
    r.owner(Method::GET, "/v1/keys?sort=-created", None).await;
    r.owner(Method::GET, "/v1/keys?sort=-last_used&limit=3", None)
        .await;
    r.owner(Method::GET, "/v1/keys?status=expiring", None).await;
    r.req("", Method::GET, "/readyz", None, &[]).await;
    r.req("", Method::GET, "/healthz", None, &[]).await;
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

async fn run_on(url: &str) -> Vec<String> {
    let owner = org_create(url);
    let mut served = Served::start(&["--database", url]);
    let mut run = Run {
        http: reqwest::Client::new(),
        url: served.url.clone(),
        owner: owner.secret.expose().to_owned(),
        owner_id: Some(owner.key.id.clone()),
        norm: Normalizer::new(),
        transcript: Vec::new(),
    };
    let ids = part_one(&mut run).await;
    assert_eq!(served.term(), 0, "clean shutdown flushes usage");
    let again = Served::start(&["--database", url]);
    run.url = again.url.clone();
    part_two(&mut run, &ids).await;
    run.transcript
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_request_script_answers_the_same_on_sqlite_and_postgres() {
    let Some(db) = TestDb::fresh("parity").await else {
        return;
    };
    let dir = tempfile::tempdir().expect("tempdir");
    let sqlite = format!("sqlite://{}", dir.path().join("keys.db").display());
    let on_sqlite = run_on(&sqlite).await;
    let on_pg = run_on(&db.url).await;
    assert_eq!(on_sqlite.len(), on_pg.len());
    assert!(
        on_sqlite.len() > 60,
        "the script ran: {} requests",
        on_sqlite.len()
    );
    for (a, b) in on_sqlite.iter().zip(&on_pg) {
        assert_eq!(
            a, b,
            "SQLite (left) and PostgreSQL (right) answered differently"
        );
    }
}
