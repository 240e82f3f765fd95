//! `keyconsole scan` (API.md §9): find our secrets in files, folders and stdin, and print
//! where they are (table, JSON or SARIF 2.1.0) without ever printing one; `--print-patterns`
//! for the scanners people already run; and the notice `serve` gives when its secrets look
//! like Stripe's.
//!
//! The matching is [`crate::domain::scan`] (pure); this module walks folders, reads files in
//! chunks into the matcher's buffer, and formats the results. One thread: the matcher is
//! fast enough that reading the files is most of the cost.
//!
//! Walking: folders recursively, in name order (a folder's files before its subfolders);
//! `.git` is skipped; symbolic links found inside a folder are not followed (a link into
//! the tree is scanned where it points, one out of the tree is not the tree's), so a link
//! loop cannot trap the walk; files whose first 8 KiB hold a NUL byte are binary and
//! skipped. A path named on the command line is always read, whatever it is, and so is `-`
//! (stdin).

use std::ffi::OsString;
use std::fs::{self, FileType};
use std::io::{self, Read, Write};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use clap::{Args, ValueEnum};

use super::CliError;
use crate::api::{KeyObject, LeakAction, LeakReport, MAX_LEAK_ITEMS, MAX_LEAK_SOURCE_CHARS};
use crate::domain::key::{Env, SecretPrefix};
use crate::domain::scan::{
    AFTER_SECRET_REGEX, BEFORE_SECRET_REGEX, Finding, Matcher, Scanner, hash_hex,
    leak_hash_batches, secret_regex,
};

/// Bytes asked for per read.
const READ_SIZE: usize = 256 * 1024;
/// A file with a NUL byte in this many first bytes is binary.
pub const BINARY_SNIFF: usize = 8 * 1024;

/// `keyconsole scan`
#[derive(Debug, Args)]
pub struct ScanArgs {
    /// Files and folders to scan (folders recursively, skipping `.git`, binary files and
    /// symbolic links inside them); `-` reads stdin. Default: the current folder.
    #[arg(value_name = "PATH")]
    pub paths: Vec<PathBuf>,
    /// The deployment's secret prefix (`serve --secret-prefix`); repeat, or separate with
    /// commas, for several.
    #[arg(
        long = "secret-prefix",
        value_name = "P",
        default_value = "sk",
        value_delimiter = ','
    )]
    pub secret_prefix: Vec<String>,
    /// Output format: `path:line:col  env  …last4` lines, JSON, or SARIF 2.1.0.
    #[arg(short = 'o', long = "output", value_enum, default_value = "table")]
    pub output: ScanOutput,
    /// Print a gitleaks rule (TOML) and a GitHub secret scanning custom pattern for the
    /// prefixes, and scan nothing.
    #[arg(long, conflicts_with_all = ["paths", "output"])]
    pub print_patterns: bool,
    /// Ask the key service which findings are live keys of your organization (name, status):
    /// only the secrets' SHA-256s are sent (`POST /v1/leaks`, `report`; token from
    /// KEYCONSOLE_TOKEN or --profile). Each match is recorded as leaked, seen in its file.
    #[arg(long, conflicts_with_all = ["disable", "print_patterns"])]
    pub check: bool,
    /// Like --check, and disable every live key found (`POST /v1/leaks`, `disable`).
    #[arg(long, conflicts_with = "print_patterns")]
    pub disable: bool,
}

/// How `scan` prints what it found.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ScanOutput {
    /// `path:line:col  env  …last4`, one line per secret.
    Table,
    /// `{"findings": [{"path", "line", "column", "env", "hint", "key"}]}`.
    Json,
    /// SARIF 2.1.0, for code-scanning uploads.
    Sarif,
}

/// What to read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Input {
    /// Standard input (`-`).
    Stdin,
    /// A file or a folder.
    Path(PathBuf),
}

/// One secret found, and where.
#[derive(Debug, Clone)]
pub struct Located {
    /// The path as shown (secret-shaped parts of a file name are masked); `-` for stdin.
    pub path: String,
    /// Whether it was read from stdin.
    pub stdin: bool,
    /// What the matcher found.
    pub finding: Finding,
    /// The live key this secret belongs to, when the key service was asked (`--check`).
    pub key: Option<KeyObject>,
}

/// Everything a scan saw.
#[derive(Debug, Default)]
pub struct ScanOutcome {
    /// Secrets, in walk order.
    pub found: Vec<Located>,
    /// Files (and stdin) read.
    pub files: u64,
    /// Bytes read.
    pub bytes: u64,
    /// Files skipped as binary.
    pub binary: u64,
    /// Symbolic links not followed.
    pub symlinks: u64,
    /// `.git` entries skipped.
    pub git: u64,
    /// Sockets, FIFOs and devices found in folders, not read.
    pub special: u64,
    /// Paths that could not be read (path as shown, error), in walk order.
    pub unreadable: Vec<(String, String)>,
}

/// Scan `inputs` with `matcher` on this thread.
pub fn scan_inputs(inputs: &[Input], matcher: &Matcher) -> ScanOutcome {
    let mut w = Walker {
        matcher,
        scanner: Scanner::with_growth(matcher, READ_SIZE),
        outcome: ScanOutcome::default(),
    };
    for input in inputs {
        match input {
            Input::Stdin => {
                let stdin = io::stdin();
                let mut lock = stdin.lock();
                w.read_one(&mut lock, None, false);
            }
            Input::Path(p) => w.path(p),
        }
    }
    w.outcome
}

struct Walker<'m> {
    matcher: &'m Matcher,
    scanner: Scanner<'m>,
    outcome: ScanOutcome,
}

impl Walker<'_> {
    /// A path named on the command line: a folder is walked, anything else is read.
    fn path(&mut self, p: &Path) {
        match fs::metadata(p) {
            Ok(m) if m.is_dir() => self.tree(p),
            Ok(_) => self.file(p, false),
            Err(e) => self.unreadable(p, &e),
        }
    }

    fn tree(&mut self, root: &Path) {
        let mut stack = vec![root.to_path_buf()];
        while let Some(dir) = stack.pop() {
            let entries = match fs::read_dir(&dir) {
                Ok(r) => r,
                Err(e) => {
                    self.unreadable(&dir, &e);
                    continue;
                }
            };
            let mut list: Vec<(OsString, FileType)> = Vec::new();
            for entry in entries {
                match entry.and_then(|e| Ok((e.file_name(), e.file_type()?))) {
                    Ok(x) => list.push(x),
                    Err(e) => self.unreadable(&dir, &e),
                }
            }
            list.sort_by(|a, b| a.0.cmp(&b.0));
            let mut subdirs = Vec::new();
            for (name, kind) in list {
                if name == ".git" {
                    self.outcome.git += 1;
                    continue;
                }
                let p = dir.join(&name);
                if kind.is_symlink() {
                    self.outcome.symlinks += 1;
                } else if kind.is_dir() {
                    subdirs.push(p);
                } else if kind.is_file() {
                    self.file(&p, true);
                } else {
                    self.outcome.special += 1;
                }
            }
            stack.extend(subdirs.into_iter().rev());
        }
    }

    fn file(&mut self, p: &Path, skip_binary: bool) {
        match fs::File::open(p) {
            Ok(mut f) => self.read_one(&mut f, Some(p), skip_binary),
            Err(e) => self.unreadable(p, &e),
        }
    }

    fn unreadable(&mut self, p: &Path, e: &io::Error) {
        let shown = shown_path(self.matcher, &p.display().to_string());
        self.outcome.unreadable.push((shown, e.to_string()));
    }

    /// Read one input (a file, or stdin for `None`) to its end through the matcher.
    fn read_one(&mut self, r: &mut dyn Read, path: Option<&Path>, skip_binary: bool) {
        let mut found = Vec::new();
        let mut sniffed = 0;
        let mut failed = None;
        loop {
            let space = self.scanner.space(READ_SIZE);
            let n = match r.read(space) {
                Ok(0) => break,
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => {
                    failed = Some(e);
                    break;
                }
            };
            if skip_binary && sniffed < BINARY_SNIFF {
                let look = n.min(BINARY_SNIFF - sniffed);
                if memchr::memchr(0, &space[..look]).is_some() {
                    self.scanner.reset();
                    self.outcome.binary += 1;
                    return;
                }
                sniffed += look;
            }
            self.scanner.advance(n, &mut found);
        }
        self.outcome.files += 1;
        self.outcome.bytes += self.scanner.bytes_seen();
        // Secrets found before a read error are real: keep them, and report the error.
        self.scanner.finish(&mut found);
        // The path is formatted only when there is something to say about it.
        let shown = || match path {
            Some(p) => shown_path(self.matcher, &p.display().to_string()),
            None => "-".to_owned(),
        };
        if !found.is_empty() {
            let shown = shown();
            self.outcome
                .found
                .extend(found.into_iter().map(|finding| Located {
                    path: shown.clone(),
                    stdin: path.is_none(),
                    finding,
                    key: None,
                }));
        }
        if let Some(e) = failed {
            self.outcome.unreadable.push((shown(), e.to_string()));
        }
    }
}

/// A path as printed: without a leading `./`, and with any secret in a file or folder name
/// masked (`sk_live_[redacted]`), since nothing `scan` prints may hold a secret.
pub fn shown_path(matcher: &Matcher, path: &str) -> String {
    let mut path = path;
    while let Some(rest) = path.strip_prefix("./") {
        path = rest;
    }
    let found = matcher.find_all(path.as_bytes());
    if found.is_empty() {
        return path.to_owned();
    }
    let mut out = String::with_capacity(path.len());
    let mut at = 0;
    for f in found {
        let start = f.offset as usize;
        out.push_str(&path[at..start]);
        out.push_str(&format!("{}_{}_[redacted]", f.prefix.as_str(), f.env));
        at = start + f.len;
    }
    out.push_str(&path[at..]);
    out
}

/// For `--check`: which answer of `POST /v1/leaks` (hex SHA-256 → key or `null`) belongs to
/// each finding. Hashes come from [`crate::domain::scan::leak_hash_batches`].
pub fn attach_keys(
    found: &mut [Located],
    answers: impl IntoIterator<Item = (String, Option<KeyObject>)>,
) {
    let answers: std::collections::HashMap<String, Option<KeyObject>> =
        answers.into_iter().collect();
    for l in found {
        if let Some(k) = answers.get(&hash_hex(&l.finding.hash)) {
            l.key = k.clone();
        }
    }
}

/// Where a report says the secrets were seen: the file, as shown.
fn leak_source(path: &str) -> String {
    let s = format!("keyconsole scan: {}", printable(path));
    if s.chars().count() <= MAX_LEAK_SOURCE_CHARS {
        return s;
    }
    let mut cut: String = s.chars().take(MAX_LEAK_SOURCE_CHARS - 1).collect();
    cut.push('…');
    cut
}

/// `--check` / `--disable`: send the findings' SHA-256s, grouped by the file each was first
/// seen in, and attach the answers. No secret leaves this process.
async fn check_findings(
    client: &crate::client::Client,
    outcome: &mut ScanOutcome,
    action: LeakAction,
) -> Result<(), CliError> {
    let mut by_file: Vec<(String, Vec<Finding>)> = Vec::new();
    let mut seen = std::collections::HashSet::new();
    for l in &outcome.found {
        if !seen.insert(l.finding.hash) {
            continue;
        }
        match by_file.iter_mut().find(|(p, _)| *p == l.path) {
            Some((_, v)) => v.push(l.finding.clone()),
            None => by_file.push((l.path.clone(), vec![l.finding.clone()])),
        }
    }
    let mut answers = Vec::new();
    for (path, findings) in by_file {
        for hashes in leak_hash_batches(&findings, MAX_LEAK_ITEMS) {
            let out = client
                .report_leaks(&LeakReport {
                    hashes,
                    source: leak_source(&path),
                    action,
                })
                .await
                .map_err(super::client_error)?;
            answers.extend(out.data.into_iter().map(|r| (r.hash, r.key)));
        }
    }
    attach_keys(&mut outcome.found, answers);
    Ok(())
}

/// Run `keyconsole scan`: exit 0 nothing found, 1 found (or a file could not be read), 2
/// usage error. `--check` and `--disable` connect like the `keys` commands.
pub async fn run(url: Option<&str>, profile: Option<&str>, a: ScanArgs) -> Result<(), CliError> {
    let action = if a.disable {
        Some(LeakAction::Disable)
    } else if a.check {
        Some(LeakAction::Report)
    } else {
        None
    };
    // Connect first: a missing token is a usage error before any file is read.
    let client = action.map(|_| super::connect(url, profile)).transpose()?;
    let prefixes = a
        .secret_prefix
        .iter()
        .map(|p| super::prefix(p.trim()))
        .collect::<Result<Vec<SecretPrefix>, CliError>>()?;
    if a.print_patterns {
        return write_out(&patterns(&prefixes));
    }
    let mut inputs = Vec::new();
    for p in &a.paths {
        if p.as_os_str() == "-" {
            inputs.push(Input::Stdin);
        } else if fs::symlink_metadata(p).is_err() && fs::metadata(p).is_err() {
            return Err(CliError::Usage(format!(
                "{}: no such file or folder; pass files or folders to scan, or - for stdin",
                super::redact_secret_shapes(&p.display().to_string())
            )));
        } else {
            inputs.push(Input::Path(p.clone()));
        }
    }
    if inputs.is_empty() {
        inputs.push(Input::Path(PathBuf::from(".")));
    }
    let matcher = Matcher::new(&prefixes);
    let mut outcome = scan_inputs(&inputs, &matcher);
    if let (Some(client), Some(action)) = (&client, action)
        && !outcome.found.is_empty()
    {
        check_findings(client, &mut outcome, action).await?;
    }
    for (path, e) in &outcome.unreadable {
        eprintln!("keyconsole scan: cannot read {}: {e}", printable(path));
    }
    let text = match a.output {
        ScanOutput::Table => table(&outcome, action.is_some()),
        ScanOutput::Json => json(&outcome)?,
        ScanOutput::Sarif => sarif(&outcome, &matcher)?,
    };
    write_out(&text)?;
    verdict(&outcome)
}

/// Print to stdout; a closed pipe (`scan | head`) is not an error.
fn write_out(text: &str) -> Result<(), CliError> {
    let mut out = io::stdout().lock();
    match out.write_all(text.as_bytes()).and_then(|()| out.flush()) {
        Err(e) if e.kind() != io::ErrorKind::BrokenPipe => {
            Err(CliError::Runtime(format!("cannot write the output: {e}")))
        }
        _ => Ok(()),
    }
}

fn plural(n: usize, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}

fn verdict(o: &ScanOutcome) -> Result<(), CliError> {
    let unreadable = (!o.unreadable.is_empty()).then(|| {
        format!(
            "{} could not be read (see above)",
            plural(o.unreadable.len(), "path", "paths")
        )
    });
    if o.found.is_empty() {
        return match unreadable {
            None => Ok(()),
            Some(u) => Err(CliError::Runtime(format!(
                "no secrets found, but the scan is incomplete: {u}"
            ))),
        };
    }
    let mut files: Vec<&str> = o.found.iter().map(|l| l.path.as_str()).collect();
    files.dedup();
    let mut msg = format!(
        "found {} in {}: revoke or rotate each key, then remove the secret from the files and their history",
        plural(o.found.len(), "secret", "secrets"),
        plural(files.len(), "file", "files"),
    );
    if let Some(u) = unreadable {
        msg.push_str("; ");
        msg.push_str(&u);
    }
    Err(CliError::Runtime(msg))
}

/// Control characters in a path would break the line-per-finding output.
fn printable(s: &str) -> String {
    s.chars()
        .map(|c| {
            if c.is_control() {
                c.escape_default().to_string()
            } else {
                c.to_string()
            }
        })
        .collect()
}

fn megabytes(bytes: u64) -> String {
    format!("{:.1} MB", bytes as f64 / 1e6)
}

fn table(o: &ScanOutcome, checked: bool) -> String {
    let mut s = String::new();
    for l in &o.found {
        let f = &l.finding;
        let key = match (&l.key, checked) {
            (Some(k), _) => format!(
                "  {} \"{}\" {}",
                k.id,
                printable(&k.name),
                k.status.as_str()
            ),
            (None, true) => "  not a key of this organization".to_owned(),
            (None, false) => String::new(),
        };
        s.push_str(&format!(
            "{}:{}:{}  {}  …{}{key}\n",
            printable(&l.path),
            f.line,
            f.column,
            f.env,
            f.hint
        ));
    }
    if o.found.is_empty() {
        let mut skipped = Vec::new();
        if o.binary > 0 {
            skipped.push(plural(o.binary as usize, "binary file", "binary files"));
        }
        if o.symlinks > 0 {
            skipped.push(plural(
                o.symlinks as usize,
                "symbolic link",
                "symbolic links",
            ));
        }
        if o.git > 0 {
            skipped.push(".git".to_owned());
        }
        s.push_str(&format!(
            "no secrets found in {} ({})",
            plural(o.files as usize, "file", "files"),
            megabytes(o.bytes)
        ));
        if !skipped.is_empty() {
            s.push_str(&format!("; skipped {}", skipped.join(", ")));
        }
        s.push('\n');
    }
    s
}

/// `…` and the last four characters, as the key object's `secret_hint`.
fn hint(f: &Finding) -> String {
    format!("…{}", f.hint)
}

fn to_json(v: &serde_json::Value) -> Result<String, CliError> {
    serde_json::to_string_pretty(v)
        .map(|s| s + "\n")
        .map_err(|e| CliError::Runtime(e.to_string()))
}

fn json(o: &ScanOutcome) -> Result<String, CliError> {
    let list: Vec<serde_json::Value> = o
        .found
        .iter()
        .map(|l| {
            serde_json::json!({
                "path": l.path,
                "line": l.finding.line,
                "column": l.finding.column,
                "env": l.finding.env,
                "hint": hint(&l.finding),
                "key": l.key,
            })
        })
        .collect();
    to_json(&serde_json::json!({ "findings": list }))
}

/// SARIF rule id for a secret of this environment.
pub fn sarif_rule_id(env: Env) -> &'static str {
    match env {
        Env::Live => "keyconsole/live-secret",
        Env::Test => "keyconsole/test-secret",
    }
}

fn sarif_rule(env: Env, prefixes: &str) -> serde_json::Value {
    let (name, level, severity, what) = match env {
        Env::Live => ("LiveSecret", "error", "9.0", "live (production)"),
        Env::Test => ("TestSecret", "warning", "5.0", "test"),
    };
    serde_json::json!({
        "id": sarif_rule_id(env),
        "name": name,
        "shortDescription": {"text": format!("A keyconsole {what} API secret is in the file")},
        "fullDescription": {"text": format!(
            "A string of the keyconsole secret format ({prefixes}) whose checksum holds: almost certainly a real {what} secret. Anyone who reads the file can act with that key."
        )},
        "help": {"text": "Revoke or rotate the key (`keyconsole keys rotate <key id>`, or `r` in the console), then remove the secret from the file and from the repository's history. The finding shows only the secret's last four characters: the console's `:hint <last4>` command lists the keys whose secret ends with them."},
        "defaultConfiguration": {"level": level},
        "properties": {"tags": ["security", "secret"], "precision": "very-high", "security-severity": severity},
    })
}

/// Percent-encode a path for a SARIF URI reference (RFC 3986: unreserved characters and `/`
/// stay as they are).
fn uri_path(path: &str) -> String {
    let mut s = String::with_capacity(path.len());
    for b in path.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~/".contains(&b) {
            s.push(char::from(b));
        } else {
            s.push_str(&format!("%{b:02X}"));
        }
    }
    s
}

fn artifact_location(l: &Located) -> serde_json::Value {
    if l.stdin {
        serde_json::json!({"description": {"text": "standard input"}})
    } else if l.path.starts_with('/') {
        serde_json::json!({"uri": format!("file://{}", uri_path(&l.path))})
    } else {
        serde_json::json!({"uri": uri_path(&l.path), "uriBaseId": "%SRCROOT%"})
    }
}

fn sarif(o: &ScanOutcome, matcher: &Matcher) -> Result<String, CliError> {
    let prefixes: Vec<String> = matcher
        .prefixes()
        .iter()
        .map(|p| format!("{}_live_…, {}_test_…", p.as_str(), p.as_str()))
        .collect();
    let prefixes = prefixes.join(", ");
    let results: Vec<serde_json::Value> = o
        .found
        .iter()
        .map(|l| {
            let f = &l.finding;
            let index = usize::from(f.env == Env::Test);
            serde_json::json!({
                "ruleId": sarif_rule_id(f.env),
                "ruleIndex": index,
                "level": if f.env == Env::Live { "error" } else { "warning" },
                "message": {"text": format!(
                    "A keyconsole {} secret ({}_{}_…{}) is here: revoke or rotate its key, then remove it from the file and its history.",
                    f.env, f.prefix.as_str(), f.env, f.hint
                )},
                "locations": [{"physicalLocation": {
                    "artifactLocation": artifact_location(l),
                    "region": {
                        "startLine": f.line,
                        "startColumn": f.column,
                        "endLine": f.line,
                        "endColumn": f.end_column(),
                        "byteOffset": f.offset,
                        "byteLength": f.len,
                    },
                }}],
            })
        })
        .collect();
    let notifications: Vec<serde_json::Value> = o
        .unreadable
        .iter()
        .map(|(path, e)| {
            serde_json::json!({
                "level": "error",
                "message": {"text": format!("cannot read {path}: {e}")},
            })
        })
        .collect();
    let mut run = serde_json::json!({
        "tool": {"driver": {
            "name": "keyconsole",
            "semanticVersion": env!("CARGO_PKG_VERSION"),
            "version": env!("CARGO_PKG_VERSION"),
            "rules": [sarif_rule(Env::Live, &prefixes), sarif_rule(Env::Test, &prefixes)],
        }},
        "invocations": [{
            "executionSuccessful": o.unreadable.is_empty(),
            "toolExecutionNotifications": notifications,
        }],
        "columnKind": "unicodeCodePoints",
        "results": results,
    });
    if let Ok(cwd) = std::env::current_dir() {
        let mut base = uri_path(&cwd.display().to_string());
        if !base.ends_with('/') {
            base.push('/');
        }
        run["originalUriBaseIds"] =
            serde_json::json!({"%SRCROOT%": {"uri": format!("file://{base}")}});
    }
    to_json(&serde_json::json!({
        "$schema": "https://docs.oasis-open.org/sarif/sarif/v2.1.0/errata01/os/schemas/sarif-schema-2.1.0.json",
        "version": "2.1.0",
        "runs": [run],
    }))
}

/// `--print-patterns`: one TOML document, a gitleaks rule, with the GitHub custom pattern in
/// its comments, so `scan --print-patterns > keyconsole.gitleaks.toml` is usable as is.
pub fn patterns(prefixes: &[SecretPrefix]) -> String {
    let matcher = Matcher::new(prefixes);
    let names: Vec<&str> = matcher
        .prefixes()
        .iter()
        .map(SecretPrefix::as_str)
        .collect();
    let format = secret_regex(matcher.prefixes());
    let mut keywords: Vec<String> = Vec::new();
    for n in &names {
        keywords.push(format!("\"{n}_live_\""));
        keywords.push(format!("\"{n}_test_\""));
    }
    let mut s = String::new();
    s.push_str(&format!(
        "# Patterns for keyconsole secrets with the prefix{} {}.\n",
        if names.len() == 1 { "" } else { "es" },
        names.join(", ")
    ));
    s.push_str(
        "# They describe the format only: unlike `keyconsole scan` they cannot check the\n\
         # checksum, so they also match look-alikes.\n",
    );
    if names.contains(&"sk") {
        s.push_str(
            "# The default prefix `sk` makes secrets look like Stripe's: gitleaks' own Stripe rule\n\
             # reports them too. Prefer a unique prefix (README, \"Choosing your secret prefix\").\n",
        );
    }
    s.push_str(&format!(
        "#\n\
         # GitHub secret scanning, custom pattern (security settings of a repository,\n\
         # organization or enterprise: Secret scanning > Custom patterns > New pattern):\n\
         #   Secret format: {format}\n\
         #   Before secret: {BEFORE_SECRET_REGEX}\n\
         #   After secret:  {AFTER_SECRET_REGEX}\n\
         #\n\
         # gitleaks: the rule below, in your .gitleaks.toml (with `[extend] useDefault = true`\n\
         # to keep gitleaks' own rules).\n\
         \n\
         [[rules]]\n\
         id = \"keyconsole-secret\"\n\
         description = \"keyconsole API secret ({})\"\n\
         regex = '''(?:{BEFORE_SECRET_REGEX})({format})(?:{AFTER_SECRET_REGEX})'''\n\
         secretGroup = 1\n\
         keywords = [{}]\n",
        names.join(", "),
        keywords.join(", ")
    ));
    s
}

/// The one notice `serve` prints at start when it listens beyond loopback with the default
/// secret prefix: its secrets then look like Stripe's (`sk_live_…`) to every other scanner.
pub fn default_prefix_notice(listen: SocketAddr, prefix: &SecretPrefix) -> Option<String> {
    if listen.ip().to_canonical().is_loopback() || *prefix != SecretPrefix::default() {
        return None;
    }
    Some(
        "keyconsole serve: notice: secrets use the default prefix `sk`, so they look like Stripe \
         secret keys (`sk_live_…`): other secret scanners report them as Stripe's, and TruffleHog \
         sends them to Stripe's API to verify them. In production, choose a unique prefix before \
         issuing keys (`serve --secret-prefix` and `org create --secret-prefix`); see the README, \
         \"Choosing your secret prefix\"."
            .to_owned(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::key::format_secret;

    #[test]
    fn paths_are_shown_without_dot_slash_and_without_secrets() {
        let m = Matcher::new(&[SecretPrefix::default()]);
        let s = format_secret("sk", Env::Live, "0123456789abcdefghijABCDEFGHIJ01");
        assert_eq!(shown_path(&m, "./src/a.rs"), "src/a.rs");
        assert_eq!(
            shown_path(&m, &format!("dir/{s}.txt")),
            "dir/sk_live_[redacted].txt"
        );
        assert_eq!(uri_path("a b/é%.rs"), "a%20b/%C3%A9%25.rs");
        assert_eq!(printable("a\nb"), "a\\nb");
    }

    #[test]
    fn notice_only_beyond_loopback_with_the_default_prefix() {
        let sk = SecretPrefix::default();
        let acme = SecretPrefix::new("acme").expect("valid");
        let at = |s: &str| s.parse::<SocketAddr>().expect("addr");
        assert!(default_prefix_notice(at("0.0.0.0:7878"), &sk).is_some());
        assert!(default_prefix_notice(at("[::]:7878"), &sk).is_some());
        assert!(default_prefix_notice(at("192.0.2.7:7878"), &sk).is_some());
        assert!(default_prefix_notice(at("127.0.0.1:7878"), &sk).is_none());
        assert!(default_prefix_notice(at("127.8.0.1:7878"), &sk).is_none());
        assert!(default_prefix_notice(at("[::1]:7878"), &sk).is_none());
        assert!(default_prefix_notice(at("[::ffff:127.0.0.1]:7878"), &sk).is_none());
        assert!(default_prefix_notice(at("0.0.0.0:7878"), &acme).is_none());
    }

    #[test]
    fn keys_are_attached_by_hash() {
        let m = Matcher::new(&[SecretPrefix::default()]);
        let s1 = format_secret("sk", Env::Live, "0123456789abcdefghijABCDEFGHIJ01");
        let s2 = format_secret("sk", Env::Live, "1123456789abcdefghijABCDEFGHIJ01");
        let mut found: Vec<Located> = m
            .find_all(format!("{s1} {s2} {s1}").as_bytes())
            .into_iter()
            .map(|finding| Located {
                path: "a".into(),
                stdin: false,
                finding,
                key: None,
            })
            .collect();
        let key: KeyObject = serde_json::from_value(serde_json::json!({
            "id": "pk_live_000000000000000000000001", "name": "n", "org_id": "org_0000000000000001",
            "env": "live", "app_id": null, "scopes": [], "allowed_domains": [], "enabled": true,
            "status": "active", "secret_hint": "…abcd", "created_at": "2030-01-01T00:00:00Z",
            "updated_at": "2030-01-01T00:00:00Z", "expires_at": null, "last_used_at": null,
            "rotated_from": null, "rotated_to": null, "version": 1
        }))
        .expect("a key object");
        let hash1 = hash_hex(&crate::domain::key::SecretHash::of(&s1));
        let hash2 = hash_hex(&crate::domain::key::SecretHash::of(&s2));
        attach_keys(&mut found, [(hash1, Some(key)), (hash2, None)]);
        let names: Vec<Option<&str>> = found
            .iter()
            .map(|l| l.key.as_ref().map(|k| k.name.as_str()))
            .collect();
        assert_eq!(names, [Some("n"), None, Some("n")]);
    }
}
