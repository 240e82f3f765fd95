//! The offline credential lint (`domain::lint`): lines and header pairs the fuzzer writes
//! around a real key built from its input (`§` marks where the key goes).
//!
//! Invariants: a finding never quotes the secret (no 8-character run of its random part
//! that the surrounding text did not already contain); every finding has a known rule, a
//! message and a fix; and the lint agrees with the server's parser on a header value: it
//! reports no error exactly when `extract_token` + `parse_token` accept it.
#![no_main]

use keyconsole::domain::decision::{extract_token, parse_token};
use keyconsole::domain::key::{Env, PublicKeyId, Secret, SecretPrefix};
use keyconsole::domain::lint::{Finding, LintContext, Severity, lint_headers, lint_line, rule};
use keyconsole_fuzz::{filler, leaked_run};
use libfuzzer_sys::arbitrary::{self, Arbitrary};
use libfuzzer_sys::fuzz_target;

#[derive(Arbitrary, Debug)]
struct Input {
    seed: Vec<u8>,
    live: bool,
    /// 0 secret, 1 public key, 2 pair, 3 secret missing its last character.
    kind: u8,
    prefix: u8,
    server_env: Option<bool>,
    needs_secret: bool,
    origin: Option<String>,
    line: String,
    authorization: Option<String>,
    x_api_key: Option<String>,
}

const RULES: &[&str] = &[
    rule::NO_CREDENTIAL,
    rule::UNKNOWN_HEADER,
    rule::MISSING_SCHEME,
    rule::WRONG_SCHEME,
    rule::BEARER_TWICE,
    rule::BEARER_IN_API_KEY,
    rule::BEARER_SPACING,
    rule::STRAY_WHITESPACE,
    rule::QUOTED,
    rule::WRONG_PREFIX,
    rule::INVALID_CHARACTER,
    rule::WRONG_LENGTH,
    rule::CHECKSUM_MISMATCH,
    rule::PUBLIC_KEY_ONLY,
    rule::ENV_MISMATCH,
    rule::PAIR_MISSING_HALF,
    rule::PAIR_REVERSED,
    rule::PAIR_BAD_PUBLIC_KEY,
    rule::PAIR_BAD_SECRET,
    rule::PAIR_ENV_MISMATCH,
    rule::BOTH_HEADERS,
];

/// `template` with the key in place of each `§` (appended when there is none).
fn place(template: &str, key: &str) -> String {
    if template.contains('§') {
        template.replace('§', key)
    } else {
        format!("{template}{key}")
    }
}

fn check_findings(findings: &[Finding], random: &str, around: &str) {
    for f in findings {
        assert!(RULES.contains(&f.rule), "unknown rule {}", f.rule);
        assert!(!f.message.is_empty() && !f.fix.is_empty(), "{f:?}");
        let text = format!("{} {}", f.message, f.fix);
        if let Some(run) = leaked_run(&text, random, 8, around) {
            panic!("finding {} quotes `{run}` of the secret: {text}", f.rule);
        }
    }
}

fuzz_target!(|input: Input| {
    let prefix = SecretPrefix::new(["sk", "org"][usize::from(input.prefix % 2)]).expect("prefix");
    let env = if input.live { Env::Live } else { Env::Test };
    let mut fill = filler(&input.seed);
    let secret = Secret::generate(&prefix, env, &mut fill);
    let pk = PublicKeyId::generate(env, &mut fill);
    let s = secret.expose();
    let key = match input.kind % 4 {
        0 => s.to_owned(),
        1 => pk.as_str().to_owned(),
        2 => format!("{}:{s}", pk.as_str()),
        _ => s[..s.len() - 1].to_owned(),
    };
    // The secret's random part: what must never be quoted.
    let random = &s[s.len() - 38..s.len() - 6];
    let ctx = LintContext {
        secret_prefix: prefix.clone(),
        server_env: input
            .server_env
            .map(|l| if l { Env::Live } else { Env::Test }),
        needs_secret: input.needs_secret,
        origin: input.origin.clone(),
    };

    let line = place(&input.line, &key);
    check_findings(&lint_line(&line, &ctx), random, &input.line);
    let auth = input.authorization.as_deref().map(|t| place(t, &key));
    let api_key = input.x_api_key.as_deref().map(|t| place(t, &key));
    let around = format!(
        "{} {}",
        input.authorization.as_deref().unwrap_or(""),
        input.x_api_key.as_deref().unwrap_or("")
    );
    check_findings(
        &lint_headers(auth.as_deref(), api_key.as_deref(), &ctx),
        random,
        &around,
    );

    // The lint and the parser agree on an Authorization value, where the lint knows no more
    // than the parser (no environment, no Origin, a public key alone allowed).
    if let Some(value) = &auth {
        let plain = LintContext {
            secret_prefix: prefix.clone(),
            server_env: None,
            needs_secret: false,
            origin: None,
        };
        let errors: Vec<&'static str> = lint_headers(Some(value), None, &plain)
            .iter()
            .filter(|f| f.severity == Severity::Error)
            .map(|f| f.rule)
            .collect();
        let parsed = extract_token(&[value.as_bytes()], &[])
            .and_then(|t| parse_token(t, &prefix).map(|_| ()));
        assert_eq!(
            errors.is_empty(),
            parsed.is_ok(),
            "lint errors {errors:?}, parser {:?}, for {value:?}",
            parsed.err().map(|f| f.denial.message)
        );
    }
});
