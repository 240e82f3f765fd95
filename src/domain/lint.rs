//! Offline lint of a credential as a client would send it: the header name, the `Bearer`
//! scheme and its spacing, quotes and stray whitespace, the key's prefix, environment,
//! length and checksum, the `pk:sk` pair form, and both credential headers at once.
//!
//! Used by `keyconsole doctor` and the console's request tester. Pure: no I/O, no clock.
//!
//! Every [`Finding`] says what is wrong in plain words and how to fix it. Messages and fixes
//! never contain the credential or any part of a secret: at most a prefix such as
//! `sk_live_`, a character count or a position.

use zeroize::Zeroizing;

use super::key::{
    CHECKSUM_LEN, Env, PUBLIC_KEY_RANDOM_LEN, SECRET_RANDOM_LEN, SecretPrefix, base62_value,
    checksum_matches,
};

/// How bad a finding is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Severity {
    /// The service will refuse the credential.
    Error,
    /// It may work, but only under conditions, or something looks off.
    Warning,
}

impl Severity {
    /// `error` or `warning`.
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Error => "error",
            Severity::Warning => "warning",
        }
    }
}

/// One problem found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finding {
    /// Stable rule id, e.g. `checksum_mismatch` (see [`rule`]).
    pub rule: &'static str,
    /// Error or warning.
    pub severity: Severity,
    /// What is wrong, in plain words. Never contains the credential.
    pub message: String,
    /// What to do about it. Never contains the credential.
    pub fix: String,
}

/// What the lint knows about where the credential is going.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LintContext {
    /// The deployment's secret prefix (`sk` by default).
    pub secret_prefix: SecretPrefix,
    /// The environment the service accepts, when it accepts only one.
    pub server_env: Option<Env>,
    /// Whether the call needs a secret (server-side calls and the key API do).
    pub needs_secret: bool,
    /// The request's `Origin`, when it comes from a browser page.
    pub origin: Option<String>,
}

impl Default for LintContext {
    fn default() -> Self {
        LintContext {
            secret_prefix: SecretPrefix::default(),
            server_env: None,
            needs_secret: true,
            origin: None,
        }
    }
}

/// The rule ids, one per kind of problem.
pub mod rule {
    /// No credential at all: empty line, empty header, `Bearer` with nothing after it.
    pub const NO_CREDENTIAL: &str = "no_credential";
    /// A header other than `Authorization` or `x-api-key` (e.g. `api-key`, `Authorisation`).
    pub const UNKNOWN_HEADER: &str = "unknown_header";
    /// `Authorization` with a key but no scheme.
    pub const MISSING_SCHEME: &str = "missing_scheme";
    /// A scheme other than `Bearer` (`Basic`, `Token`, …).
    pub const WRONG_SCHEME: &str = "wrong_scheme";
    /// `Bearer Bearer …`.
    pub const BEARER_TWICE: &str = "bearer_twice";
    /// `x-api-key: Bearer …`.
    pub const BEARER_IN_API_KEY: &str = "bearer_in_api_key";
    /// Not exactly one space after `Bearer`.
    pub const BEARER_SPACING: &str = "bearer_spacing";
    /// Whitespace, tabs, line breaks or invisible characters around or inside the key.
    pub const STRAY_WHITESPACE: &str = "stray_whitespace";
    /// Quotes or backticks around the key.
    pub const QUOTED: &str = "quoted";
    /// A prefix that is not `<prefix>_live_`, `<prefix>_test_`, `pk_live_` or `pk_test_`.
    pub const WRONG_PREFIX: &str = "wrong_prefix";
    /// A character keys never contain.
    pub const INVALID_CHARACTER: &str = "invalid_character";
    /// Too few or too many characters.
    pub const WRONG_LENGTH: &str = "wrong_length";
    /// The secret's checksum does not match: truncated or mistyped.
    pub const CHECKSUM_MISMATCH: &str = "checksum_mismatch";
    /// A public key alone where a secret is needed (or only from an allowed Origin).
    pub const PUBLIC_KEY_ONLY: &str = "public_key_only";
    /// A `test` key for a `live` service or the other way round.
    pub const ENV_MISMATCH: &str = "env_mismatch";
    /// `pk:` or `:sk`: one half of the pair is missing.
    pub const PAIR_MISSING_HALF: &str = "pair_missing_half";
    /// `sk:pk`: the pair is written secret first.
    pub const PAIR_REVERSED: &str = "pair_reversed";
    /// The part before the colon is not a public key.
    pub const PAIR_BAD_PUBLIC_KEY: &str = "pair_bad_public_key";
    /// The part after the colon is not a secret.
    pub const PAIR_BAD_SECRET: &str = "pair_bad_secret";
    /// The pair's public key and secret are from different environments.
    pub const PAIR_ENV_MISMATCH: &str = "pair_env_mismatch";
    /// Both `Authorization` and `x-api-key` are set.
    pub const BOTH_HEADERS: &str = "both_headers";
}

/// Lint one header line as pasted: "Authorization: Bearer …", "x-api-key: …", "Bearer …", or a bare token.
pub fn lint_line(line: &str, ctx: &LintContext) -> Vec<Finding> {
    let mut out = Findings::default();
    let trimmed = line.trim();
    check_ends(line, trimmed, "line", &mut out);
    let body = strip_curl_flag(trimmed);
    if body.is_empty() {
        out.push(
            rule::NO_CREDENTIAL,
            Severity::Error,
            "there is no credential: the line is empty",
            "send `Authorization: Bearer <secret>` or `x-api-key: <secret>`",
        );
        return out.done();
    }
    match split_header(body, ctx) {
        Some((name, value)) => {
            if name.len() != name.trim_end().len() {
                out.push(
                    rule::STRAY_WHITESPACE,
                    Severity::Error,
                    "there is whitespace between the header name and the colon, which HTTP does not allow",
                    "write the header name directly followed by `:`, e.g. `Authorization: Bearer <secret>`",
                );
            }
            let mode = header_mode(name.trim_end(), value, &mut out);
            lint_value(mode, value.trim_start_matches([' ', '\t']), ctx, &mut out);
        }
        None => lint_value(Mode::Bare, body, ctx, &mut out),
    }
    out.done()
}

/// Lint the two credential headers as a client would send them (either may be absent).
pub fn lint_headers(
    authorization: Option<&str>,
    x_api_key: Option<&str>,
    ctx: &LintContext,
) -> Vec<Finding> {
    let mut out = Findings::default();
    if authorization.is_some() && x_api_key.is_some() {
        out.push(
            rule::BOTH_HEADERS,
            Severity::Error,
            "both Authorization and x-api-key are set; a request must carry exactly one credential",
            "keep one of the two headers and remove the other",
        );
    }
    let mut any = false;
    for (mode, value) in [
        (Mode::Authorization, authorization),
        (Mode::ApiKey, x_api_key),
    ] {
        if let Some(v) = value {
            any = true;
            let trimmed = v.trim();
            check_ends(v, trimmed, "header value", &mut out);
            lint_value(mode, trimmed, ctx, &mut out);
        }
    }
    if !any {
        out.push(
            rule::NO_CREDENTIAL,
            Severity::Error,
            "there is no credential: neither Authorization nor x-api-key is set",
            "send `Authorization: Bearer <secret>` or `x-api-key: <secret>`",
        );
    }
    out.done()
}

/// Findings, without duplicates.
#[derive(Default)]
struct Findings(Vec<Finding>);

impl Findings {
    fn push(
        &mut self,
        rule: &'static str,
        severity: Severity,
        message: impl Into<String>,
        fix: impl Into<String>,
    ) {
        let f = Finding {
            rule,
            severity,
            message: message.into(),
            fix: fix.into(),
        };
        if !self.0.contains(&f) {
            self.0.push(f);
        }
    }

    fn done(self) -> Vec<Finding> {
        self.0
    }
}

/// Which header the value came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    /// `Authorization`: `<scheme> <token>`.
    Authorization,
    /// `x-api-key`: the token alone.
    ApiKey,
    /// No header name: `Bearer …` or a bare token.
    Bare,
}

/// Which part of the credential a token is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Role {
    Alone,
    PairPublic,
    PairSecret,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Public,
    Secret,
}

fn is_invisible(c: char) -> bool {
    c.is_whitespace()
        || matches!(
            c,
            '\u{200b}' | '\u{200c}' | '\u{200d}' | '\u{2060}' | '\u{feff}'
        )
}

const QUOTES: [char; 7] = [
    '"', '\'', '`', '\u{201c}', '\u{201d}', '\u{2018}', '\u{2019}',
];

/// Whitespace before or after the whole line or value.
fn check_ends(raw: &str, trimmed: &str, what: &str, out: &mut Findings) {
    if raw.len() == trimmed.len() || trimmed.is_empty() {
        return;
    }
    let has_break = raw.contains(['\n', '\r']);
    if has_break {
        out.push(
            rule::STRAY_WHITESPACE,
            Severity::Error,
            format!("there is a line break before or after the {what}; a header value cannot contain one"),
            "remove the line break (it often comes from copying out of a terminal or a file)",
        );
    } else {
        out.push(
            rule::STRAY_WHITESPACE,
            Severity::Warning,
            format!("there is whitespace before or after the {what}"),
            "remove it: HTTP strips it from headers, but the same text in a variable or a config file would carry it into the key",
        );
    }
}

/// `-H 'Authorization: …'` or `--header "…"` as copied from a curl command.
fn strip_curl_flag(s: &str) -> &str {
    let rest = s
        .strip_prefix("-H ")
        .or_else(|| s.strip_prefix("--header "))
        .map(str::trim_start);
    match rest {
        Some(r)
            if r.len() >= 2
                && (r.starts_with('\'') && r.ends_with('\'')
                    || r.starts_with('"') && r.ends_with('"')) =>
        {
            r[1..r.len() - 1].trim()
        }
        Some(r) => r,
        None => s,
    }
}

/// Whether a word looks like the start of a key rather than a header name.
fn looks_like_key(word: &str, ctx: &LintContext) -> bool {
    let lower = word.to_ascii_lowercase().replace('-', "_");
    let prefix = ctx.secret_prefix.as_str();
    lower == "pk"
        || lower == prefix
        || lower.starts_with("pk_")
        || lower.starts_with(&format!("{prefix}_"))
        || lower.contains("_live")
        || lower.contains("_test")
        || word.len() > 40
}

/// `Name: value`, when the text before the first colon looks like a header name.
fn split_header<'a>(s: &'a str, ctx: &LintContext) -> Option<(&'a str, &'a str)> {
    let (name, value) = s.split_once(':')?;
    let n = name.trim_end();
    let header_like = !n.is_empty()
        && n.bytes()
            .all(|c| c.is_ascii_alphanumeric() || c == b'-' || c == b'_')
        && n.bytes().any(|c| c.is_ascii_alphabetic());
    // `Bearer :…` is a scheme and a broken pair, not a header; `api-key:` is a header.
    let scheme = n.eq_ignore_ascii_case("bearer")
        || known_scheme(n).is_some_and(|s| !s.to_ascii_lowercase().contains("key"));
    (header_like && !scheme && !looks_like_key(n, ctx)).then_some((name, value))
}

/// The mode for a header name, reporting an unknown one.
fn header_mode(name: &str, value: &str, out: &mut Findings) -> Mode {
    if name.eq_ignore_ascii_case("authorization") {
        return Mode::Authorization;
    }
    if name.eq_ignore_ascii_case("x-api-key") {
        return Mode::ApiKey;
    }
    let squashed: String = name
        .chars()
        .filter(char::is_ascii_alphanumeric)
        .collect::<String>()
        .to_ascii_lowercase();
    let fix = if squashed.contains("auth") {
        "name the header exactly `Authorization` and send `Authorization: Bearer <secret>`"
    } else if squashed.contains("key") || squashed.contains("token") {
        "name the header exactly `x-api-key` (`x-api-key: <secret>`), or use `Authorization: Bearer <secret>`"
    } else {
        "send `Authorization: Bearer <secret>` or `x-api-key: <secret>`"
    };
    out.push(
        rule::UNKNOWN_HEADER,
        Severity::Error,
        "the header is neither `Authorization` nor `x-api-key` (names are case-insensitive, but spelling, dashes and underscores count); the service ignores it, so the request arrives without a credential",
        fix,
    );
    let first_word_then_space = value
        .trim_start()
        .split_once(char::is_whitespace)
        .is_some_and(|(w, _)| !w.is_empty() && w.bytes().all(|c| c.is_ascii_alphabetic()));
    if first_word_then_space {
        Mode::Authorization
    } else {
        Mode::ApiKey
    }
}

/// Split off the first word and the whitespace after it.
fn first_word(s: &str) -> (&str, &str, &str) {
    let end = s.find(char::is_whitespace).unwrap_or(s.len());
    let (word, rest) = s.split_at(end);
    let token_start = rest
        .char_indices()
        .find(|(_, c)| !c.is_whitespace())
        .map_or(rest.len(), |(i, _)| i);
    let (sep, token) = rest.split_at(token_start);
    (word, sep, token)
}

/// Schemes people send instead of `Bearer`; only these names are ever quoted back.
const KNOWN_SCHEMES: [&str; 9] = [
    "Basic",
    "Token",
    "Digest",
    "ApiKey",
    "Api-Key",
    "Key",
    "JWT",
    "OAuth",
    "Negotiate",
];

fn known_scheme(word: &str) -> Option<&'static str> {
    KNOWN_SCHEMES
        .iter()
        .copied()
        .find(|s| s.eq_ignore_ascii_case(word))
}

/// Lint a header value (already trimmed at its ends) in a mode.
fn lint_value(mode: Mode, value: &str, ctx: &LintContext, out: &mut Findings) {
    if value.is_empty() {
        out.push(
            rule::NO_CREDENTIAL,
            Severity::Error,
            "there is no credential: the header has no value",
            "put the key after the header name: `Authorization: Bearer <secret>` or `x-api-key: <secret>`",
        );
        return;
    }
    let (word, sep, rest) = first_word(value);
    let is_bearer = word.eq_ignore_ascii_case("bearer");
    let glued_bearer = !is_bearer
        && word.len() > 6
        && word.is_char_boundary(6)
        && word[..6].eq_ignore_ascii_case("bearer");
    let token: &str = match mode {
        Mode::ApiKey => {
            if is_bearer && !rest.is_empty() {
                out.push(
                    rule::BEARER_IN_API_KEY,
                    Severity::Error,
                    "x-api-key takes the key alone, but this value starts with `Bearer`",
                    "remove `Bearer ` from the value: `x-api-key: <secret>` (or move it to `Authorization: Bearer <secret>`)",
                );
                rest
            } else {
                value
            }
        }
        Mode::Authorization | Mode::Bare => {
            if is_bearer {
                if rest.is_empty() {
                    out.push(
                        rule::NO_CREDENTIAL,
                        Severity::Error,
                        "there is no credential: `Bearer` has no key after it",
                        "put the key after `Bearer `: `Authorization: Bearer <secret>`",
                    );
                    return;
                }
                if sep != " " {
                    bearer_spacing(sep, out);
                }
                rest
            } else if glued_bearer {
                out.push(
                    rule::BEARER_SPACING,
                    Severity::Error,
                    "there is no space between `Bearer` and the key",
                    "write exactly one space after `Bearer`: `Bearer <secret>`",
                );
                &value[6..]
            } else if !rest.is_empty() && word.bytes().all(|c| c.is_ascii_alphabetic() || c == b'-')
            {
                let name = known_scheme(word);
                let message = match name {
                    Some(s) => format!("the scheme is `{s}`, but only `Bearer` is accepted"),
                    None => "the scheme before the key is not `Bearer`, the only one accepted"
                        .to_owned(),
                };
                let fix = if name == Some("Basic") {
                    "send the key itself, not user:password in base64: `Authorization: Bearer <secret>`"
                } else {
                    "write `Authorization: Bearer <secret>`"
                };
                out.push(rule::WRONG_SCHEME, Severity::Error, message, fix);
                rest
            } else {
                if mode == Mode::Authorization {
                    out.push(
                        rule::MISSING_SCHEME,
                        Severity::Error,
                        "the Authorization header has a key but no `Bearer` scheme before it",
                        "write `Authorization: Bearer <secret>`, or send the key alone as `x-api-key: <secret>`",
                    );
                }
                value
            }
        }
    };
    let (w, sep2, rest2) = first_word(token);
    let token = if w.eq_ignore_ascii_case("bearer") {
        out.push(
            rule::BEARER_TWICE,
            Severity::Error,
            "`Bearer` appears twice",
            "write `Bearer` once: `Authorization: Bearer <secret>`",
        );
        if !rest2.is_empty() && sep2 != " " && mode != Mode::ApiKey {
            bearer_spacing(sep2, out);
        }
        if rest2.is_empty() {
            out.push(
                rule::NO_CREDENTIAL,
                Severity::Error,
                "there is no credential: only `Bearer` was sent, with no key",
                "put the key after `Bearer `: `Authorization: Bearer <secret>`",
            );
            return;
        }
        rest2
    } else {
        token
    };
    lint_token(token, ctx, out);
}

fn bearer_spacing(sep: &str, out: &mut Findings) {
    let what = if sep.contains(['\n', '\r']) {
        "is a line break".to_owned()
    } else if sep.contains('\t') {
        "is a tab".to_owned()
    } else {
        format!("are {} spaces", sep.chars().count())
    };
    out.push(
        rule::BEARER_SPACING,
        Severity::Error,
        format!("there {what} after `Bearer`; exactly one space is allowed"),
        "write exactly one space between `Bearer` and the key",
    );
}

/// Lint the token: quotes, whitespace, then the key or the pair.
fn lint_token(token: &str, ctx: &LintContext, out: &mut Findings) {
    let mut t: &str = token;
    if t.starts_with(QUOTES) || t.ends_with(QUOTES) {
        out.push(
            rule::QUOTED,
            Severity::Error,
            "the key is wrapped in quotes or backticks, which are sent as part of it",
            "remove the quotes: quotes belong to the shell or the code around the header, not to its value",
        );
        t = t.trim_matches(QUOTES);
    }
    let cleaned: Zeroizing<String> = if t.chars().any(is_invisible) {
        let kinds: Vec<&str> = [
            (t.contains(' '), "spaces"),
            (t.contains('\t'), "tabs"),
            (t.contains(['\n', '\r']), "line breaks"),
            (
                t.chars()
                    .any(|c| is_invisible(c) && !matches!(c, ' ' | '\t' | '\n' | '\r')),
                "invisible characters",
            ),
        ]
        .iter()
        .filter(|(has, _)| *has)
        .map(|(_, k)| *k)
        .collect();
        out.push(
            rule::STRAY_WHITESPACE,
            Severity::Error,
            format!(
                "the key has {} around or inside it; keys never contain whitespace",
                kinds.join(" and ")
            ),
            "remove all whitespace from the key; send exactly one space after `Bearer` and none elsewhere",
        );
        Zeroizing::new(t.chars().filter(|c| !is_invisible(*c)).collect())
    } else {
        Zeroizing::new(t.to_owned())
    };
    let t = cleaned.trim_matches(QUOTES);
    if t.is_empty() {
        out.push(
            rule::NO_CREDENTIAL,
            Severity::Error,
            "there is no credential: the value holds no key",
            "send `Authorization: Bearer <secret>` or `x-api-key: <secret>`",
        );
        return;
    }
    if t.contains(':') {
        lint_pair(t, ctx, out);
        return;
    }
    if let Some((kind, env)) = lint_key(t, Role::Alone, ctx, out) {
        if let Some(env) = env {
            check_server_env(env, kind, ctx, out);
        }
        if kind == Kind::Public {
            public_key_alone(ctx, out);
        }
    }
}

fn public_key_alone(ctx: &LintContext, out: &mut Findings) {
    match &ctx.origin {
        Some(origin) => {
            let shown: String = origin.chars().take(100).collect();
            out.push(
                rule::PUBLIC_KEY_ONLY,
                Severity::Warning,
                format!(
                    "this is a public key alone: only keys whose allowed domains match the Origin `{shown}` accept it, and only for `GET /v1/me` among the key API's endpoints"
                ),
                "check that the key lists this Origin's host in its allowed domains (`keyconsole keys update <id> --domain <host>`), or send the secret from a server",
            );
        }
        None if ctx.needs_secret => out.push(
            rule::PUBLIC_KEY_ONLY,
            Severity::Error,
            "this is a public key (pk_…) alone: it names the key but does not prove you hold it, and this call needs the secret",
            "send the secret (`Bearer <secret>`) or the pair `pk_…:<secret>`",
        ),
        None => out.push(
            rule::PUBLIC_KEY_ONLY,
            Severity::Warning,
            "this is a public key alone: it works only from a browser page whose Origin matches one of the key's allowed domains",
            "send it from a page on an allowed domain, or send the secret from a server",
        ),
    }
}

fn check_server_env(env: Env, kind: Kind, ctx: &LintContext, out: &mut Findings) {
    let Some(server) = ctx.server_env else {
        return;
    };
    if env == server {
        return;
    }
    let expected = match kind {
        Kind::Secret => format!("{}_{}_…", ctx.secret_prefix.as_str(), server),
        Kind::Public => format!("pk_{server}_…"),
    };
    out.push(
        rule::ENV_MISMATCH,
        Severity::Error,
        format!(
            "this is a `{env}` key but the service accepts only `{server}` keys; it will be refused as invalid_key"
        ),
        format!(
            "use a {expected} key with this service, or send this key to the {env} service"
        ),
    );
}

fn what(role: Role, kind: Kind) -> &'static str {
    match (role, kind) {
        (Role::Alone, Kind::Secret) => "the secret",
        (Role::Alone, Kind::Public) => "the public key",
        (Role::PairPublic, _) => "the pair's public key",
        (Role::PairSecret, _) => "the pair's secret",
    }
}

/// Whether `t` starts, ignoring case and with `-`/`.` read as `_`, with a `pk_` prefix.
fn looks_public(t: &str) -> bool {
    t.get(..3)
        .is_some_and(|p| p.eq_ignore_ascii_case("pk_") || p.eq_ignore_ascii_case("pk-"))
}

/// The prefix text normalised for close matches: lowercase, `-` and `.` read as `_`.
fn normalized_head(t: &str, n: usize) -> Option<String> {
    let head = t.get(..n)?;
    head.is_ascii().then(|| {
        head.chars()
            .map(|c| match c {
                '-' | '.' => '_',
                c => c.to_ascii_lowercase(),
            })
            .collect()
    })
}

/// `[a-z][a-z0-9]{0,15}_(live|test)_` at the start: another deployment's secret prefix.
fn other_prefix(t: &str) -> Option<(&str, Env, usize)> {
    let (p, rest) = t.split_once('_')?;
    let valid = SecretPrefix::new(p).is_ok();
    let (env, _) = rest.split_once('_')?;
    let env = Env::parse(env)?;
    valid.then_some((p, env, p.len() + 1 + env.as_str().len() + 1))
}

/// Check prefix, characters, length and checksum of one key; returns what it is.
fn lint_key(
    t: &str,
    role: Role,
    ctx: &LintContext,
    out: &mut Findings,
) -> Option<(Kind, Option<Env>)> {
    let prefix = ctx.secret_prefix.as_str();
    let candidates = [
        (Kind::Public, Env::Live, "pk_live_".to_owned()),
        (Kind::Public, Env::Test, "pk_test_".to_owned()),
        (Kind::Secret, Env::Live, format!("{prefix}_live_")),
        (Kind::Secret, Env::Test, format!("{prefix}_test_")),
    ];
    let expected_all = format!("`{prefix}_live_…`, `{prefix}_test_…`, `pk_live_…` or `pk_test_…`");
    let exact = candidates
        .iter()
        .find(|(_, _, c)| t.starts_with(c.as_str()));
    let (kind, env, head_len) = if let Some((k, e, c)) = exact {
        (*k, *e, c.len())
    } else if let Some((k, e, c)) = candidates
        .iter()
        .find(|(_, _, c)| normalized_head(t, c.len()).is_some_and(|h| h == *c))
    {
        let typed = &t[..c.len()];
        out.push(
            rule::WRONG_PREFIX,
            Severity::Error,
            format!("{} starts with `{typed}`, close to `{c}` but not it: prefixes are lowercase with underscores, and keys are case-sensitive", what(role, *k)),
            format!("copy the key again exactly as it was issued; it must start with `{c}`"),
        );
        (*k, *e, c.len())
    } else if let Some((p, e, n)) = other_prefix(t).filter(|(p, _, _)| *p != prefix && *p != "pk") {
        out.push(
            rule::WRONG_PREFIX,
            Severity::Error,
            format!(
                "{} starts with `{p}_{e}_`, but this service's secrets start with `{prefix}_live_` or `{prefix}_test_`: it is probably a key of another deployment",
                what(role, Kind::Secret)
            ),
            format!(
                "use a key issued by this service, or if the service runs with `--secret-prefix {p}`, lint with `--secret-prefix {p}`"
            ),
        );
        (Kind::Secret, e, n)
    } else if looks_public(t)
        || t.get(..prefix.len() + 1)
            .is_some_and(|h| h.eq_ignore_ascii_case(&format!("{prefix}_")))
    {
        out.push(
            rule::WRONG_PREFIX,
            Severity::Error,
            format!(
                "the environment in the prefix of {} is neither `live` nor `test`",
                what(
                    role,
                    if looks_public(t) {
                        Kind::Public
                    } else {
                        Kind::Secret
                    }
                )
            ),
            format!("keys start with {expected_all}; copy the key again exactly as it was issued"),
        );
        return None;
    } else {
        let looks_like = if t.starts_with("eyJ") {
            " (it looks like a JWT)"
        } else if t.starts_with("ghp_") || t.starts_with("github_pat_") {
            " (it looks like a GitHub token)"
        } else if t.starts_with("xox") {
            " (it looks like a Slack token)"
        } else if t.starts_with("AKIA") {
            " (it looks like an AWS access key id)"
        } else if t.starts_with("sk-") {
            " (`sk-` with dashes is another provider's key format)"
        } else {
            ""
        };
        out.push(
            rule::WRONG_PREFIX,
            Severity::Error,
            format!("{} has an unknown prefix{looks_like}: keys of this service start with {expected_all}", match role {
                Role::Alone => "the key",
                Role::PairPublic => "the pair's public key",
                Role::PairSecret => "the pair's secret",
            }),
            "use a key issued by this service (keyconsole keys create, or the console)",
        );
        return None;
    };
    let body = t.get(head_len..).unwrap_or("");
    let expected = match kind {
        Kind::Public => PUBLIC_KEY_RANDOM_LEN,
        Kind::Secret => SECRET_RANDOM_LEN + CHECKSUM_LEN,
    };
    let shown_prefix = candidates
        .iter()
        .find(|(k, e, _)| *k == kind && *e == env)
        .map_or("", |(_, _, c)| c.as_str());
    let bad: Vec<(usize, char)> = body
        .chars()
        .enumerate()
        .filter(|(_, c)| !c.is_ascii() || base62_value(*c as u8).is_none())
        .collect();
    if let Some(&(first, c)) = bad.first() {
        let position = head_len + first + 1;
        let count = bad.len();
        let at_end = bad.iter().all(|(i, _)| *i >= body.chars().count() - count);
        let message = if count == 1 {
            format!(
                "{} has a character keys never contain (only 0-9, A-Z and a-z follow the prefix), at position {position}",
                what(role, kind)
            )
        } else {
            format!(
                "{} has {count} characters keys never contain (only 0-9, A-Z and a-z follow the prefix), the first at position {position}",
                what(role, kind)
            )
        };
        let fix = if at_end && c.is_ascii_punctuation() && c != ':' {
            format!("remove the `{c}` pasted after the key")
        } else if c == ':' {
            "a credential has at most one colon, between the public key and the secret: `pk_…:<secret>`".to_owned()
        } else {
            "copy the key again from where it was issued; do not retype it".to_owned()
        };
        out.push(rule::INVALID_CHARACTER, Severity::Error, message, fix);
    }
    let len = body.chars().count();
    if len != expected {
        let total = head_len + expected;
        let (message, fix) = if len < expected {
            let n = expected - len;
            (
                format!(
                    "{} is {n} character{} short: {} characters follow `{shown_prefix}`, this one has {len}; it was likely truncated",
                    what(role, kind),
                    if n == 1 { "" } else { "s" },
                    expected
                ),
                format!("copy the whole key again ({total} characters in all)"),
            )
        } else {
            let n = len - expected;
            (
                format!(
                    "{} has {n} extra character{}: {} characters follow `{shown_prefix}`, this one has {len}",
                    what(role, kind),
                    if n == 1 { "" } else { "s" },
                    expected
                ),
                format!(
                    "remove what was pasted before or after the key ({total} characters in all)"
                ),
            )
        };
        out.push(rule::WRONG_LENGTH, Severity::Error, message, fix);
    } else if bad.is_empty() && kind == Kind::Secret {
        let (random, sum) = body.split_at(SECRET_RANDOM_LEN);
        if !checksum_matches(random, sum) {
            out.push(
                rule::CHECKSUM_MISMATCH,
                Severity::Error,
                format!("{}'s checksum (its last {CHECKSUM_LEN} characters) does not match: it is truncated or mistyped", what(role, kind)),
                "copy the secret again from where it was issued; if it is lost, rotate the key to get a new secret",
            );
        }
    }
    Some((kind, Some(env)))
}

fn lint_pair(t: &str, ctx: &LintContext, out: &mut Findings) {
    let Some((mut a, mut b)) = t.split_once(':') else {
        return;
    };
    if a.is_empty() || b.is_empty() {
        let missing = if a.is_empty() {
            "public key before"
        } else {
            "secret after"
        };
        out.push(
            rule::PAIR_MISSING_HALF,
            Severity::Error,
            format!("the pair form `pk_…:<secret>` is missing the {missing} the colon"),
            "send the whole pair `pk_…:<secret>`, or the secret alone without a colon",
        );
        let (present, role) = if a.is_empty() {
            (b, Role::PairSecret)
        } else {
            (a, Role::PairPublic)
        };
        if !present.is_empty() {
            let _ = lint_key(present, role, ctx, out);
        }
        return;
    }
    if !looks_public(a) && looks_public(b) {
        out.push(
            rule::PAIR_REVERSED,
            Severity::Error,
            "the pair is written secret first; the public key comes before the colon",
            "swap the two halves: `pk_…:<secret>`",
        );
        std::mem::swap(&mut a, &mut b);
    }
    let public = if looks_public(a) {
        lint_key(a, Role::PairPublic, ctx, out)
    } else {
        out.push(
            rule::PAIR_BAD_PUBLIC_KEY,
            Severity::Error,
            "the part before the colon is not a public key (`pk_live_…` or `pk_test_…`)",
            "send `pk_…:<secret>` with the key's public id first, or the secret alone",
        );
        None
    };
    let secret = if looks_public(b) {
        out.push(
            rule::PAIR_BAD_SECRET,
            Severity::Error,
            "the part after the colon is a public key, not the secret",
            "put the secret after the colon: `pk_…:<secret>`",
        );
        None
    } else {
        lint_key(b, Role::PairSecret, ctx, out)
    };
    let pk_env = public.and_then(|(_, e)| e);
    let sk_env = secret.and_then(|(_, e)| e);
    if let (Some(p), Some(s)) = (pk_env, sk_env)
        && p != s
    {
        out.push(
            rule::PAIR_ENV_MISMATCH,
            Severity::Error,
            format!(
                "the pair's public key is a `{p}` key but its secret is a `{s}` key; they cannot belong together"
            ),
            "send the public key and the secret of the same key (both live or both test)",
        );
    }
    match (sk_env, pk_env) {
        (Some(e), _) => check_server_env(e, Kind::Secret, ctx, out),
        (None, Some(e)) => check_server_env(e, Kind::Public, ctx, out),
        (None, None) => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::key::format_secret;

    const RANDOM: &str = "Ab3dEf6hIj9kLm2nOp5qRs8tUv1wXy4z";
    const PK_RANDOM: &str = "Qw3rTy6uIo9pAs2dFg5hJk8l";

    fn secret() -> String {
        format_secret("sk", Env::Live, RANDOM)
    }
    fn test_secret() -> String {
        format_secret("sk", Env::Test, RANDOM)
    }
    fn pk() -> String {
        format!("pk_live_{PK_RANDOM}")
    }
    fn pk_test() -> String {
        format!("pk_test_{PK_RANDOM}")
    }
    /// The secret with one character of its random part changed.
    fn mistyped() -> String {
        let s = secret();
        let mut b = s.into_bytes();
        b[10] = if b[10] == b'x' { b'y' } else { b'x' };
        String::from_utf8(b).expect("ascii")
    }

    fn rules(f: &[Finding]) -> Vec<&'static str> {
        let mut r: Vec<&'static str> = f.iter().map(|f| f.rule).collect();
        r.sort_unstable();
        r.dedup();
        r
    }

    fn ctx() -> LintContext {
        LintContext::default()
    }

    fn live_server() -> LintContext {
        LintContext {
            server_env: Some(Env::Live),
            ..LintContext::default()
        }
    }

    fn with_origin() -> LintContext {
        LintContext {
            origin: Some("https://shop.example.com".to_owned()),
            ..LintContext::default()
        }
    }

    fn org_prefix() -> LintContext {
        LintContext {
            secret_prefix: SecretPrefix::new("org").expect("valid"),
            ..LintContext::default()
        }
    }

    /// (line, context, expected rule ids, sorted).
    fn table() -> Vec<(String, LintContext, Vec<&'static str>)> {
        let s = secret();
        let p = pk();
        let upper_prefix = format!("SK_LIVE_{}", &s["sk_live_".len()..]);
        let dashed = format!("sk-live-{}", &s["sk_live_".len()..]);
        vec![
            // Clean forms.
            (format!("Authorization: Bearer {s}"), ctx(), vec![]),
            (format!("authorization: bearer {s}"), ctx(), vec![]),
            (format!("x-api-key: {s}"), ctx(), vec![]),
            (format!("X-API-Key: {s}"), ctx(), vec![]),
            (format!("Bearer {s}"), ctx(), vec![]),
            (s.clone(), ctx(), vec![]),
            (format!("Authorization: Bearer {p}:{s}"), ctx(), vec![]),
            (format!("Authorization: Bearer {s}"), live_server(), vec![]),
            (format!("-H 'Authorization: Bearer {s}'"), ctx(), vec![]),
            (
                format!("Bearer {}", format_secret("org", Env::Live, RANDOM)),
                org_prefix(),
                vec![],
            ),
            // Nothing at all.
            (String::new(), ctx(), vec![rule::NO_CREDENTIAL]),
            (
                "Authorization:".to_owned(),
                ctx(),
                vec![rule::NO_CREDENTIAL],
            ),
            (
                "Authorization: Bearer".to_owned(),
                ctx(),
                vec![rule::NO_CREDENTIAL],
            ),
            ("   ".to_owned(), ctx(), vec![rule::NO_CREDENTIAL]),
            // Header names.
            (format!("api-key: {s}"), ctx(), vec![rule::UNKNOWN_HEADER]),
            (
                format!("Authorisation: Bearer {s}"),
                ctx(),
                vec![rule::UNKNOWN_HEADER],
            ),
            (format!("x-api_key: {s}"), ctx(), vec![rule::UNKNOWN_HEADER]),
            (
                format!("X-Auth-Token: {s}"),
                ctx(),
                vec![rule::UNKNOWN_HEADER],
            ),
            (
                format!("Authorization : Bearer {s}"),
                ctx(),
                vec![rule::STRAY_WHITESPACE],
            ),
            // Schemes.
            (
                format!("Authorization: Basic {s}"),
                ctx(),
                vec![rule::WRONG_SCHEME],
            ),
            (
                format!("Authorization: Token {s}"),
                ctx(),
                vec![rule::WRONG_SCHEME],
            ),
            (
                format!("Authorization: {s}"),
                ctx(),
                vec![rule::MISSING_SCHEME],
            ),
            (
                format!("Authorization: Bearer Bearer {s}"),
                ctx(),
                vec![rule::BEARER_TWICE],
            ),
            (
                format!("Bearer bearer {s}"),
                ctx(),
                vec![rule::BEARER_TWICE],
            ),
            (
                format!("x-api-key: Bearer {s}"),
                ctx(),
                vec![rule::BEARER_IN_API_KEY],
            ),
            // Spacing and whitespace.
            (
                format!("Authorization: Bearer  {s}"),
                ctx(),
                vec![rule::BEARER_SPACING],
            ),
            (
                format!("Authorization: Bearer\t{s}"),
                ctx(),
                vec![rule::BEARER_SPACING],
            ),
            (
                format!("Authorization: Bearer{s}"),
                ctx(),
                vec![rule::BEARER_SPACING],
            ),
            (
                format!("  Authorization: Bearer {s}  "),
                ctx(),
                vec![rule::STRAY_WHITESPACE],
            ),
            (
                format!("Authorization: Bearer {s}\n"),
                ctx(),
                vec![rule::STRAY_WHITESPACE],
            ),
            (
                format!("Bearer {}\t{}", &s[..20], &s[20..]),
                ctx(),
                vec![rule::STRAY_WHITESPACE],
            ),
            (
                format!("x-api-key: {} {}", &s[..30], &s[30..]),
                ctx(),
                vec![rule::STRAY_WHITESPACE],
            ),
            (format!("{s}\u{200b}"), ctx(), vec![rule::STRAY_WHITESPACE]),
            // Quotes.
            (
                format!("Authorization: Bearer \"{s}\""),
                ctx(),
                vec![rule::QUOTED],
            ),
            (format!("x-api-key: '{s}'"), ctx(), vec![rule::QUOTED]),
            (format!("`{s}`"), ctx(), vec![rule::QUOTED]),
            (
                format!("Bearer \u{201c}{s}\u{201d}"),
                ctx(),
                vec![rule::QUOTED],
            ),
            // Prefixes.
            (format!("Bearer {dashed}"), ctx(), vec![rule::WRONG_PREFIX]),
            (
                format!("Bearer {upper_prefix}"),
                ctx(),
                vec![rule::WRONG_PREFIX],
            ),
            (
                format!("Bearer sk_prod_{}", &s["sk_live_".len()..]),
                ctx(),
                vec![rule::WRONG_PREFIX],
            ),
            (
                "Bearer ghp_abcdefghijklmnopqrstuvwxyz0123456789".to_owned(),
                ctx(),
                vec![rule::WRONG_PREFIX],
            ),
            (
                "Bearer eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.abc".to_owned(),
                ctx(),
                vec![rule::WRONG_PREFIX],
            ),
            (
                format!("Bearer {s}"),
                org_prefix(),
                vec![rule::WRONG_PREFIX],
            ),
            // Public key alone.
            (format!("Bearer {p}"), ctx(), vec![rule::PUBLIC_KEY_ONLY]),
            (
                format!("x-api-key: {p}"),
                with_origin(),
                vec![rule::PUBLIC_KEY_ONLY],
            ),
            // Environments.
            (
                format!("Bearer {}", test_secret()),
                live_server(),
                vec![rule::ENV_MISMATCH],
            ),
            (
                format!("Bearer {s}"),
                LintContext {
                    server_env: Some(Env::Test),
                    ..LintContext::default()
                },
                vec![rule::ENV_MISMATCH],
            ),
            // Length, characters, checksum.
            (
                format!("Bearer {}", &s[..s.len() - 5]),
                ctx(),
                vec![rule::WRONG_LENGTH],
            ),
            (format!("Bearer {s}abc"), ctx(), vec![rule::WRONG_LENGTH]),
            (
                format!("Bearer {s},"),
                ctx(),
                vec![rule::INVALID_CHARACTER, rule::WRONG_LENGTH],
            ),
            (
                format!("Bearer {}", mistyped()),
                ctx(),
                vec![rule::CHECKSUM_MISMATCH],
            ),
            (
                format!("Bearer {}", &p[..p.len() - 2]),
                with_origin(),
                vec![rule::PUBLIC_KEY_ONLY, rule::WRONG_LENGTH],
            ),
            // Pairs.
            (format!("Bearer {p}:"), ctx(), vec![rule::PAIR_MISSING_HALF]),
            (format!("Bearer :{s}"), ctx(), vec![rule::PAIR_MISSING_HALF]),
            (format!("Bearer {s}:{p}"), ctx(), vec![rule::PAIR_REVERSED]),
            (
                format!("Bearer {p}:{}", test_secret()),
                ctx(),
                vec![rule::PAIR_ENV_MISMATCH],
            ),
            (
                format!("Bearer {}:{s}", pk_test()),
                live_server(),
                vec![rule::PAIR_ENV_MISMATCH],
            ),
            (
                format!("Bearer {p}:{}", mistyped()),
                ctx(),
                vec![rule::CHECKSUM_MISMATCH],
            ),
            (
                format!("Bearer {p}:{p}"),
                ctx(),
                vec![rule::PAIR_BAD_SECRET],
            ),
            (
                format!("Bearer abc:{s}"),
                ctx(),
                vec![rule::PAIR_BAD_PUBLIC_KEY],
            ),
            (
                format!("Bearer {}:{s}", &p[..p.len() - 1]),
                ctx(),
                vec![rule::WRONG_LENGTH],
            ),
            // Several at once.
            (
                format!("api-key: Bearer  '{s}'"),
                ctx(),
                vec![rule::BEARER_SPACING, rule::QUOTED, rule::UNKNOWN_HEADER],
            ),
        ]
    }

    #[test]
    fn table_of_lines() {
        let rows = table();
        assert!(rows.len() >= 25);
        let mut failures = Vec::new();
        for (i, (line, ctx, expected)) in rows.iter().enumerate() {
            let found = lint_line(line, ctx);
            let mut expected = expected.clone();
            expected.sort_unstable();
            if rules(&found) != expected {
                failures.push(format!(
                    "row {i} {line:?}: expected {expected:?}, got {found:#?}"
                ));
            }
        }
        assert!(failures.is_empty(), "{}", failures.join("\n"));
    }

    #[test]
    fn no_finding_ever_contains_the_secret() {
        let s = secret();
        let secrets = [RANDOM.to_owned(), s.clone(), mistyped()];
        for (line, ctx, _) in table() {
            for f in lint_line(&line, &ctx) {
                let text = format!("{} {} {}", f.rule, f.message, f.fix);
                for secret in &secrets {
                    assert!(!text.contains(secret.as_str()), "{line:?}: {text}");
                }
                // No 8-character window of the random part either.
                for w in RANDOM.as_bytes().windows(8) {
                    let w = std::str::from_utf8(w).expect("ascii");
                    assert!(!text.contains(w), "{line:?} leaks {w}: {text}");
                    assert!(
                        !text.to_ascii_uppercase().contains(&w.to_ascii_uppercase()),
                        "{line:?} leaks {w}: {text}"
                    );
                }
            }
        }
    }

    #[test]
    fn every_finding_has_words_and_a_fix() {
        for (line, ctx, _) in table() {
            for f in lint_line(&line, &ctx) {
                assert!(f.message.len() > 15, "{f:?}");
                assert!(f.fix.len() > 10, "{f:?}");
            }
        }
    }

    #[test]
    fn headers_both_set_missing_and_clean() {
        let s = secret();
        let bearer = format!("Bearer {s}");
        assert!(lint_headers(Some(&bearer), None, &ctx()).is_empty());
        assert!(lint_headers(None, Some(&s), &ctx()).is_empty());
        assert_eq!(
            rules(&lint_headers(None, None, &ctx())),
            vec![rule::NO_CREDENTIAL]
        );
        assert_eq!(
            rules(&lint_headers(Some(&bearer), Some(&s), &ctx())),
            vec![rule::BOTH_HEADERS]
        );
        assert_eq!(
            rules(&lint_headers(Some(&s), None, &ctx())),
            vec![rule::MISSING_SCHEME]
        );
        assert_eq!(
            rules(&lint_headers(None, Some(&bearer), &ctx())),
            vec![rule::BEARER_IN_API_KEY]
        );
        assert_eq!(
            rules(&lint_headers(Some("Bearer "), None, &ctx())),
            vec![rule::NO_CREDENTIAL, rule::STRAY_WHITESPACE]
        );
    }

    #[test]
    fn severities() {
        let s = secret();
        let ws = lint_line(&format!(" {s}"), &ctx());
        assert_eq!(ws.len(), 1);
        assert_eq!(ws[0].severity, Severity::Warning);
        let origin = lint_line(&pk(), &with_origin());
        assert_eq!(origin[0].severity, Severity::Warning);
        let alone = lint_line(&pk(), &ctx());
        assert_eq!(alone[0].severity, Severity::Error);
        let no_secret_needed = LintContext {
            needs_secret: false,
            ..LintContext::default()
        };
        assert_eq!(
            lint_line(&pk(), &no_secret_needed)[0].severity,
            Severity::Warning
        );
    }

    #[test]
    fn length_messages_count_the_missing_characters() {
        let s = secret();
        let f = lint_line(&s[..s.len() - 5], &ctx());
        assert!(f[0].message.contains("5 characters short"), "{f:?}");
        assert!(f[0].message.contains("truncated"), "{f:?}");
        let f = lint_line(&format!("{s}xyz"), &ctx());
        assert!(f[0].message.contains("3 extra characters"), "{f:?}");
        let f = lint_line(&mistyped(), &ctx());
        assert!(f[0].message.contains("truncated or mistyped"), "{f:?}");
        let f = lint_line(&format!("sk-live-{}", &s[8..]), &ctx());
        assert!(f[0].message.contains("`sk-live-`"), "{f:?}");
        assert!(f[0].fix.contains("`sk_live_`"), "{f:?}");
    }

    #[test]
    fn arbitrary_text_never_panics() {
        for line in [
            "é:é",
            "Bearer é",
            "Authorization: Beareré",
            "pk_live_é",
            "sk_live_\u{1F600}",
            ":",
            "::",
            "Bearer :",
            "x-api-key: '",
            "\"",
            "-H",
            "-H ''",
        ] {
            let _ = lint_line(line, &ctx());
        }
    }
}
