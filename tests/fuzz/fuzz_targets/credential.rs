//! Credential parsing (`domain::decision::extract_token` / `parse_token`): arbitrary header
//! values, and real keys built from the input then mutated.
//!
//! Invariants: an extracted token is a whitespace-free piece of one header; a parsed secret
//! has a valid structure and checksum and is exactly the token; a pair is `pk:secret` of one
//! environment; every real key parses, in every header form; no single-character change,
//! truncation or extension of a real secret is accepted; refusals never quote the token and
//! `Debug` never shows a secret.
#![no_main]

use keyconsole::domain::decision::{Credential, ErrorCode, Step, extract_token, parse_token};
use keyconsole::domain::key::{
    Env, ParsedSecret, PublicKeyId, SECRET_RANDOM_LEN, Secret, SecretPrefix,
};
use keyconsole_fuzz::{filler, leaked_run, longest_alnum_run};
use libfuzzer_sys::arbitrary::{self, Arbitrary};
use libfuzzer_sys::fuzz_target;

#[derive(Arbitrary, Debug)]
struct Input {
    prefix: u8,
    authorization: Vec<Vec<u8>>,
    x_api_key: Vec<Vec<u8>>,
    seed: Vec<u8>,
    live: bool,
    mutate_at: u16,
    mutate_to: u8,
}

fn prefix_of(n: u8) -> SecretPrefix {
    let p = ["sk", "org", "x1"][usize::from(n % 3)];
    SecretPrefix::new(p).expect("valid prefix")
}

/// The secret's text after `<prefix>_<env>_`: its random part and checksum.
fn secret_body(s: &str) -> &str {
    s.splitn(3, '_').nth(2).unwrap_or("")
}

fn check_parsed(token: &str, prefix: &SecretPrefix) {
    match parse_token(token, prefix) {
        Ok(cred) => {
            let debug = format!("{cred:?}");
            match &cred {
                Credential::Secret(s, env) => {
                    assert_eq!(s.expose(), token);
                    let parsed = ParsedSecret::parse(token, prefix).expect("checksum holds");
                    assert_eq!(parsed.env, *env);
                    assert_eq!(parsed.random.len(), SECRET_RANDOM_LEN);
                }
                Credential::Pair(pk, s, env) => {
                    assert_eq!(format!("{}:{}", pk.as_str(), s.expose()), token);
                    assert_eq!(pk.env(), *env);
                    PublicKeyId::parse(pk.as_str()).expect("public key reparses");
                    let parsed = ParsedSecret::parse(s.expose(), prefix).expect("checksum holds");
                    assert_eq!(parsed.env, *env);
                }
                Credential::PublicKey(pk) => {
                    assert_eq!(pk.as_str(), token);
                    assert!(cred.secret().is_none());
                }
            }
            if let Some(s) = cred.secret() {
                let body = secret_body(s.expose());
                assert!(
                    leaked_run(&debug, body, 8, "").is_none(),
                    "Debug shows the secret: {debug}"
                );
            }
        }
        Err(f) => {
            assert!(matches!(f.step, Step::Parse | Step::Checksum), "{f:?}");
            assert_eq!(f.denial.code, ErrorCode::MalformedCredentials);
            // Messages never quote the token: no 16-character letter/digit run of it.
            if longest_alnum_run(token) >= 16 {
                assert!(
                    leaked_run(&f.denial.message, token, 16, "").is_none(),
                    "the refusal quotes the token: {}",
                    f.denial.message
                );
            }
        }
    }
}

fn raw_headers(input: &Input, prefix: &SecretPrefix) {
    let auth: Vec<&[u8]> = input.authorization.iter().map(Vec::as_slice).collect();
    let key: Vec<&[u8]> = input.x_api_key.iter().map(Vec::as_slice).collect();
    match extract_token(&auth, &key) {
        Ok(token) => {
            assert!(!token.is_empty());
            assert!(!token.chars().any(char::is_whitespace), "{token:?}");
            assert_eq!(auth.len() + key.len(), 1, "exactly one credential header");
            let from = auth.first().or(key.first()).expect("one header");
            let text = std::str::from_utf8(from).expect("the header was text");
            assert!(text.ends_with(token), "{text:?} / {token:?}");
            check_parsed(token, prefix);
        }
        Err(f) => {
            let code = f.denial.code;
            if auth.is_empty() && key.is_empty() {
                assert_eq!(code, ErrorCode::MissingCredentials);
            } else {
                assert_eq!(code, ErrorCode::MalformedCredentials);
            }
        }
    }
}

fn mutated(s: &str, at: u16, to: u8) -> Option<String> {
    let i = usize::from(at) % s.len();
    let original = s.as_bytes()[i];
    // Any printable ASCII character other than the original.
    let c = b' ' + to % 95;
    if c == original {
        return None;
    }
    let mut bytes = s.as_bytes().to_vec();
    bytes[i] = c;
    String::from_utf8(bytes).ok()
}

fn real_keys(input: &Input, prefix: &SecretPrefix) {
    let env = if input.live { Env::Live } else { Env::Test };
    let mut fill = filler(&input.seed);
    let secret = Secret::generate(prefix, env, &mut fill);
    let pk = PublicKeyId::generate(env, &mut fill);
    let s = secret.expose();
    assert_eq!(
        parse_token(s, prefix),
        Ok(Credential::Secret(secret.clone(), env))
    );
    assert_eq!(
        parse_token(pk.as_str(), prefix),
        Ok(Credential::PublicKey(pk.clone()))
    );
    let pair = format!("{}:{s}", pk.as_str());
    assert_eq!(
        parse_token(&pair, prefix),
        Ok(Credential::Pair(pk.clone(), secret.clone(), env))
    );
    for scheme in ["Bearer", "bearer", "BEARER", "bEaReR"] {
        let header = format!("{scheme} {pair}");
        assert_eq!(extract_token(&[header.as_bytes()], &[]), Ok(pair.as_str()));
    }
    assert_eq!(extract_token(&[], &[s.as_bytes()]), Ok(s));
    // No single-character change, truncation or extension is accepted.
    if let Some(m) = mutated(s, input.mutate_at, input.mutate_to) {
        assert!(
            parse_token(&m, prefix).is_err(),
            "accepted a mistyped secret"
        );
        let m_pair = format!("{}:{m}", pk.as_str());
        assert!(parse_token(&m_pair, prefix).is_err());
    }
    assert!(parse_token(&s[..s.len() - 1], prefix).is_err());
    assert!(parse_token(&format!("{s}{}", s.as_bytes()[8] as char), prefix).is_err());
    // The other environment's key with this prefix is not this key.
    let other = if env == Env::Live {
        Env::Test
    } else {
        Env::Live
    };
    let swapped = s.replacen(env.as_str(), other.as_str(), 1);
    assert!(matches!(
        parse_token(&swapped, prefix),
        Ok(Credential::Secret(_, e)) if e == other
    ));
}

fuzz_target!(|input: Input| {
    let prefix = prefix_of(input.prefix);
    raw_headers(&input, &prefix);
    real_keys(&input, &prefix);
});
