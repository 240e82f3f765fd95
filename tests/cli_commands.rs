//! The scriptable commands (`keys …`, `verify`, `doctor`) driven through the built binary
//! against a real `serve` on a temporary SQLite database: table and JSON output, exit codes,
//! one-line errors, and secrets that never reach stderr.

use std::io::Write;
use std::process::{Command, Stdio};

use keyconsole::api::{
    CreateKeyResponse, KeyObject, OrgCreated, Page, RotateResponse, VerifyResponse,
};
use keyconsole::client::Client;
use keyconsole::domain::key::{Env, Secret, format_secret};

#[path = "support/mod.rs"]
mod support;

use support::serve::{BIN, Served};

/// One run of the binary.
struct Run {
    code: Option<i32>,
    stdout: String,
    stderr: String,
}

impl Run {
    fn json<T: serde::de::DeserializeOwned>(&self) -> T {
        serde_json::from_str(&self.stdout)
            .unwrap_or_else(|e| panic!("stdout is not the expected JSON ({e}):\n{}", self.stdout))
    }

    fn ok(self) -> Run {
        assert_eq!(
            self.code,
            Some(0),
            "stdout:\n{}\nstderr:\n{}",
            self.stdout,
            self.stderr
        );
        self
    }

    /// Exit `code` with exactly one line on stderr.
    fn fails(self, code: i32) -> Run {
        assert_eq!(
            self.code,
            Some(code),
            "stdout:\n{}\nstderr:\n{}",
            self.stdout,
            self.stderr
        );
        assert_eq!(
            self.stderr.trim_end().lines().count(),
            1,
            "one line on stderr expected:\n{}",
            self.stderr
        );
        self
    }
}

/// A running service, its owner token, and every stderr seen (checked for secrets).
struct Env0 {
    _dir: tempfile::TempDir,
    server: Served,
    url: String,
    owner: OrgCreated,
    config: String,
    stderr_seen: Vec<String>,
    secrets: Vec<String>,
}

impl Env0 {
    fn start() -> Env0 {
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
        let owner: OrgCreated = serde_json::from_slice(&out.stdout).expect("org json");
        let server = Served::start_with(&["--listen", "127.0.0.1:0", "--database", &db], "warn");
        let url = server.url.clone();
        let config = dir.path().join("no-config.toml").display().to_string();
        let secrets = vec![owner.secret.expose().to_owned()];
        Env0 {
            _dir: dir,
            server,
            url,
            owner,
            config,
            stderr_seen: Vec::new(),
            secrets,
        }
    }

    /// Run the binary with `--url` and the owner's token.
    fn kc(&mut self, args: &[&str]) -> Run {
        let token = self.owner.secret.expose().to_owned();
        self.kc_with(args, Some(&token), None)
    }

    fn kc_with(&mut self, args: &[&str], token: Option<&str>, stdin: Option<&str>) -> Run {
        let mut cmd = Command::new(BIN);
        cmd.arg("--url")
            .arg(&self.url)
            .args(args)
            .env_remove("KEYCONSOLE_DATABASE_URL")
            .env_remove("KEYCONSOLE_TOKEN")
            .env("KEYCONSOLE_CONFIG", &self.config)
            .env("NO_COLOR", "1")
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        if let Some(t) = token {
            cmd.env("KEYCONSOLE_TOKEN", t);
        }
        let run = run_cmd(cmd, stdin);
        self.stderr_seen.push(run.stderr.clone());
        run
    }

    /// Remember a secret that must never reach stderr.
    fn secret(&mut self, s: &str) {
        self.secrets.push(s.to_owned());
    }
}

impl Drop for Env0 {
    fn drop(&mut self) {
        // Panicking already: the server is killed when `Served` drops.
        if !std::thread::panicking() {
            assert_eq!(self.server.term(), 0, "serve exits 0 on SIGTERM");
            // The server's own log (warnings and errors) holds no secret either.
            self.stderr_seen.push(self.server.log());
            for err in &self.stderr_seen {
                for s in &self.secrets {
                    let random = &s[s.len() - 38..];
                    assert!(!err.contains(random), "a secret reached stderr: {err}");
                }
            }
        }
    }
}

fn run_cmd(mut cmd: Command, stdin: Option<&str>) -> Run {
    cmd.stdin(if stdin.is_some() {
        Stdio::piped()
    } else {
        Stdio::null()
    });
    let mut child = cmd.spawn().expect("spawn keyconsole");
    if let Some(text) = stdin {
        let mut pipe = child.stdin.take().expect("stdin");
        pipe.write_all(text.as_bytes()).expect("write stdin");
    }
    let out = child.wait_with_output().expect("wait");
    Run {
        code: out.status.code(),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// `doctor` needs no server: run it bare.
fn doctor(args: &[&str], stdin: Option<&str>) -> Run {
    let mut cmd = Command::new(BIN);
    cmd.arg("doctor")
        .args(args)
        .env_remove("KEYCONSOLE_TOKEN")
        .env(
            "KEYCONSOLE_CONFIG",
            "/nonexistent/keyconsole-test/config.toml",
        )
        .env("NO_COLOR", "1")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    run_cmd(cmd, stdin)
}

/// The `sk_live_…` token printed in a table output.
fn secret_in(text: &str) -> String {
    text.split_whitespace()
        .find(|w| w.starts_with("sk_live_"))
        .expect("a secret in the output")
        .to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keys_lifecycle_in_table_and_json() {
    let mut e = Env0::start();

    // create (table): the secret once, with a note that it is shown once; it authenticates.
    let r = e
        .kc(&[
            "keys",
            "create",
            "--name",
            "Backend",
            "--scope",
            "runs:read",
            "--scope",
            "keys:read",
            "--domain",
            "*.example.com",
        ])
        .ok();
    let secret = secret_in(&r.stdout);
    e.secret(&secret);
    assert_eq!(r.stdout.matches(&secret).count(), 1, "{}", r.stdout);
    assert!(r.stdout.contains("shown once"), "{}", r.stdout);
    assert!(!r.stderr.contains(&secret));
    let c = Client::new(&e.url, Some(Secret::new(secret.clone()))).expect("client");
    let me = c.me().await.expect("the printed secret authenticates");
    let me_key = me.key.expect("a key");
    assert_eq!(me_key.name, "Backend");
    let backend = me_key.id.clone();

    // create (json): exactly the API's create response.
    let r = e
        .kc(&[
            "keys",
            "create",
            "--name",
            "Worker",
            "--preset",
            "read-only",
            "-o",
            "json",
        ])
        .ok();
    let created: CreateKeyResponse = r.json();
    e.secret(created.secret.expose());
    let v: serde_json::Value = r.json();
    let mut fields: Vec<&str> = v
        .as_object()
        .expect("object")
        .keys()
        .map(String::as_str)
        .collect();
    fields.sort_unstable();
    assert_eq!(fields, ["credential", "key", "secret"]);
    assert!(created.secret.expose().starts_with("sk_live_"));
    assert!(!r.stderr.contains(created.secret.expose()));
    let worker = created.key.id.clone();

    // list (table): aligned columns with every key.
    let r = e.kc(&["keys", "list"]).ok();
    let lines: Vec<&str> = r.stdout.lines().collect();
    assert_eq!(lines.len(), 4, "{}", r.stdout);
    let name_col = lines[0].find("NAME").expect("NAME column");
    let status_col = lines[0].find("STATUS").expect("STATUS column");
    for l in &lines[1..] {
        assert!(l.starts_with("pk_live_"), "{l}");
        assert_ne!(l.as_bytes()[name_col], b' ', "{l}");
        assert_eq!(&l[name_col - 2..name_col], "  ", "{l}");
        assert!(l[status_col..].starts_with("active"), "{l}");
    }
    assert!(r.stdout.contains(&backend) && r.stdout.contains(&worker));

    // list (json): the API page, parseable with the strict wire types, and stable.
    let r1 = e.kc(&["keys", "list", "-o", "json"]).ok();
    let page: Page<KeyObject> = r1.json();
    assert_eq!(page.data.len(), 3);
    assert_eq!(page.data[0].id, worker, "newest first");
    let r2 = e.kc(&["keys", "-o", "json", "list"]).ok();
    let page2: Page<KeyObject> = r2.json();
    let ids = |p: &Page<KeyObject>| p.data.iter().map(|k| k.id.clone()).collect::<Vec<_>>();
    assert_eq!(ids(&page), ids(&page2));

    // Paging: --limit alone gives one page and a cursor; --all follows it.
    let one: Page<KeyObject> = e
        .kc(&["keys", "list", "--limit", "1", "-o", "json"])
        .ok()
        .json();
    assert_eq!(one.data.len(), 1);
    assert!(one.next_cursor.is_some());
    let all: Page<KeyObject> = e
        .kc(&["keys", "list", "--limit", "1", "--all", "-o", "json"])
        .ok()
        .json();
    assert_eq!(ids(&all), ids(&page));
    assert!(all.next_cursor.is_none());
    let q: Page<KeyObject> = e
        .kc(&["keys", "list", "--q", "backend", "-o", "json"])
        .ok()
        .json();
    assert_eq!(ids(&q), std::slice::from_ref(&backend));
    let scoped: Page<KeyObject> = e
        .kc(&[
            "keys",
            "list",
            "--scope",
            "runs:read",
            "--env",
            "live",
            "--status",
            "active",
            "-o",
            "json",
        ])
        .ok()
        .json();
    assert!(ids(&scoped).contains(&backend));

    // get
    let r = e.kc(&["keys", "get", &backend]).ok();
    assert!(
        r.stdout.contains(&backend) && r.stdout.contains("runs:read,keys:read"),
        "{}",
        r.stdout
    );
    assert!(r.stdout.contains("*.example.com"), "{}", r.stdout);
    let k: KeyObject = e.kc(&["keys", "get", &backend, "-o", "json"]).ok().json();
    assert_eq!(k.version, 1);

    // update
    let k: KeyObject = e
        .kc(&[
            "keys",
            "update",
            &backend,
            "--name",
            "Renamed",
            "--scope",
            "runs:read",
            "--clear-domains",
            "--expires",
            "30d",
            "--if-version",
            "1",
            "-o",
            "json",
        ])
        .ok()
        .json();
    assert_eq!(k.name, "Renamed");
    assert_eq!(k.scopes, ["runs:read"]);
    assert!(k.allowed_domains.is_empty());
    assert!(k.expires_at.is_some());
    let r = e.kc(&["keys", "update", &backend, "--no-expiry"]).ok();
    assert!(r.stdout.contains("Updated key"), "{}", r.stdout);
    // A stale version: the API error, one line, with code, status and request id.
    let r = e
        .kc(&[
            "keys",
            "update",
            &backend,
            "--name",
            "X",
            "--if-version",
            "1",
        ])
        .fails(1);
    assert!(
        r.stderr.starts_with("keyconsole: version_mismatch (412): "),
        "{}",
        r.stderr
    );
    assert!(r.stderr.contains("[req_"), "{}", r.stderr);

    // disable / enable
    let r = e.kc(&["keys", "disable", &backend]).ok();
    assert!(
        r.stdout.contains("Disabled") && r.stdout.contains("disabled"),
        "{}",
        r.stdout
    );
    // The acknowledgement: the one serve process has applied the change.
    assert!(
        r.stdout.contains(": applied on 1 of 1 instance ("),
        "{}",
        r.stdout
    );
    let k: KeyObject = e
        .kc(&["keys", "enable", &backend, "-o", "json"])
        .ok()
        .json();
    assert!(k.enabled);
    let k: KeyObject = e
        .kc(&["keys", "disable", &worker, "-o", "json"])
        .ok()
        .json();
    assert!(!k.enabled);

    // rotate (json, then table)
    let r = e
        .kc(&["keys", "rotate", &backend, "--grace", "1h", "-o", "json"])
        .ok();
    let rot: RotateResponse = r.json();
    e.secret(rot.secret.expose());
    assert_eq!(
        rot.previous.rotated_to.as_deref(),
        Some(rot.key.id.as_str())
    );
    assert!(rot.previous.expires_at.is_some());
    let r = e.kc(&["keys", "rotate", &rot.key.id]).ok();
    let new_secret = secret_in(&r.stdout);
    e.secret(&new_secret);
    assert_eq!(r.stdout.matches(&new_secret).count(), 1, "{}", r.stdout);
    assert!(r.stdout.contains("shown once"), "{}", r.stdout);
    assert!(r.stdout.contains("stopped working"), "{}", r.stdout);
    // Rotating an already rotated key: the API's conflict, exit 1.
    let r = e.kc(&["keys", "rotate", &backend]).fails(1);
    assert!(r.stderr.contains("conflict (409)"), "{}", r.stderr);

    // delete: refused without --yes when stdin is not a terminal; the key survives.
    let r = e.kc(&["keys", "delete", &worker]).fails(2);
    assert!(r.stderr.contains("--yes"), "{}", r.stderr);
    e.kc(&["keys", "get", &worker]).ok();
    let r = e.kc(&["keys", "delete", &worker, "--yes"]).ok();
    assert!(r.stdout.contains("Deleted"), "{}", r.stdout);
    assert!(
        r.stdout.contains(": applied on 1 of 1 instance ("),
        "{}",
        r.stdout
    );
    let r = e.kc(&["keys", "get", &worker]).fails(1);
    assert!(
        r.stderr.starts_with("keyconsole: not_found (404): "),
        "{}",
        r.stderr
    );
    let v: serde_json::Value = e
        .kc(&["keys", "delete", &backend, "--yes", "-o", "json"])
        .ok()
        .json();
    assert_eq!(v, serde_json::json!({"id": backend, "deleted": true}));
}

#[test]
fn usage_errors_exit_2_and_runtime_errors_exit_1() {
    let mut e = Env0::start();
    let id = e.owner.key.id.clone();
    for args in [
        vec!["keys", "create", "--name", "X"],
        vec![
            "keys", "create", "--name", "X", "--scope", "a:b", "--preset", "full",
        ],
        vec!["keys", "create", "--name", "X", "--preset", "everything"],
        vec![
            "keys",
            "create",
            "--name",
            "X",
            "--scope",
            "runs:read",
            "--expires",
            "soon",
        ],
        vec!["keys", "list", "--limit", "0"],
        vec!["keys", "list", "--status", "sleeping"],
        vec!["keys", "update", &id],
        vec!["keys", "update", &id, "--expires", "1d", "--no-expiry"],
        vec!["keys", "rotate", &id, "--grace", "40d"],
        vec!["keys", "rotate", &id, "--grace", "tomorrow"],
        vec!["keys", "list", "-o", "yaml"],
        vec!["keys", "frobnicate"],
        vec!["verify"],
        vec!["verify", "--credential", ""],
    ] {
        let r = e.kc(&args).fails(2);
        assert!(
            r.stderr.starts_with("keyconsole: "),
            "{args:?}: {}",
            r.stderr
        );
    }
    // No token at all.
    let r = e.kc_with(&["keys", "list"], None, None).fails(2);
    assert!(r.stderr.contains("KEYCONSOLE_TOKEN"), "{}", r.stderr);
    // A wrong token: the API's 401, one line with its code.
    let bad = format_secret("sk", Env::Live, "Zz9yXx8wVv7uTt6sRr5qPp4oOo3nNn2m");
    e.secret(&bad);
    let r = e.kc_with(&["keys", "list"], Some(&bad), None).fails(1);
    assert!(
        r.stderr.starts_with("keyconsole: invalid_key (401): "),
        "{}",
        r.stderr
    );
    // A key without keys:write cannot create: 403 insufficient_scope.
    let r = e
        .kc(&[
            "keys",
            "create",
            "--name",
            "RO",
            "--preset",
            "read-only",
            "-o",
            "json",
        ])
        .ok();
    let ro: CreateKeyResponse = r.json();
    e.secret(ro.secret.expose());
    let r = e
        .kc_with(
            &["keys", "create", "--name", "Y", "--scope", "runs:read"],
            Some(ro.secret.expose()),
            None,
        )
        .fails(1);
    assert!(
        r.stderr.contains("insufficient_scope (403)"),
        "{}",
        r.stderr
    );
    // Nothing listening: exit 1, one line naming the URL.
    let held = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let dead = format!("http://{}", held.local_addr().expect("addr"));
    drop(held);
    let token = e.owner.secret.expose().to_owned();
    let mut cmd = Command::new(BIN);
    cmd.args(["--url", &dead, "keys", "list"])
        .env("KEYCONSOLE_TOKEN", &token)
        .env("KEYCONSOLE_CONFIG", &e.config)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let r = run_cmd(cmd, None).fails(1);
    assert!(r.stderr.contains(&dead), "{}", r.stderr);
    e.stderr_seen.push(r.stderr);
}

#[test]
fn verify_exit_codes_trace_and_stdin() {
    let mut e = Env0::start();
    let created: CreateKeyResponse = e
        .kc(&[
            "keys",
            "create",
            "--name",
            "Gate",
            "--scope",
            "runs:read",
            "-o",
            "json",
        ])
        .ok()
        .json();
    let secret = created.secret.expose().to_owned();
    e.secret(&secret);
    let id = created.key.id.clone();

    let r = e
        .kc(&["verify", "--credential", &secret, "--scope", "runs:read"])
        .ok();
    assert!(r.stdout.starts_with("allowed (200)"), "{}", r.stdout);
    assert!(r.stdout.contains("✓ parse"), "{}", r.stdout);
    assert!(r.stdout.contains("✓ scopes"), "{}", r.stdout);
    assert!(!r.stdout.contains(&secret));
    let v: VerifyResponse = e
        .kc(&["verify", "--credential", &secret, "-o", "json"])
        .ok()
        .json();
    assert!(v.valid);
    assert_eq!(v.key.map(|k| k.id), Some(id.clone()));

    // From stdin, with the trailing newline a pipe adds.
    let token = e.owner.secret.expose().to_owned();
    let r = e.kc_with(
        &["verify", "--credential", "-"],
        Some(&token),
        Some(&format!("{secret}\n")),
    );
    let r = r.ok();
    assert!(r.stdout.starts_with("allowed"), "{}", r.stdout);
    let pair = created.credential.expose().to_owned();
    e.kc_with(
        &["verify", "--credential", "-"],
        Some(&token),
        Some(&format!("{pair}\r\n")),
    )
    .ok();

    // Denied: exit 1, the failing step marked, one line on stderr with the code.
    let r = e
        .kc(&["verify", "--credential", &secret, "--scope", "audit:read"])
        .fails(1);
    assert!(r.stdout.contains("✗ scopes"), "{}", r.stdout);
    assert!(r.stderr.contains("insufficient_scope"), "{}", r.stderr);
    e.kc(&["keys", "disable", &id]).ok();
    let r = e.kc(&["verify", "--credential", &secret]).fails(1);
    assert!(
        r.stdout.starts_with("denied: key_disabled (401)"),
        "{}",
        r.stdout
    );
    assert!(r.stdout.contains("✗ enabled"), "{}", r.stdout);
    let v: VerifyResponse = e
        .kc(&["verify", "--credential", &secret, "-o", "json"])
        .fails(1)
        .json();
    assert!(!v.valid);
    assert_eq!(v.code.as_deref(), Some("key_disabled"));
    // A mistyped secret: the checksum step fails, and the secret is never echoed.
    let mut typo = secret.clone().into_bytes();
    typo[12] = if typo[12] == b'a' { b'b' } else { b'a' };
    let typo = String::from_utf8(typo).expect("ascii");
    e.secret(&typo);
    let r = e.kc(&["verify", "--credential", &typo]).fails(1);
    assert!(r.stdout.contains("✗ checksum"), "{}", r.stdout);
    assert!(!r.stdout.contains(&typo[8..]));
}

#[test]
fn doctor_lints_lines_offline() {
    let random = "Ab3dEf6hIj9kLm2nOp5qRs8tUv1wXy4z";
    let s = format_secret("sk", Env::Live, random);
    let t = format_secret("sk", Env::Test, random);
    let pk = "pk_live_Qw3rTy6uIo9pAs2dFg5hJk8l";
    let mut typo = s.clone().into_bytes();
    typo[12] = if typo[12] == b'a' { b'b' } else { b'a' };
    let typo = String::from_utf8(typo).expect("ascii");
    let rows: Vec<(Vec<String>, i32, &[&str])> = vec![
        (vec![format!("Authorization: Bearer {s}")], 0, &[]),
        (vec![format!("x-api-key: {s}")], 0, &[]),
        (vec![format!("Bearer {pk}:{s}")], 0, &[]),
        (vec![s.clone()], 0, &[]),
        // Unquoted on the command line: the words are joined back.
        (
            vec!["Authorization:".into(), "Bearer".into(), s.clone()],
            0,
            &[],
        ),
        (
            vec!["--".into(), format!("-H 'Authorization: Bearer {s}'")],
            0,
            &[],
        ),
        (vec![format!("api-key: {s}")], 1, &["unknown_header"]),
        (
            vec![format!("Authorization: Basic {s}")],
            1,
            &["wrong_scheme"],
        ),
        (
            vec![format!("Authorization: Bearer Bearer {s}")],
            1,
            &["bearer_twice"],
        ),
        (
            vec![format!("x-api-key: Bearer {s}")],
            1,
            &["bearer_in_api_key"],
        ),
        (
            vec![format!("Authorization: Bearer  {s}")],
            1,
            &["bearer_spacing"],
        ),
        (vec![format!("Bearer \"{s}\"")], 1, &["quoted"]),
        (
            vec![format!("Bearer {}", &s[..s.len() - 3])],
            1,
            &["wrong_length"],
        ),
        (vec![format!("Bearer {typo}")], 1, &["checksum_mismatch"]),
        (
            vec![format!("Bearer sk-live-{}", &s[8..])],
            1,
            &["wrong_prefix"],
        ),
        (vec![format!("Bearer {pk}")], 1, &["public_key_only"]),
        // Issue 12, defect 11: warnings only exit 0 (errors exit 1).
        (
            vec![
                format!("Bearer {pk}"),
                "--origin".into(),
                "https://app.example.com".into(),
            ],
            0,
            &["public_key_only"],
        ),
        (vec![format!("Bearer {pk}:{t}")], 1, &["pair_env_mismatch"]),
        (
            vec![format!("Bearer {t}"), "--server-env".into(), "live".into()],
            1,
            &["env_mismatch"],
        ),
        (
            vec![
                format!("Bearer {s}"),
                "--secret-prefix".into(),
                "org".into(),
            ],
            1,
            &["wrong_prefix"],
        ),
    ];
    for (args, code, rules) in rows {
        let a: Vec<&str> = args.iter().map(String::as_str).collect();
        let r = doctor(&a, None);
        assert_eq!(r.code, Some(code), "{args:?}\n{}\n{}", r.stdout, r.stderr);
        if rules.is_empty() {
            assert_eq!(r.stdout.trim(), "no problems found", "{args:?}");
            assert!(r.stderr.is_empty(), "{}", r.stderr);
        } else {
            // ✗ for an error (exit 1), ⚠ for a warning (exit 0).
            let mark = if code == 0 { "⚠" } else { "✗" };
            for rule in rules {
                assert!(
                    r.stdout
                        .lines()
                        .any(|l| l.starts_with(&format!("{mark} {rule}: ")) && l.contains(" — ")),
                    "{args:?}: no `{mark} {rule}: … — …` line in\n{}",
                    r.stdout
                );
            }
            let error_lines = usize::from(code != 0);
            assert_eq!(
                r.stderr.trim_end().lines().count(),
                error_lines,
                "{}",
                r.stderr
            );
        }
        for out in [&r.stdout, &r.stderr] {
            assert!(!out.contains(random), "{args:?} leaked the secret: {out}");
            assert!(
                !out.contains(&typo[8..]),
                "{args:?} leaked the secret: {out}"
            );
        }
    }

    // From stdin, one trailing newline dropped.
    let r = doctor(&["-"], Some(&format!("Authorization: Bearer {s}\n")));
    assert_eq!(r.code, Some(0), "{}", r.stdout);
    let r = doctor(&["-"], Some(&format!("Authorization: Bearer {s}\n\n")));
    assert_eq!(r.code, Some(1), "{}", r.stdout);
    assert!(r.stdout.contains("stray_whitespace"), "{}", r.stdout);

    // JSON.
    let r = doctor(&[&format!("Bearer {typo}"), "-o", "json"], None);
    assert_eq!(r.code, Some(1));
    let v: serde_json::Value = serde_json::from_str(&r.stdout).expect("json");
    assert_eq!(v["ok"], false);
    assert_eq!(v["findings"][0]["rule"], "checksum_mismatch");
    assert_eq!(v["findings"][0]["severity"], "error");

    // Usage errors.
    assert_eq!(doctor(&[], None).code, Some(2));
    let r = doctor(&[&s, "--server-env", "prod"], None);
    assert_eq!(r.code, Some(2));
    assert!(!r.stderr.contains(random), "{}", r.stderr);
}
