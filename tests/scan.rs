//! `keyconsole scan` through the built binary: what it finds in a real tree (walk rules,
//! boundaries, positions, chunked reads of a large file), table/JSON/SARIF output (SARIF
//! validated against the official 2.1.0 schema vendored in `tests/schemas/`), exit codes,
//! `--print-patterns` (the TOML parses, the regexes match real secrets), secrets that never
//! reach stdout or stderr, and the notice `serve` prints for the default prefix.

use std::collections::BTreeSet;
use std::io::Write;
use std::path::Path;
use std::process::{Command, Stdio};

use keyconsole::domain::key::{Env, Secret, SecretPrefix};

#[path = "support/mod.rs"]
mod support;

use support::serve::{BIN, Served};

struct Run {
    code: Option<i32>,
    stdout: String,
    stderr: String,
}

fn scan_in(dir: &Path, args: &[&str], stdin: Option<&[u8]>) -> Run {
    let mut child = Command::new(BIN)
        .arg("scan")
        .args(args)
        .current_dir(dir)
        .env("NO_COLOR", "1")
        .stdin(if stdin.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run keyconsole scan");
    if let Some(input) = stdin {
        let mut w = child.stdin.take().expect("stdin");
        w.write_all(input).expect("write stdin");
    }
    let out = child.wait_with_output().expect("wait");
    Run {
        code: out.status.code(),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

fn new_secret(prefix: &str, env: Env) -> String {
    let p = SecretPrefix::new(prefix).expect("valid prefix");
    Secret::generate(&p, env, &mut keyconsole::server::os_random)
        .expose()
        .to_owned()
}

/// A file's text, recording where each real secret lands (1-based line, column in chars).
#[derive(Default)]
struct Doc {
    bytes: Vec<u8>,
    line: u64,
    col: u64,
    found: Vec<(u64, u64, String)>,
}

impl Doc {
    fn new() -> Doc {
        Doc {
            line: 1,
            col: 1,
            ..Doc::default()
        }
    }

    fn raw(&mut self, b: &[u8]) -> &mut Doc {
        for &c in b {
            if c == b'\n' {
                self.line += 1;
                self.col = 1;
            } else if c & 0xC0 != 0x80 {
                self.col += 1;
            }
        }
        self.bytes.extend_from_slice(b);
        self
    }

    fn text(&mut self, t: &str) -> &mut Doc {
        self.raw(t.as_bytes())
    }

    fn secret(&mut self, s: &str) -> &mut Doc {
        self.found.push((self.line, self.col, s.to_owned()));
        self.text(s)
    }
}

/// Everything planted in a tree: the expected table lines and every secret written anywhere
/// (found or not), which no output may contain.
#[derive(Default)]
struct Tree {
    expected: BTreeSet<String>,
    secrets: Vec<String>,
}

impl Tree {
    fn write(&mut self, root: &Path, rel: &str, doc: &Doc, reported: bool) {
        let p = root.join(rel);
        std::fs::create_dir_all(p.parent().expect("parent")).expect("mkdir");
        std::fs::write(&p, &doc.bytes).expect("write");
        for (line, col, s) in &doc.found {
            self.secrets.push(s.clone());
            if reported {
                let env = if s.contains("_live_") { "live" } else { "test" };
                self.expected
                    .insert(format!("{rel}:{line}:{col}  {env}  …{}", &s[s.len() - 4..]));
            }
        }
    }
}

/// Neither the secret nor any 12 characters of its random part and checksum appear.
fn assert_no_secret(what: &str, text: &str, secrets: &[String]) {
    for s in secrets {
        let body_at = s.rfind('_').expect("prefix") + 1;
        let body = &s[body_at..];
        for w in 0..=body.len() - 12 {
            assert!(
                !text.contains(&body[w..w + 12]),
                "{what} holds part of a secret ({}…):\n{text}",
                &body[w..w + 12]
            );
        }
    }
}

fn near_misses(d: &mut Doc, s: &str) {
    let mut bad = s.to_owned();
    let last = bad.pop().expect("non-empty");
    bad.push(if last == 'A' { 'B' } else { 'A' });
    d.text(&format!("checksum: {bad}\n"));
    d.text(&format!("truncated: {}\n", &s[..s.len() - 1]));
    d.text(&format!("extended: {s}x\n"));
    d.text(&format!("glued: x{s}\n"));
    d.text(&format!(
        "wrong env: {}\n",
        s.replacen("_live_", "_prod_", 1)
    ));
    d.text(&format!("wrong prefix: {}\n", s.replacen("sk_", "zz_", 1)));
}

/// A tree with secrets in every kind of place the walk should and should not look.
fn plant(root: &Path) -> Tree {
    let mut t = Tree::default();

    let mut d = Doc::new();
    let (s1, s2) = (new_secret("sk", Env::Live), new_secret("sk", Env::Test));
    d.text("{\n  \"secret\": \"")
        .secret(&s1)
        .text("\",\n  \"credential\": \"pk_live_0123456789abcdefABCDEFGH:")
        .secret(&s2)
        .text("\"\n}\n");
    t.write(root, "app/config.json", &d, true);

    let mut d = Doc::new();
    d.text("# é日本\nKEYCONSOLE_TOKEN=")
        .secret(&new_secret("sk", Env::Live))
        .text("\nURL=https://x.example/?k=%22")
        .secret(&new_secret("sk", Env::Live))
        .text("%22&y=%3D")
        .secret(&new_secret("sk", Env::Test))
        .text("\n");
    t.write(root, "app/.env", &d, true);

    let mut d = Doc::new();
    d.text("let s = \"line\\n")
        .secret(&new_secret("sk", Env::Live))
        .text("\\n\"; // é\r\n\tlet u = \"\\u0022")
        .secret(&new_secret("sk", Env::Test))
        .text("\\u0022\";\r\n");
    t.write(root, "src/main.rs", &d, true);

    // Near-misses only: nothing reported.
    let mut d = Doc::new();
    for _ in 0..20 {
        near_misses(&mut d, &new_secret("sk", Env::Live));
    }
    t.write(root, "app/near-misses.txt", &d, true);
    assert!(d.found.is_empty());

    // Binary: a NUL in the first 8 KiB: skipped. A NUL after 8 KiB: text.
    let mut d = Doc::new();
    d.raw(b"\x7fELF\0\0\0").secret(&new_secret("sk", Env::Live));
    t.write(root, "bin/blob.bin", &d, false);
    let mut d = Doc::new();
    d.text(&"a".repeat(9000))
        .raw(b"\0\n")
        .secret(&new_secret("sk", Env::Live));
    t.write(root, "bin/late-nul.txt", &d, true);
    // Not UTF-8, no NUL: text; a stray byte counts as a column.
    let mut d = Doc::new();
    d.raw(b"\xff\xfe ").secret(&new_secret("sk", Env::Test));
    t.write(root, "bin/latin1.txt", &d, true);

    // `.git` is skipped, as a folder or a file.
    let mut d = Doc::new();
    d.text("[remote]\ntoken = ")
        .secret(&new_secret("sk", Env::Live));
    t.write(root, ".git/config", &d, false);
    t.write(root, "vendor/lib/.git", &d, false);

    // A file named like a secret, holding one: the name is masked.
    let named = new_secret("sk", Env::Live);
    t.secrets.push(named.clone());
    let mut d = Doc::new();
    d.secret(&new_secret("sk", Env::Test));
    let rel = format!("names/{named}.txt");
    t.write(root, &rel, &d, false);
    let s = &d.found[0].2;
    t.expected.insert(format!(
        "names/sk_live_[redacted].txt:1:1  test  …{}",
        &s[s.len() - 4..]
    ));

    // Deep folders.
    let mut d = Doc::new();
    d.text("x ").secret(&new_secret("sk", Env::Live));
    let deep: Vec<String> = (0..40).map(|i| format!("d{i}")).collect();
    t.write(root, &format!("{}/f.txt", deep.join("/")), &d, true);

    // A large file read in many chunks, with secrets across the 256 KiB read boundaries.
    let mut d = Doc::new();
    for boundary in [1u64 << 18, 2 << 18, 3 << 18, 5 << 18] {
        for back in [60u64, 30, 10] {
            while (d.bytes.len() as u64) + 1 < boundary - back {
                let room = (boundary - back - 1) - d.bytes.len() as u64;
                if room > 80 {
                    d.text(&format!("{}\n", "fn some_test_helper() {} // é ".repeat(2)));
                } else {
                    d.text(&"_".repeat(room as usize));
                }
            }
            d.text(" ").secret(&new_secret("sk", Env::Live)).text("\n");
        }
    }
    d.text("end\n");
    t.write(root, "big/log.txt", &d, true);

    // Symbolic links are not followed: a loop, and a file outside the tree.
    let outside = root.with_extension("outside");
    std::fs::create_dir_all(&outside).expect("mkdir");
    let mut d = Doc::new();
    d.secret(&new_secret("sk", Env::Live));
    t.secrets.push(d.found[0].2.clone());
    std::fs::write(outside.join("secret.txt"), &d.bytes).expect("write");
    std::os::unix::fs::symlink(root, root.join("app/loop")).expect("symlink");
    std::os::unix::fs::symlink(outside.join("secret.txt"), root.join("app/outside.txt"))
        .expect("symlink");
    t
}

fn lines(s: &str) -> BTreeSet<String> {
    s.lines().map(str::to_owned).collect()
}

#[test]
fn scan_finds_every_secret_in_a_tree_and_prints_none() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let root = tmp.path().join("repo");
    let t = plant(&root);
    assert!(t.expected.len() >= 20, "{}", t.expected.len());

    let r = scan_in(&root, &[], None);
    assert_eq!(r.code, Some(1), "{}\n{}", r.stdout, r.stderr);
    assert_eq!(lines(&r.stdout), t.expected, "stderr: {}", r.stderr);
    assert_eq!(r.stderr.lines().count(), 1, "{}", r.stderr);
    assert!(
        r.stderr
            .contains(&format!("found {} secrets", t.expected.len())),
        "{}",
        r.stderr
    );
    assert_no_secret("table stdout", &r.stdout, &t.secrets);
    assert_no_secret("stderr", &r.stderr, &t.secrets);

    // The same with the folder named, JSON and SARIF: no secret anywhere.
    for args in [&["."][..], &["-o", "json"], &["-o", "sarif", "."]] {
        let r = scan_in(&root, args, None);
        assert_eq!(r.code, Some(1), "{args:?}: {}", r.stderr);
        assert_no_secret("stdout", &r.stdout, &t.secrets);
        assert_no_secret("stderr", &r.stderr, &t.secrets);
    }

    // A binary file named on the command line is read.
    let r = scan_in(&root, &["bin/blob.bin"], None);
    assert_eq!(r.code, Some(1), "{}", r.stderr);
    assert_eq!(r.stdout.lines().count(), 1, "{}", r.stdout);
    assert!(
        r.stdout.starts_with("bin/blob.bin:1:8  live  …"),
        "{}",
        r.stdout
    );
    std::fs::remove_dir_all(root.with_extension("outside")).expect("cleanup");
}

#[test]
fn json_output_has_the_documented_shape() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let s = new_secret("sk", Env::Test);
    std::fs::write(tmp.path().join("a.txt"), format!("x\n  {s}\n")).expect("write");
    let r = scan_in(tmp.path(), &["-o", "json", "a.txt"], None);
    assert_eq!(r.code, Some(1), "{}", r.stderr);
    let v: serde_json::Value = serde_json::from_str(&r.stdout).expect("json");
    assert_eq!(
        v,
        serde_json::json!({"findings": [{
            "path": "a.txt", "line": 2, "column": 3, "env": "test",
            "hint": format!("…{}", &s[s.len() - 4..]), "key": null,
        }]})
    );
    // Nothing found: an empty list and exit 0.
    std::fs::write(tmp.path().join("a.txt"), "nothing").expect("write");
    let r = scan_in(tmp.path(), &["-o", "json"], None);
    assert_eq!(r.code, Some(0), "{}", r.stderr);
    let v: serde_json::Value = serde_json::from_str(&r.stdout).expect("json");
    assert_eq!(v, serde_json::json!({"findings": []}));
    assert_eq!(r.stderr, "");
}

fn sarif_validator() -> jsonschema::Validator {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/schemas/sarif-schema-2.1.0.json");
    let schema: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(path).expect("vendored schema"))
            .expect("schema is JSON");
    jsonschema::draft4::options()
        .should_validate_formats(true)
        .build(&schema)
        .expect("the SARIF schema compiles")
}

fn schema_errors(v: &jsonschema::Validator, doc: &serde_json::Value) -> Vec<String> {
    v.iter_errors(doc)
        .map(|e| format!("{} at {}", e, e.instance_path()))
        .collect()
}

#[test]
fn sarif_output_is_valid_sarif_2_1_0() {
    let validator = sarif_validator();
    let tmp = tempfile::tempdir().expect("tempdir");
    let root = tmp.path();
    let (live, test) = (new_secret("sk", Env::Live), new_secret("sk", Env::Test));
    std::fs::create_dir_all(root.join("dir with space")).expect("mkdir");
    std::fs::write(
        root.join("dir with space/é.env"),
        format!("A={live}\nB=\"{test}\"\n"),
    )
    .expect("write");
    let r = scan_in(root, &["-o", "sarif"], None);
    assert_eq!(r.code, Some(1), "{}", r.stderr);
    assert_no_secret("sarif", &r.stdout, &[live.clone(), test.clone()]);
    let doc: serde_json::Value = serde_json::from_str(&r.stdout).expect("json");
    let errors = schema_errors(&validator, &doc);
    assert!(errors.is_empty(), "{errors:#?}\n{}", r.stdout);

    let run = &doc["runs"][0];
    assert_eq!(doc["version"], "2.1.0");
    assert_eq!(run["columnKind"], "unicodeCodePoints");
    let rules: Vec<&str> = run["tool"]["driver"]["rules"]
        .as_array()
        .expect("rules")
        .iter()
        .map(|r| r["id"].as_str().expect("id"))
        .collect();
    let results = run["results"].as_array().expect("results");
    assert_eq!(results.len(), 2);
    for (res, (secret, line, col, rule)) in results.iter().zip([
        (&live, 1, 3, "keyconsole/live-secret"),
        (&test, 2, 4, "keyconsole/test-secret"),
    ]) {
        assert_eq!(res["ruleId"], rule);
        assert_eq!(
            rules[res["ruleIndex"].as_u64().expect("index") as usize],
            rule
        );
        let text = res["message"]["text"].as_str().expect("message");
        assert!(text.contains(&secret[secret.len() - 4..]), "{text}");
        let loc = &res["locations"][0]["physicalLocation"];
        assert_eq!(
            loc["artifactLocation"]["uri"],
            "dir%20with%20space/%C3%A9.env"
        );
        assert_eq!(loc["artifactLocation"]["uriBaseId"], "%SRCROOT%");
        assert_eq!(loc["region"]["startLine"], line);
        assert_eq!(loc["region"]["startColumn"], col);
        assert_eq!(loc["region"]["endColumn"], col + secret.len());
    }
    assert_eq!(run["invocations"][0]["executionSuccessful"], true);

    // Empty results, stdin and an absolute path are valid too.
    let r = scan_in(root, &["-o", "sarif", "-"], Some(b"nothing here"));
    assert_eq!(r.code, Some(0), "{}", r.stderr);
    let doc: serde_json::Value = serde_json::from_str(&r.stdout).expect("json");
    assert!(schema_errors(&validator, &doc).is_empty());
    let abs = root.join("dir with space/é.env");
    let abs = abs.to_str().expect("utf-8 path");
    let r = scan_in(root, &["-o", "sarif", "-", abs], Some(live.as_bytes()));
    let doc: serde_json::Value = serde_json::from_str(&r.stdout).expect("json");
    assert!(schema_errors(&validator, &doc).is_empty(), "{}", r.stdout);
    let results = doc["runs"][0]["results"].as_array().expect("results");
    assert_eq!(results.len(), 3);
    let first = &results[0]["locations"][0]["physicalLocation"]["artifactLocation"];
    assert_eq!(first["description"]["text"], "standard input");
    let uri = results[1]["locations"][0]["physicalLocation"]["artifactLocation"]["uri"]
        .as_str()
        .expect("uri");
    assert!(
        uri.starts_with("file:///") && uri.ends_with("/dir%20with%20space/%C3%A9.env"),
        "{uri}"
    );

    // The validator really checks: a result without a message, or a string line, fails.
    let mut broken = doc.clone();
    broken["runs"][0]["results"][1]
        .as_object_mut()
        .expect("result")
        .remove("message");
    assert!(!schema_errors(&validator, &broken).is_empty());
    let mut broken = doc;
    broken["runs"][0]["results"][1]["locations"][0]["physicalLocation"]["region"]["startLine"] =
        serde_json::json!("1");
    assert!(!schema_errors(&validator, &broken).is_empty());
}

#[test]
fn stdin_exit_codes_and_usage_errors() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let s = new_secret("acme", Env::Live);
    let input = format!("one\ntwo {s}\n");
    // Another deployment's prefix: found only with its --secret-prefix.
    let r = scan_in(tmp.path(), &["-"], Some(input.as_bytes()));
    assert_eq!(r.code, Some(0), "{}", r.stderr);
    assert_eq!(r.stdout, "no secrets found in 1 file (0.0 MB)\n");
    let r = scan_in(
        tmp.path(),
        &["--secret-prefix", "sk", "--secret-prefix", "acme", "-"],
        Some(input.as_bytes()),
    );
    assert_eq!(r.code, Some(1), "{}", r.stderr);
    assert_eq!(r.stdout, format!("-:2:5  live  …{}\n", &s[s.len() - 4..]));
    let r = scan_in(
        tmp.path(),
        &["--secret-prefix", "sk,acme", "-"],
        Some(input.as_bytes()),
    );
    assert_eq!(r.code, Some(1), "{}", r.stderr);

    for (args, says) in [
        (&["missing-file"][..], "no such file or folder"),
        (&["--secret-prefix", "Bad!", "."], "--secret-prefix"),
        (&["-o", "xml"], "xml"),
        (&["--print-patterns", "."], "cannot be used"),
        (&["--check", "--disable"], "--disable"),
    ] {
        let r = scan_in(tmp.path(), args, None);
        assert_eq!(r.code, Some(2), "{args:?}: {}", r.stderr);
        assert_eq!(r.stderr.lines().count(), 1, "{args:?}: {}", r.stderr);
        assert!(r.stderr.contains(says), "{args:?}: {}", r.stderr);
        assert_eq!(r.stdout, "");
    }
    // A secret given as a path is never echoed.
    let r = scan_in(tmp.path(), &[&s], None);
    assert_eq!(r.code, Some(2));
    assert_no_secret("stderr", &r.stderr, &[s]);
}

#[test]
fn an_unreadable_file_makes_the_scan_incomplete() {
    // Reading /proc/self/mem at offset 0 fails with EIO (a real read error, even for root).
    let mem = Path::new("/proc/self/mem");
    if !mem.exists() {
        eprintln!("skipped: no /proc/self/mem on this system");
        return;
    }
    let tmp = tempfile::tempdir().expect("tempdir");
    let s = new_secret("sk", Env::Live);
    std::fs::write(tmp.path().join("a.txt"), &s).expect("write");
    let r = scan_in(tmp.path(), &["/proc/self/mem"], None);
    assert_eq!(r.code, Some(1), "{}\n{}", r.stdout, r.stderr);
    assert!(
        r.stderr.contains("cannot read /proc/self/mem"),
        "{}",
        r.stderr
    );
    assert!(r.stderr.contains("the scan is incomplete"), "{}", r.stderr);
    let r = scan_in(tmp.path(), &["/proc/self/mem", "a.txt"], None);
    assert_eq!(r.code, Some(1));
    assert!(r.stdout.starts_with("a.txt:1:1  live"), "{}", r.stdout);
    assert!(
        r.stderr.contains("found 1 secret in 1 file"),
        "{}",
        r.stderr
    );
    assert!(
        r.stderr.contains("1 path could not be read"),
        "{}",
        r.stderr
    );
    let r = scan_in(tmp.path(), &["-o", "sarif", "/proc/self/mem"], None);
    let doc: serde_json::Value = serde_json::from_str(&r.stdout).expect("json");
    assert!(schema_errors(&sarif_validator(), &doc).is_empty());
    assert_eq!(
        doc["runs"][0]["invocations"][0]["executionSuccessful"],
        false
    );
}

#[test]
fn print_patterns_parse_and_match_real_secrets() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let r = scan_in(
        tmp.path(),
        &[
            "--print-patterns",
            "--secret-prefix",
            "acme",
            "--secret-prefix",
            "sk",
        ],
        None,
    );
    assert_eq!(r.code, Some(0), "{}", r.stderr);
    let doc: toml::Value = toml::from_str(&r.stdout).expect("the output is one TOML document");
    let rule = &doc["rules"][0];
    assert_eq!(rule["id"].as_str(), Some("keyconsole-secret"));
    assert_eq!(rule["secretGroup"].as_integer(), Some(1));
    let keywords: Vec<&str> = rule["keywords"]
        .as_array()
        .expect("keywords")
        .iter()
        .filter_map(|k| k.as_str())
        .collect();
    assert_eq!(
        keywords,
        ["acme_live_", "acme_test_", "sk_live_", "sk_test_"]
    );
    let gitleaks = regex::Regex::new(rule["regex"].as_str().expect("regex")).expect("compiles");

    let field = |name: &str| {
        r.stdout
            .lines()
            .find_map(|l| l.strip_prefix(&format!("#   {name}:")))
            .map(str::trim)
            .unwrap_or_else(|| panic!("no {name} line:\n{}", r.stdout))
            .to_owned()
    };
    let github = regex::Regex::new(&format!(
        "(?:{})({})(?:{})",
        field("Before secret"),
        field("Secret format"),
        field("After secret")
    ))
    .expect("compiles");

    let prefixes = [
        SecretPrefix::new("acme").expect("valid"),
        SecretPrefix::default(),
    ];
    let matcher = keyconsole::domain::scan::Matcher::new(&prefixes);
    for prefix in ["sk", "acme"] {
        for env in [Env::Live, Env::Test] {
            let s = new_secret(prefix, env);
            for text in [
                s.clone(),
                format!("KEY={s}\n"),
                format!("{{\"k\":\"{s}\"}}"),
                format!("pk_live_0123456789abcdefABCDEFGH:{s}"),
                format!("?k=%22{s}%22"),
                format!("\"\\n{s}\""),
                format!("\"\\u0022{s}\""),
            ] {
                assert_eq!(matcher.find_all(text.as_bytes()).len(), 1, "{text}");
                for (name, re) in [("gitleaks", &gitleaks), ("github", &github)] {
                    let got = re
                        .captures(&text)
                        .and_then(|c| c.get(1))
                        .map(|m| m.as_str());
                    assert_eq!(got, Some(s.as_str()), "{name} on {text}");
                }
            }
            // Look-alikes of the wrong shape do not match either.
            for text in [
                format!("x{s}"),
                format!("{s}x"),
                s[..s.len() - 1].to_owned(),
            ] {
                assert!(gitleaks.captures(&text).is_none(), "{text}");
                assert!(github.captures(&text).is_none(), "{text}");
            }
        }
    }
    // The Stripe caveat is printed for the default prefix only.
    assert!(r.stdout.contains("Stripe"));
    let r = scan_in(
        tmp.path(),
        &["--print-patterns", "--secret-prefix", "acme"],
        None,
    );
    assert!(!r.stdout.contains("Stripe"), "{}", r.stdout);
    toml::from_str::<toml::Value>(&r.stdout).expect("TOML");
}

/// Start `serve`, wait for its ready line, stop it with SIGTERM, and return all of stderr.
fn serve_stderr(listen: &str, extra: &[&str]) -> String {
    let tmp = tempfile::tempdir().expect("tempdir");
    let db = format!("sqlite://{}", tmp.path().join("k.db").display());
    let created = Command::new(BIN)
        .args(["org", "create", "Acme", "--database", &db])
        .args(extra)
        .output()
        .expect("org create");
    assert!(
        created.status.success(),
        "{}",
        String::from_utf8_lossy(&created.stderr)
    );
    let mut args = vec!["--listen", listen, "--database", &db];
    args.extend_from_slice(extra);
    let mut served = Served::start_with(&args, "info");
    assert_eq!(served.term(), 0, "serve exits 0 on SIGTERM");
    served.log()
}

#[test]
fn serve_gives_one_notice_beyond_loopback_with_the_default_prefix() {
    // Bound to every interface for a moment; no traffic is sent.
    let all = serve_stderr("0.0.0.0:0", &[]);
    assert_eq!(all.matches("default prefix `sk`").count(), 1, "{all}");
    assert!(all.contains("--secret-prefix"), "{all}");
    let before_ready = all.split("listening on").next().unwrap_or("");
    assert!(before_ready.contains("notice:"), "{all}");

    let all = serve_stderr("127.0.0.1:0", &[]);
    assert!(!all.contains("notice:"), "{all}");
    let all = serve_stderr("0.0.0.0:0", &["--secret-prefix", "acme"]);
    assert!(!all.contains("notice:"), "{all}");
}
