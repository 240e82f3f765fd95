//! The `keyconsole` binary as scripts use it: `org create`, `serve` (ready line, port 0,
//! SIGTERM flush), exit codes, one-line errors, and logs that never hold a secret.

use std::process::Command;
use std::time::Duration;

use keyconsole::api::{OrgCreated, UsageQuery};
use keyconsole::client::Client;

#[path = "support/mod.rs"]
mod support;

use support::serve::{BIN, Served, kc, org_create};

fn db(dir: &tempfile::TempDir) -> String {
    format!("sqlite://{}", dir.path().join("k.db").display())
}

/// `serve <args>` logging at debug, so the log checks see every line.
fn serve(args: &[&str]) -> Served {
    Served::start_with(args, "debug")
}

#[test]
fn org_create_json_is_the_key_create_body_plus_org() {
    let dir = tempfile::tempdir().expect("tempdir");
    let out = kc(&["org", "create", "Acme", "--database", &db(&dir), "--json"]);
    assert_eq!(out.status.code(), Some(0));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    let keys: Vec<&str> = v
        .as_object()
        .expect("object")
        .keys()
        .map(String::as_str)
        .collect();
    assert_eq!(keys.len(), 4);
    for k in ["org", "key", "secret", "credential"] {
        assert!(keys.contains(&k), "{k}");
    }
    assert_eq!(v["key"]["scopes"], serde_json::json!(["*"]));
    assert!(
        v["secret"]
            .as_str()
            .is_some_and(|s| s.starts_with("sk_live_"))
    );
    assert!(
        v["org"]["id"]
            .as_str()
            .is_some_and(|s| s.starts_with("org_"))
    );
    // Without --json: the secret is printed once, with a note to store it.
    let out = kc(&["org", "create", "Beta", "--database", &db(&dir)]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(text.matches("sk_live_").count(), 1, "{text}");
    assert!(text.contains("shown once"));
}

/// Take every key of the database's organizations away behind the service's back (as a
/// database from before the lock-out guard, or a hand edit, could leave it).
async fn lock_out_by_hand(url: &str) {
    let pool = sqlx::SqlitePool::connect(url).await.expect("open");
    sqlx::query("UPDATE keys SET enabled = 0")
        .execute(&pool)
        .await
        .expect("disable every key");
    pool.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn org_recover_gives_a_locked_out_org_a_new_owner_key() {
    let dir = tempfile::tempdir().expect("tempdir");
    let url = db(&dir);
    let created = org_create(&url);
    lock_out_by_hand(&url).await;
    let out = kc(&[
        "org",
        "recover",
        &created.org.id,
        "--database",
        &url,
        "--json",
    ]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // The same shape as `org create --json`.
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    let mut keys: Vec<&str> = v
        .as_object()
        .expect("object")
        .keys()
        .map(String::as_str)
        .collect();
    keys.sort_unstable();
    assert_eq!(keys, ["credential", "key", "org", "secret"]);
    let recovered: OrgCreated = serde_json::from_value(v).expect("OrgCreated");
    assert_eq!(recovered.org, created.org);
    assert_eq!(recovered.key.scopes, vec!["*"]);
    assert_ne!(recovered.key.id, created.key.id);
    assert!(recovered.secret.expose().starts_with("sk_live_"));
    // The new key works against the service; the locked-out one does not.
    let mut served = serve(&["--database", &url, "--listen", "127.0.0.1:0"]);
    let c = Client::new(&served.url, Some(recovered.secret.clone())).expect("client");
    let me = c.me().await.expect("the recovered owner key works");
    assert_eq!(me.org.id, created.org.id);
    let old = Client::new(&served.url, Some(created.secret.clone())).expect("client");
    assert!(old.me().await.is_err());
    // It can bring the old owner back.
    c.update_key(
        &created.key.id,
        &keyconsole::api::UpdateKeyRequest {
            enabled: Some(true),
            ..Default::default()
        },
        None,
    )
    .await
    .expect("re-enable the old owner key");
    // Audited as created by the system, no actor key.
    let audit = c
        .audit(&keyconsole::api::AuditQuery {
            key_id: Some(recovered.key.id.clone()),
            ..Default::default()
        })
        .await
        .expect("audit");
    assert_eq!(audit.data.len(), 1, "{:?}", audit.data);
    let entry = &audit.data[0];
    assert_eq!(entry.action, "key.created");
    assert_eq!(entry.actor_key_id, None);
    assert_eq!(entry.changes["via"], "org recover");
    assert_eq!(entry.changes["scopes"], serde_json::json!(["*"]));
    assert_eq!(served.term(), 0);
    // Without --json: the secret once, with the note to store it.
    let out = kc(&["org", "recover", &created.org.id, "--database", &url]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(text.matches("sk_live_").count(), 1, "{text}");
    assert!(
        text.contains("shown once") && text.contains(&created.org.id),
        "{text}"
    );
}

#[test]
fn org_recover_refuses_what_it_cannot_recover() {
    let dir = tempfile::tempdir().expect("tempdir");
    let url = db(&dir);
    let created = org_create(&url);
    let missing = format!("sqlite://{}", dir.path().join("gone.db").display());
    let cases: Vec<(Vec<&str>, i32, &str)> = vec![
        // An org id of the right shape that is not in the database.
        (
            vec!["org", "recover", "org_0000000000000000", "--database", &url],
            1,
            "no organization org_0000000000000000",
        ),
        (
            vec!["org", "recover", "acme", "--database", &url],
            2,
            "org_",
        ),
        // No database there: nothing is created.
        (
            vec!["org", "recover", &created.org.id, "--database", &missing],
            2,
            "no database",
        ),
        (vec!["org", "recover", &created.org.id], 2, "--database"),
    ];
    for (args, exit, needle) in cases {
        let out = kc(&args);
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(exit), "{args:?}: {err}");
        assert_eq!(err.trim_end().lines().count(), 1, "{args:?}: {err}");
        assert!(err.contains(needle), "{args:?}: {err}");
        assert!(out.stdout.is_empty(), "{args:?}");
    }
    assert!(!dir.path().join("gone.db").exists());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serve_trusted_proxy_names_the_client_in_the_log() {
    let dir = tempfile::tempdir().expect("tempdir");
    let url = db(&dir);
    let created = org_create(&url);
    let pair = format!("Bearer {}:sk_live_{}", created.key.id, "0".repeat(38));
    for (args, header, value, client) in [
        (
            vec!["--trusted-proxy", "10.0.0.0/8", "127.0.0.1"],
            "x-forwarded-for",
            "1.1.1.1, 203.0.113.7",
            "203.0.113.7",
        ),
        (
            vec![
                "--trusted-proxy",
                "::1/128",
                "--trusted-proxy",
                "127.0.0.0/8",
                "--trusted-proxy-header",
                "forwarded",
            ],
            "forwarded",
            "for=\"198.51.100.4:4711\"",
            "198.51.100.4",
        ),
        // Not behind a trusted proxy: the header is ignored.
        (vec![], "x-forwarded-for", "203.0.113.7", "127.0.0.1"),
    ] {
        let mut a = vec!["--database", url.as_str(), "--listen", "127.0.0.1:0"];
        a.extend(args.iter().copied());
        let mut served = serve(&a);
        let resp = reqwest::Client::new()
            .get(format!("{}/v1/me", served.url))
            .header("authorization", &pair)
            .header(header, value)
            .send()
            .await
            .expect("send");
        assert_eq!(resp.status().as_u16(), 401);
        let rid = resp
            .headers()
            .get("x-request-id")
            .and_then(|v| v.to_str().ok())
            .expect("rid")
            .to_owned();
        assert_eq!(served.term(), 0);
        let log = served.log();
        let line = log
            .lines()
            .find(|l| l.contains(&rid) && l.contains("request"))
            .unwrap_or_else(|| panic!("no log line for {rid}:\n{log}"));
        assert!(
            line.contains(&format!("client={client}")),
            "{args:?}: {line}"
        );
    }
    // A bad network is a usage error.
    let out = kc(&[
        "serve",
        "--database",
        &url,
        "--trusted-proxy",
        "10.0.0.0/33",
    ]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert_eq!(err.trim_end().lines().count(), 1, "{err}");
    assert!(
        err.contains("10.0.0.0/33") && err.contains("prefix"),
        "{err}"
    );
}

#[test]
fn usage_errors_are_one_line_and_exit_2() {
    let dir = tempfile::tempdir().expect("tempdir");
    let cases: Vec<(Vec<String>, &str)> = vec![
        (vec!["serve".into(), "--bogus".into()], "--bogus"),
        (vec!["serve".into()], "--database"),
        (
            vec![
                "serve".into(),
                "--database".into(),
                "sqlite:///nonexistent-dir/x/y.db".into(),
                "--listen".into(),
                "127.0.0.1:0".into(),
            ],
            "database",
        ),
        (
            vec!["serve".into(), "--database".into(), "mysql://x".into()],
            "sqlite",
        ),
        (
            vec![
                "serve".into(),
                "--database".into(),
                db(&dir),
                "--secret-prefix".into(),
                "pk".into(),
            ],
            "prefix",
        ),
        (
            vec![
                "serve".into(),
                "--database".into(),
                db(&dir),
                "--accept-env".into(),
                "prod".into(),
            ],
            "prod",
        ),
        (
            vec![
                "org".into(),
                "create".into(),
                "X".into(),
                "--database".into(),
                "sqlite:///nonexistent-dir/x/y.db".into(),
            ],
            "database",
        ),
        (vec!["nonsense".into()], "nonsense"),
    ];
    for (args, needle) in cases {
        let a: Vec<&str> = args.iter().map(String::as_str).collect();
        let out = kc(&a);
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {err}");
        assert_eq!(
            err.trim_end().lines().count(),
            1,
            "{args:?}: one line expected, got:\n{err}"
        );
        assert!(err.contains(needle), "{args:?}: {err}");
    }
}

#[test]
fn a_port_in_use_exits_2() {
    let held = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = held.local_addr().expect("addr").to_string();
    let dir = tempfile::tempdir().expect("tempdir");
    let out = kc(&[
        "serve",
        "--create",
        "--database",
        &db(&dir),
        "--listen",
        &addr,
    ]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains("cannot listen"), "{err}");
    assert_eq!(err.trim_end().lines().count(), 1, "{err}");
}

#[test]
fn database_url_from_the_environment() {
    let dir = tempfile::tempdir().expect("tempdir");
    let out = Command::new(BIN)
        .args(["org", "create", "EnvCo", "--json"])
        .env("KEYCONSOLE_DATABASE_URL", db(&dir))
        .output()
        .expect("run");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serve_on_port_0_flushes_on_sigterm_and_never_logs_secrets() {
    let dir = tempfile::tempdir().expect("tempdir");
    let url = db(&dir);
    let owner = org_create(&url);
    let mut s = serve(&["--listen", "127.0.0.1:0", "--database", &url]);
    assert!(
        !s.url.ends_with(":0"),
        "ready line names the real port: {}",
        s.url
    );
    let c = Client::new(&s.url, Some(owner.secret.clone())).expect("client");
    for _ in 0..4 {
        c.me().await.expect("me");
    }
    let secret = owner.secret.expose().to_owned();
    let http = reqwest::Client::new();
    // Secrets in every place a careless client might put them.
    let _ = http
        .get(format!("{}/v1/keys/{secret}", s.url))
        .bearer_auth(&secret)
        .send()
        .await;
    let _ = http
        .get(format!("{}/v1/keys?q={secret}", s.url))
        .header("x-api-key", &secret)
        .send()
        .await;
    let _ = http
        .get(format!("{}/v1/me", s.url))
        .header("authorization", format!("Bearer  {secret}"))
        .send()
        .await;
    let _ = http
        .post(format!("{}/v1/keys", s.url))
        .bearer_auth(&secret)
        .header("content-type", "application/json")
        .body(format!(
            "{{\"name\": \"{secret}\", \"scopes\": [\"{secret}\"]}}"
        ))
        .send()
        .await;
    let _ = http.get(format!("{}/no/such/route", s.url)).send().await;
    let code = s.term();
    assert_eq!(code, 0, "serve exits 0 after SIGTERM");
    std::thread::sleep(Duration::from_millis(100));
    let log = s.log();
    assert!(
        log.contains("request_id="),
        "one line per request with its id:\n{log}"
    );
    assert!(
        log.contains("status=200") && log.contains(&format!("key_id={}", owner.key.id)),
        "{log}"
    );
    // The log names the route template, never the raw path.
    assert!(log.contains("path=/v1/keys/{id}"), "{log}");
    assert!(log.contains("path=<unmatched>"), "{log}");
    assert!(!log.contains("/no/such/route"), "{log}");
    let random_part = &secret["sk_live_".len()..];
    assert!(
        !log.contains(random_part),
        "a secret reached the log:\n{log}"
    );
    assert!(!log.to_lowercase().contains("authorization:"), "{log}");

    // Restart on the same database: the usage written at shutdown is there.
    let mut s2 = serve(&["--listen", "127.0.0.1:0", "--database", &url]);
    let c2 = Client::new(&s2.url, Some(owner.secret.clone())).expect("client");
    let u = c2
        .key_usage(&owner.key.id, &UsageQuery::default())
        .await
        .expect("usage");
    let ok: u64 = u.buckets.iter().map(|b| b.ok).sum();
    assert!(ok >= 6, "4 /me + the other authenticated calls, got {ok}");
    assert_eq!(s2.term(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serve_flags_secret_prefix_and_accept_env() {
    let dir = tempfile::tempdir().expect("tempdir");
    let url = db(&dir);
    let out = kc(&[
        "org",
        "create",
        "Acme",
        "--database",
        &url,
        "--json",
        "--env",
        "test",
        "--secret-prefix",
        "org",
    ]);
    assert!(out.status.success());
    let owner: OrgCreated = serde_json::from_slice(&out.stdout).expect("json");
    assert!(owner.secret.expose().starts_with("org_test_"));
    let mut s = serve(&[
        "--listen",
        "127.0.0.1:0",
        "--database",
        &url,
        "--secret-prefix",
        "org",
        "--accept-env",
        "live",
    ]);
    let c = Client::new(&s.url, Some(owner.secret.clone())).expect("client");
    let e = c
        .me()
        .await
        .expect_err("test key on a live-only deployment");
    assert_eq!(
        e.code(),
        Some(keyconsole::domain::decision::ErrorCode::InvalidKey)
    );
    assert_eq!(s.term(), 0);
    let mut s = serve(&[
        "--listen",
        "127.0.0.1:0",
        "--database",
        &url,
        "--secret-prefix",
        "org",
    ]);
    let c = Client::new(&s.url, Some(owner.secret.clone())).expect("client");
    c.me().await.expect("accepted");
    assert_eq!(s.term(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_ready_line_is_printed_whatever_the_log_filter() {
    let dir = tempfile::tempdir().expect("tempdir");
    let url = db(&dir);
    for filter in ["warn", "off"] {
        // `start_with` fails unless the ready line appears.
        let mut s = Served::start_with(
            &["--listen", "127.0.0.1:0", "--database", &url, "--create"],
            filter,
        );
        let log = s.log();
        assert!(
            log.contains("keyconsole serve: listening on http://"),
            "{filter}: {log}"
        );
        assert_eq!(s.term(), 0);
    }
}

/// A TCP relay to `upstream` that records every byte clients send through it: what a
/// command put on the wire, whatever the server logs.
fn recording_relay(upstream: &str) -> (String, std::sync::Arc<std::sync::Mutex<Vec<u8>>>) {
    use std::io::{Read, Write};
    let to = upstream.trim_start_matches("http://").to_owned();
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let url = format!("http://{}", listener.local_addr().expect("addr"));
    let sent = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let record = std::sync::Arc::clone(&sent);
    std::thread::spawn(move || {
        for client in listener.incoming().map_while(Result::ok) {
            let Ok(server) = std::net::TcpStream::connect(&to) else {
                continue;
            };
            let (mut c_in, mut s_out) = (
                client.try_clone().expect("clone"),
                server.try_clone().expect("clone"),
            );
            let (mut s_in, mut c_out) = (server, client);
            let record = std::sync::Arc::clone(&record);
            std::thread::spawn(move || {
                let mut buf = [0u8; 8192];
                while let Ok(n) = c_in.read(&mut buf) {
                    if n == 0 || s_out.write_all(&buf[..n]).is_err() {
                        break;
                    }
                    record.lock().expect("record").extend_from_slice(&buf[..n]);
                }
                let _ = s_out.shutdown(std::net::Shutdown::Write);
            });
            std::thread::spawn(move || {
                let _ = std::io::copy(&mut s_in, &mut c_out);
                let _ = c_out.shutdown(std::net::Shutdown::Write);
            });
        }
    });
    (url, sent)
}

/// `scan --check` and `--disable` against a real `serve`: only hashes are sent, findings are
/// told apart as live keys or not, and `--disable` turns the found key off.
#[test]
fn scan_check_and_disable_ask_a_real_server() {
    let dir = tempfile::tempdir().expect("tempdir");
    let url = db(&dir);
    let owner = org_create(&url);
    let mut s = serve(&["--listen", "127.0.0.1:0", "--database", &url]);
    let with_token = |args: &[&str]| {
        Command::new(BIN)
            .args(args)
            .env("NO_COLOR", "1")
            .env("KEYCONSOLE_TOKEN", owner.secret.expose())
            .output()
            .expect("run keyconsole")
    };
    let created = with_token(&[
        "--url",
        &s.url,
        "keys",
        "-o",
        "json",
        "create",
        "--name",
        "Leaky",
        "--scope",
        "runs:read",
    ]);
    assert!(
        created.status.success(),
        "{}",
        String::from_utf8_lossy(&created.stderr)
    );
    let created: keyconsole::api::CreateKeyResponse =
        serde_json::from_slice(&created.stdout).expect("create json");
    let stranger = {
        let mut fill = |b: &mut [u8]| keyconsole::server::os_random(b);
        keyconsole::domain::key::Secret::generate(
            &Default::default(),
            keyconsole::domain::key::Env::Live,
            &mut fill,
        )
    };
    let file = dir.path().join("config.env");
    std::fs::write(
        &file,
        format!("A={}\nB={}\n", created.secret.expose(), stranger.expose()),
    )
    .expect("write");
    let path = file.to_str().expect("path");

    // Through a relay that records what the command sends.
    let (relay, sent) = recording_relay(&s.url);
    let out = with_token(&["--url", &relay, "scan", "--check", path]);
    assert_eq!(out.status.code(), Some(1));
    let wire = String::from_utf8_lossy(&sent.lock().expect("sent")).into_owned();
    assert!(wire.contains("POST /v1/leaks"), "{wire}");
    for secret in [created.secret.expose(), stranger.expose()] {
        // Neither the secret nor its random part crossed the wire; its SHA-256 did.
        assert!(
            !wire.contains(secret) && !wire.contains(&secret[8..40]),
            "{wire}"
        );
        let hash =
            keyconsole::domain::scan::hash_hex(&keyconsole::domain::key::SecretHash::of(secret));
        assert!(wire.contains(&hash), "the hash is sent: {wire}");
    }
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    for text in [&stdout, &stderr] {
        assert!(!text.contains(created.secret.expose()) && !text.contains(stranger.expose()));
    }
    let lines: Vec<&str> = stdout.lines().collect();
    assert!(
        lines[0].ends_with(&format!("{} \"Leaky\" active", created.key.id)),
        "{stdout}"
    );
    assert!(
        lines[1].ends_with("not a key of this organization"),
        "{stdout}"
    );

    let out = with_token(&["--url", &s.url, "scan", "--disable", "-o", "json", path]);
    assert_eq!(out.status.code(), Some(1));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    assert_eq!(v["findings"][0]["key"]["id"], created.key.id.as_str());
    assert_eq!(v["findings"][0]["key"]["status"], "disabled");
    assert!(v["findings"][0]["key"]["leaked_at"].is_string());
    assert!(v["findings"][1]["key"].is_null());
    // The server logged no secret either.
    assert_eq!(s.term(), 0);
    let log = s.log();
    assert!(!log.contains(created.secret.expose()) && !log.contains(stranger.expose()));
}

/// `keyconsole review`: markdown for the quarterly review, exit 1 with findings and 0 once
/// there is nothing to act on.
#[test]
fn review_prints_markdown_and_exits_by_findings() {
    let dir = tempfile::tempdir().expect("tempdir");
    let url = db(&dir);
    let owner = org_create(&url);
    let mut s = serve(&["--listen", "127.0.0.1:0", "--database", &url]);
    let run = |args: &[&str]| {
        Command::new(BIN)
            .args(["--url", &s.url])
            .args(args)
            .env("NO_COLOR", "1")
            .env("KEYCONSOLE_TOKEN", owner.secret.expose())
            .output()
            .expect("run keyconsole")
    };
    let out = run(&["review", "-o", "markdown"]);
    assert_eq!(
        out.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let md = String::from_utf8_lossy(&out.stdout);
    assert!(md.starts_with("# Access review\n"), "{md}");
    assert!(md.contains("| `no_owner` | 1 | name an owner |"), "{md}");
    assert!(
        md.contains(&format!("| `{}` | Owner | — |", owner.key.id)),
        "{md}"
    );
    let out = run(&[
        "keys",
        "update",
        &owner.key.id,
        "--owner",
        "platform@acme.example",
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = run(&["review"]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    let out = run(&["review", "-o", "json", "--stale-days", "0"]);
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(s.term(), 0);
}
