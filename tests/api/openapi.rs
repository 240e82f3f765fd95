//! The served OpenAPI document: valid OpenAPI 3.1 (against the official schema, vendored as
//! `openapi-3.1-schema.json`), complete (every status an operation can answer is
//! documented, found by provoking each one for real), and true (the documented query limits
//! and enums are the ones the server enforces, and every route rejects unknown parameters).

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use keyconsole::storage::sqlite::SqliteStore;
use keyconsole::storage::{IfMissing, KeyStore, Retention};
use reqwest::Method;
use serde_json::{Value, json};

use crate::common::{TestServer, code, raw, test_config};

/// The official JSON Schema of OpenAPI 3.1 documents (spec.openapis.org, 2022-10-07).
const OPENAPI_31_SCHEMA: &str = include_str!("openapi-3.1-schema.json");

/// A well-formed public key that no organization has.
const UNKNOWN_KEY: &str = "pk_live_000000000000000000000000";

async fn document(url: &str) -> Value {
    let (status, _, doc) = raw(url, Method::GET, "/openapi.json", &[], None).await;
    assert_eq!(status, 200);
    doc
}

/// A server, its document and its owner's `Authorization` value.
async fn started() -> (TestServer, Value, String) {
    let s = TestServer::start().await;
    let doc = document(&s.url).await;
    let owner = format!("Bearer {}", s.owner.secret.expose());
    (s, doc, owner)
}

/// Every operation of the document: (method in upper case, path template) → operation.
fn operations(doc: &Value) -> BTreeMap<(String, String), Value> {
    let mut out = BTreeMap::new();
    for (path, item) in doc["paths"].as_object().expect("paths") {
        for (method, op) in item.as_object().expect("path item") {
            out.insert((method.to_uppercase(), path.clone()), op.clone());
        }
    }
    out
}

fn documented_statuses(op: &Value) -> BTreeSet<u16> {
    op["responses"]
        .as_object()
        .expect("responses")
        .keys()
        .map(|s| s.parse().expect("numeric status"))
        .collect()
}

/// Every Schema Object of the document, with where it is.
fn schemas(doc: &Value) -> Vec<(String, Value)> {
    let mut out = Vec::new();
    for (name, s) in doc["components"]["schemas"].as_object().expect("schemas") {
        out.push((format!("components.schemas.{name}"), s.clone()));
    }
    for ((method, path), op) in operations(doc) {
        let at = format!("{method} {path}");
        for p in op["parameters"].as_array().into_iter().flatten() {
            out.push((format!("{at} parameter {}", p["name"]), p["schema"].clone()));
        }
        for (ct, c) in op["requestBody"]["content"]
            .as_object()
            .into_iter()
            .flatten()
        {
            out.push((format!("{at} request body {ct}"), c["schema"].clone()));
        }
        for (status, r) in op["responses"].as_object().expect("responses") {
            for (ct, c) in r["content"].as_object().into_iter().flatten() {
                out.push((format!("{at} {status} {ct}"), c["schema"].clone()));
            }
            for (h, header) in r["headers"].as_object().into_iter().flatten() {
                out.push((
                    format!("{at} {status} header {h}"),
                    header["schema"].clone(),
                ));
            }
        }
    }
    out
}

fn refs(v: &Value, out: &mut Vec<String>) {
    match v {
        Value::Object(o) => {
            if let Some(Value::String(r)) = o.get("$ref") {
                out.push(r.clone());
            }
            o.values().for_each(|x| refs(x, out));
        }
        Value::Array(a) => a.iter().for_each(|x| refs(x, out)),
        _ => {}
    }
}

#[tokio::test]
async fn the_document_is_valid_openapi_3_1() {
    let s = TestServer::start().await;
    let doc = document(&s.url).await;
    let schema: Value = serde_json::from_str(OPENAPI_31_SCHEMA).expect("vendored schema");
    let validator = jsonschema::draft202012::new(&schema).expect("the OpenAPI 3.1 schema compiles");
    let errors: Vec<String> = validator
        .iter_errors(&doc)
        .map(|e| format!("{}: {e}", e.instance_path()))
        .collect();
    assert!(
        errors.is_empty(),
        "{} errors against the OpenAPI 3.1 schema:\n{}",
        errors.len(),
        errors.join("\n")
    );
    // The OpenAPI schema leaves Schema Objects to JSON Schema 2020-12: check each one.
    let mut bad = Vec::new();
    for (at, schema) in schemas(&doc) {
        if let Err(e) = jsonschema::draft202012::meta::validate(&schema) {
            bad.push(format!("{at}: {e}"));
        }
    }
    assert!(bad.is_empty(), "invalid JSON Schemas:\n{}", bad.join("\n"));
    // Every local reference resolves.
    let mut all = Vec::new();
    refs(&doc, &mut all);
    assert!(!all.is_empty());
    for r in all {
        let pointer = r.strip_prefix('#').expect("only local references");
        assert!(doc.pointer(pointer).is_some(), "dangling $ref {r}");
    }
}

/// What an operation is, as found by provoking it (not by reading the document).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Trait {
    /// Every operation.
    Any,
    /// Answers 401 without a credential.
    Authenticated,
    /// Answers 413 to a body over the limit: it reads a JSON body.
    ReadsBody,
    /// Answers 404 for a key that does not exist.
    ById,
    /// Answers 503 when its database is gone.
    ReadsDatabase,
    /// One operation, for what only the contract can say.
    Is(&'static str, &'static str),
}

/// The rule table: what an operation must document, by what it is. Every status a probe
/// below provokes must be documented as well.
const RULES: &[(Trait, &[u16])] = &[
    // Strict query strings (400); the same path with another method (405).
    (Trait::Any, &[400, 405]),
    // The credential check: refused, forbidden, rate limited; the key lookup: 500, 503.
    (Trait::Authenticated, &[401, 403, 429, 500, 503]),
    // A bad JSON body; one over 64 KiB.
    (Trait::ReadsBody, &[400, 413]),
    (Trait::ById, &[404]),
    (Trait::ReadsDatabase, &[500, 503]),
    // If-Match (412); concurrent changes and the org's last `*` key (409, API.md §4).
    (Trait::Is("PATCH", "/v1/keys/{id}"), &[409, 412]),
    (Trait::Is("DELETE", "/v1/keys/{id}"), &[409]),
    // Rotating a key that was already rotated.
    (Trait::Is("POST", "/v1/keys/{id}/rotate"), &[409]),
];

/// A valid body for each operation that takes one; a new one must be added here.
fn valid_body(method: &str, path: &str) -> Option<&'static str> {
    match (method, path) {
        ("POST", "/v1/keys") => Some(r#"{"name": "Probe", "scopes": ["runs:read"]}"#),
        ("POST", "/v1/apps") => Some(r#"{"name": "Probe"}"#),
        ("POST", "/v1/verify") => Some(r#"{"credential": "pk_live_000000000000000000000000"}"#),
        ("PATCH", "/v1/keys/{id}") => Some(r#"{"name": "Probed"}"#),
        ("POST", "/v1/keys/{id}/rotate") => Some(r#"{"grace_period_seconds": 60}"#),
        ("POST", "/v1/leaks") => Some(
            r#"{"hashes": ["0000000000000000000000000000000000000000000000000000000000000000"], "source": "probe", "action": "report"}"#,
        ),
        ("POST", "/v1/secret-scanning/github") => Some("[]"),
        _ => None,
    }
}

/// One operation of the document.
struct Op<'a> {
    method: &'a str,
    path: &'a str,
}

impl<'a> Op<'a> {
    fn of(method: &'a str, path: &'a str) -> Op<'a> {
        Op { method, path }
    }

    /// Send it to `url` with `id` in `{id}` and `query` appended.
    async fn call(
        &self,
        url: &str,
        id: &str,
        query: &str,
        headers: &[(&str, &str)],
        body: Option<&str>,
    ) -> Reply {
        let method = Method::from_bytes(self.method.as_bytes()).expect("method");
        let path = format!("{}{query}", self.path.replace("{id}", id));
        let (status, headers, body) = raw(url, method, &path, headers, body).await;
        Reply {
            status,
            headers,
            body,
        }
    }
}

/// An answer.
struct Reply {
    status: u16,
    headers: reqwest::header::HeaderMap,
    body: Value,
}

/// What the probes of one operation saw: each status with the first probe that got it,
/// and answers that lack a header the document says that status always has.
struct Seen<'a> {
    op: &'a Value,
    statuses: BTreeMap<u16, &'static str>,
    problems: Vec<String>,
}

impl Seen<'_> {
    fn note(&mut self, reply: Reply, why: &'static str) -> u16 {
        let st = reply.status;
        self.statuses.entry(st).or_insert(why);
        let documented = &self.op["responses"][st.to_string()]["headers"];
        for (name, h) in documented.as_object().into_iter().flatten() {
            if h["required"] == true && reply.headers.get(name.as_str()).is_none() {
                self.problems
                    .push(format!("{st} to {why} has no {name} header"));
            }
        }
        st
    }
}

/// A server whose every database call fails: its SQLite pools are closed after the org is
/// made (a fresh server has nothing cached, so each request must read).
async fn server_without_database() -> TestServer {
    let dir = Arc::new(tempfile::tempdir().expect("tempdir"));
    let url = format!("sqlite://{}", dir.path().join("keys.db").display());
    let sqlite = SqliteStore::open(&url, Retention::default(), IfMissing::Create)
        .await
        .expect("open");
    let store: Arc<dyn KeyStore> = Arc::new(sqlite.clone());
    let s = TestServer::start_on(store, dir, None, test_config()).await;
    sqlite.close().await;
    s
}

/// A server whose database lost its `keys` table: every key lookup is an internal error.
async fn server_with_broken_database() -> TestServer {
    let s = TestServer::start().await;
    if let Some(db) = &s.db {
        db.exec("ALTER TABLE keys RENAME TO keys_gone").await;
        return s;
    }
    let url = format!("sqlite://{}", s.dir.path().join("keys.db").display());
    let mut conn = <sqlx::SqliteConnection as sqlx::Connection>::connect(&url)
        .await
        .expect("connect");
    sqlx::query("ALTER TABLE keys RENAME TO keys_gone")
        .execute(&mut conn)
        .await
        .expect("rename");
    s
}

#[tokio::test]
async fn every_operation_documents_every_status_it_can_return() {
    let (s, doc, owner) = started().await;
    let ops = operations(&doc);
    let limited = TestServer::start_with(
        keyconsole::server::ServerConfig {
            failed_auth_limit: 1,
            ..test_config()
        },
        None,
        Retention::default(),
    )
    .await;
    let gone = server_without_database().await;
    let broken = server_with_broken_database().await;
    let gone_owner = format!("Bearer {}", gone.owner.secret.expose());
    let broken_owner = format!("Bearer {}", broken.owner.secret.expose());
    // One failed authentication blocks this client on `limited`.
    let bad = "Bearer sk_live_0000000000000000000000000000000000000A";
    raw(
        &limited.url,
        Method::GET,
        "/v1/me",
        &[("authorization", bad)],
        None,
    )
    .await;

    let mut missing = Vec::new();
    for ((method, path), doc_op) in &ops {
        let body = valid_body(method, path);
        assert_eq!(
            body.is_some(),
            doc_op.get("requestBody").is_some(),
            "{method} {path}: add a valid body to `valid_body`"
        );
        let op = Op { method, path };
        let auth = [("authorization", owner.as_str())];
        let mut seen = Seen {
            op: doc_op,
            statuses: BTreeMap::new(),
            problems: Vec::new(),
        };
        let mut traits = BTreeSet::from([Trait::Any]);
        for (t, _) in RULES {
            if let Trait::Is(m, p) = t
                && m == method
                && p == path
            {
                traits.insert(*t);
            }
        }
        // A fresh key for each probe, since one may change or delete it.
        let fresh = || async { s.create("Probe target", &["runs:read"]).await.key.id };

        seen.note(
            op.call(&s.url, &fresh().await, "", &auth, body).await,
            "a valid call",
        );
        seen.note(
            op.call(&s.url, &fresh().await, "?zz_unknown=1", &auth, body)
                .await,
            "an unknown query parameter",
        );
        let st = seen.note(
            op.call(&s.url, &fresh().await, "", &[], body).await,
            "no credential",
        );
        if st == 401 {
            traits.insert(Trait::Authenticated);
        }
        let no_app = [
            ("authorization", owner.as_str()),
            ("x-app-id", "app_0000000000000000"),
        ];
        seen.note(
            op.call(&s.url, &fresh().await, "", &no_app, body).await,
            "an x-app-id of no app",
        );
        let huge = format!(r#"{{"name": "{}"}}"#, "a".repeat(70 * 1024));
        let st = seen.note(
            op.call(&s.url, &fresh().await, "", &auth, Some(&huge))
                .await,
            "a body over 64 KiB",
        );
        if st == 413 {
            traits.insert(Trait::ReadsBody);
        }
        if body.is_some() {
            seen.note(
                op.call(&s.url, &fresh().await, "", &auth, Some("{")).await,
                "a body that is not JSON",
            );
        }
        if path.contains("{id}") {
            let st = seen.note(
                op.call(&s.url, UNKNOWN_KEY, "", &auth, body).await,
                "a key that does not exist",
            );
            if st == 404 {
                traits.insert(Trait::ById);
            }
            let stale = [("authorization", owner.as_str()), ("if-match", "\"999\"")];
            seen.note(
                op.call(&s.url, &fresh().await, "", &stale, body).await,
                "a stale If-Match",
            );
            let id = fresh().await;
            op.call(&s.url, &id, "", &auth, body).await;
            seen.note(
                op.call(&s.url, &id, "", &auth, body).await,
                "the same call twice",
            );
        }
        let reply = op
            .call(
                &limited.url,
                UNKNOWN_KEY,
                "",
                &[("authorization", bad)],
                body,
            )
            .await;
        seen.note(reply, "a client over the failed-auth limit");
        let gone_auth = [("authorization", gone_owner.as_str())];
        let reply = op.call(&gone.url, UNKNOWN_KEY, "", &gone_auth, body).await;
        let st = seen.note(reply, "a database that cannot be reached");
        if st == 503 {
            traits.insert(Trait::ReadsDatabase);
        }
        let broken_auth = [("authorization", broken_owner.as_str())];
        let reply = op
            .call(&broken.url, UNKNOWN_KEY, "", &broken_auth, body)
            .await;
        seen.note(reply, "a database without its keys table");
        // The same path with a method it does not take.
        let other = ["PUT", "PATCH", "DELETE", "POST", "GET"]
            .into_iter()
            .find(|m| !ops.contains_key(&((*m).to_owned(), path.clone())))
            .expect("a method the path does not take");
        let reply = Op::of(other, path)
            .call(&s.url, UNKNOWN_KEY, "", &auth, None)
            .await;
        seen.note(reply, "another method on the path");

        let documented = documented_statuses(doc_op);
        missing.extend(
            seen.problems
                .iter()
                .map(|p| format!("{method} {path}: {p}")),
        );
        let mut required: BTreeMap<u16, String> = seen
            .statuses
            .iter()
            .map(|(st, why)| (*st, format!("answered {why}")))
            .collect();
        for (t, statuses) in RULES {
            if traits.contains(t) {
                for st in *statuses {
                    required.entry(*st).or_insert_with(|| format!("rule {t:?}"));
                }
            }
        }
        for (st, why) in required {
            if !documented.contains(&st) {
                missing.push(format!("{method} {path}: {st} ({why})"));
            }
        }
    }
    assert!(
        missing.is_empty(),
        "statuses the operations answer but do not document, or documented headers missing:\n{}",
        missing.join("\n")
    );
}

/// Every route, the document's and the document itself.
fn routes(doc: &Value) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = operations(doc).into_keys().collect();
    out.push(("GET".to_owned(), "/openapi.json".to_owned()));
    out
}

#[tokio::test]
async fn every_route_rejects_unknown_query_parameters() {
    let (s, doc, owner) = started().await;
    let auth = [("authorization", owner.as_str())];
    for (method, path) in routes(&doc) {
        let op = Op::of(&method, &path);
        let body = valid_body(&method, &path);
        let id = s.create("Strict", &["runs:read"]).await.key.id;
        let Reply {
            status: st,
            body: err,
            ..
        } = op.call(&s.url, &id, "?foo=bar", &auth, body).await;
        assert_eq!(
            (st, code(&err)),
            (400, "invalid_request"),
            "{method} {path}?foo=bar: {err}"
        );
        let message = err["error"]["message"].as_str().unwrap_or("");
        assert!(
            message.contains("`foo`"),
            "{method} {path}: the message should name the parameter: {message}"
        );
        // The parameter alone made the difference. (GitHub's receiver is off on this server;
        // tests/api/leaks.rs checks its strict query on a signed delivery.)
        if path == "/v1/secret-scanning/github" {
            continue;
        }
        let id = s.create("Strict", &["runs:read"]).await.key.id;
        let st = op.call(&s.url, &id, "", &auth, body).await.status;
        assert!(st < 400, "{method} {path} without the parameter: {st}");
    }
}

/// Values at and past each documented constraint of a query parameter.
fn candidates(schema: &Value) -> Vec<Value> {
    let mut out = Vec::new();
    if let Some(values) = schema["enum"].as_array() {
        out.extend(values.iter().cloned());
        out.push(json!("zz-not-a-value"));
    }
    for (bound, step) in [("minimum", -1), ("maximum", 1)] {
        if let Some(n) = schema[bound].as_i64() {
            out.push(json!(n));
            out.push(json!(n + step));
        }
    }
    if let Some(n) = schema["maxLength"].as_u64() {
        let n = usize::try_from(n).expect("length");
        out.push(json!("a".repeat(n)));
        out.push(json!("a".repeat(n + 1)));
    }
    if schema["minLength"].as_u64().is_some_and(|n| n > 0) {
        out.push(json!(""));
    }
    if schema.get("pattern").is_some() {
        // Patterns here also say lengths, after trimming where the server trims.
        out.push(json!("zz!"));
        out.push(json!("a".repeat(200)));
        out.push(json!("a".repeat(201)));
        out.push(json!(" ".repeat(201)));
        out.push(json!(format!("  {}\t", "a".repeat(200))));
    }
    out
}

#[tokio::test]
async fn documented_query_constraints_are_the_servers() {
    let (s, doc, owner) = started().await;
    let auth = [("authorization", owner.as_str())];
    let mut wrong = Vec::new();
    let mut checked = 0;
    for ((method, path), doc_op) in operations(&doc) {
        let op = Op::of(&method, &path);
        let body = valid_body(&method, &path);
        for p in doc_op["parameters"].as_array().into_iter().flatten() {
            let name = p["name"].as_str().expect("name");
            if p["in"] != "query" {
                continue;
            }
            let schema = &p["schema"];
            let validator = jsonschema::draft202012::new(schema).expect("parameter schema");
            for value in candidates(schema) {
                let text = value
                    .as_str()
                    .map_or_else(|| value.to_string(), str::to_owned);
                let query: String = form_urlencoded::Serializer::new(String::new())
                    .append_pair(name, &text)
                    .finish();
                let id = s.create("Bounds", &["runs:read"]).await.key.id;
                let Reply {
                    status: st,
                    body: err,
                    ..
                } = op
                    .call(&s.url, &id, &format!("?{query}"), &auth, body)
                    .await;
                let message = err["error"]["message"].as_str().unwrap_or("");
                let rejected = st == 400 && message.contains(&format!("`{name}`"));
                let documented_valid = validator.is_valid(&value);
                if rejected == documented_valid {
                    wrong.push(format!(
                        "{method} {path}?{query}: documented {}, answered {st} {message}",
                        if documented_valid { "valid" } else { "invalid" }
                    ));
                }
                checked += 1;
            }
        }
    }
    assert!(checked > 50, "only {checked} values checked");
    assert!(
        wrong.is_empty(),
        "the document and the server disagree:\n{}",
        wrong.join("\n")
    );
}

#[tokio::test]
async fn documented_grantable_scopes_are_the_catalogs() {
    let (s, doc, _) = started().await;
    let catalog = s.client.scopes().await.expect("scopes");
    for body in ["CreateKeyRequest", "UpdateKeyRequest"] {
        let listed: Vec<String> =
            doc["components"]["schemas"][body]["properties"]["scopes"]["items"]["enum"]
                .as_array()
                .unwrap_or_else(|| panic!("{body}: scopes have no enum"))
                .iter()
                .map(|v| v.as_str().expect("a scope").to_owned())
                .collect();
        for entry in &catalog.scopes {
            assert!(listed.contains(&entry.name), "{body} lacks {}", entry.name);
        }
        // Each documented scope can be granted, and nothing else.
        for scope in &listed {
            let created = s
                .client
                .create_key(&keyconsole::api::CreateKeyRequest {
                    name: "Grant".to_owned(),
                    scopes: Some(vec![scope.clone()]),
                    ..Default::default()
                })
                .await;
            assert!(
                created.is_ok(),
                "{body}: {scope} is documented: {created:?}"
            );
        }
    }
    let (st, _, err) = raw(
        &s.url,
        Method::POST,
        "/v1/keys",
        &[(
            "authorization",
            &format!("Bearer {}", s.owner.secret.expose()),
        )],
        Some(r#"{"name": "Grant", "scopes": ["runs:fly"]}"#),
    )
    .await;
    assert_eq!((st, code(&err)), (400, "invalid_request"));
}
