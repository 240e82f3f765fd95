//! The answers of the verification hot path (`POST /v1/verify`, `GET /v1/me` of a key)
//! written as JSON by hand, straight from the decision, the key record and the org: byte for
//! byte what `serde_json::to_vec` gives for the answer built from them (`VerifyResponse::
//! from_decision`, `KeyObject::from_record`, `MeResponse`; a test compares the two on
//! random values, control characters and non-ASCII text included).
//!
//! Why: in a profile of `/v1/verify`, serde's serialization was a fifth of the request,
//! most of it escaping strings one byte at a time through `io::Write`, and building the
//! answer first copied every string of the key and the trace only to write and drop them.
//! Here a string is checked eight bytes at a time for the three things JSON escapes (a
//! control character, `"` and `\`) and copied whole when it has none, which is nearly
//! always.
//!
//! A value this does not cover (a time outside years 0-9999 or a leap second) returns
//! `None`, and the caller builds the answer and uses serde; so do sessions.

use chrono::{DateTime, Utc};

use super::Org;
use crate::domain::decision::Decision;
use crate::domain::host_pattern::HostPattern;
use crate::domain::record::KeyRecord;
use crate::domain::scope::{Scope, ScopeSet};

/// `VerifyResponse::from_decision(d, key.map(|k| KeyObject::from_record(k, now)))` as
/// JSON, or `None`: a time serde must write.
pub fn verify_decision(
    d: &Decision,
    key: Option<&KeyRecord>,
    now: DateTime<Utc>,
) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(1536);
    out.extend_from_slice(b"{\"valid\":");
    boolean(&mut out, d.allowed());
    out.extend_from_slice(b",\"code\":");
    opt_string(&mut out, d.code().map(|c| c.as_str()));
    out.extend_from_slice(b",\"status\":");
    out.extend_from_slice(itoa::Buffer::new().format(d.status()).as_bytes());
    out.extend_from_slice(b",\"message\":");
    opt_string(
        &mut out,
        d.result.as_ref().err().map(|e| e.message.as_str()),
    );
    out.extend_from_slice(b",\"key\":");
    match key {
        Some(k) => key_record(&mut out, k, now)?,
        None => out.extend_from_slice(b"null"),
    }
    out.extend_from_slice(b",\"scopes\":");
    match key {
        Some(k) => scope_set(&mut out, &k.scopes),
        None => out.extend_from_slice(b"[]"),
    }
    out.extend_from_slice(b",\"trace\":[");
    for (i, t) in d.trace.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        out.extend_from_slice(b"{\"step\":");
        string(&mut out, t.step.as_str());
        out.extend_from_slice(b",\"ok\":");
        boolean(&mut out, t.ok);
        out.extend_from_slice(b",\"detail\":");
        string(&mut out, &t.detail);
        out.push(b'}');
    }
    out.extend_from_slice(b"]}");
    Some(out)
}

/// The `MeResponse` of a key's caller (`org`, `KeyObject::from_record(key, now)`, the key's
/// scopes, `auth_method`, no user) as JSON, or `None`: a time serde must write.
pub fn me_key(
    org: &Org,
    key: &KeyRecord,
    auth_method: &str,
    now: DateTime<Utc>,
) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(1024);
    out.extend_from_slice(b"{\"org\":");
    self::org(&mut out, org)?;
    out.extend_from_slice(b",\"key\":");
    key_record(&mut out, key, now)?;
    out.extend_from_slice(b",\"scopes\":");
    scope_set(&mut out, &key.scopes);
    out.extend_from_slice(b",\"auth_method\":");
    string(&mut out, auth_method);
    out.push(b'}');
    Some(out)
}

fn org(out: &mut Vec<u8>, o: &Org) -> Option<()> {
    out.extend_from_slice(b"{\"id\":");
    string(out, &o.id);
    out.extend_from_slice(b",\"name\":");
    string(out, &o.name);
    out.extend_from_slice(b",\"created_at\":");
    time(out, &o.created_at)?;
    out.push(b'}');
    Some(())
}

/// `KeyObject::from_record(k, now)` as JSON.
fn key_record(out: &mut Vec<u8>, k: &KeyRecord, now: DateTime<Utc>) -> Option<()> {
    out.extend_from_slice(b"{\"id\":");
    string(out, &k.id);
    out.extend_from_slice(b",\"name\":");
    string(out, &k.name);
    out.extend_from_slice(b",\"org_id\":");
    string(out, &k.org_id);
    out.extend_from_slice(b",\"env\":");
    string(out, k.env.as_str());
    out.extend_from_slice(b",\"app_id\":");
    opt_string(out, k.app_id.as_deref());
    out.extend_from_slice(b",\"scopes\":");
    scope_set(out, &k.scopes);
    out.extend_from_slice(b",\"allowed_domains\":[");
    for (i, h) in k.allowed_domains.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        match h {
            HostPattern::Exact(host) => string(out, host),
            HostPattern::Wildcard(base) => string_of(out, &["*.", base]),
        }
    }
    out.extend_from_slice(b"],\"enabled\":");
    boolean(out, k.enabled);
    out.extend_from_slice(b",\"status\":");
    string(out, k.status(now).as_str());
    out.extend_from_slice(b",\"secret_hint\":");
    string_of(out, &["…", &k.secret_hint]);
    out.extend_from_slice(b",\"created_at\":");
    time(out, &k.created_at)?;
    out.extend_from_slice(b",\"updated_at\":");
    time(out, &k.updated_at)?;
    out.extend_from_slice(b",\"expires_at\":");
    opt_time(out, k.expires_at.as_ref())?;
    out.extend_from_slice(b",\"last_used_at\":");
    opt_time(out, k.last_used_at.as_ref())?;
    out.extend_from_slice(b",\"rotated_from\":");
    opt_string(out, k.rotated_from.as_deref());
    out.extend_from_slice(b",\"rotated_to\":");
    opt_string(out, k.rotated_to.as_deref());
    out.extend_from_slice(b",\"version\":");
    out.extend_from_slice(itoa::Buffer::new().format(k.version).as_bytes());
    out.extend_from_slice(b",\"owner\":");
    opt_string(out, k.owner.as_deref());
    out.extend_from_slice(b",\"description\":");
    opt_string(out, k.description.as_deref());
    out.extend_from_slice(b",\"leaked_at\":");
    opt_time(out, k.leaked_at.as_ref())?;
    out.push(b'}');
    Some(())
}

/// The scopes as their strings (`*`, `keys:*`, `keys:read`).
fn scope_set(out: &mut Vec<u8>, scopes: &ScopeSet) {
    out.push(b'[');
    for (i, sc) in scopes.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        match sc {
            Scope::All => string(out, "*"),
            Scope::Resource(r) => string_of(out, &[r, ":*"]),
            Scope::Exact(r, a) => string_of(out, &[r, ":", a]),
        }
    }
    out.push(b']');
}

fn boolean(out: &mut Vec<u8>, v: bool) {
    out.extend_from_slice(if v { b"true" } else { b"false" });
}

fn opt_string(out: &mut Vec<u8>, v: Option<&str>) {
    match v {
        Some(s) => string(out, s),
        None => out.extend_from_slice(b"null"),
    }
}

fn time(out: &mut Vec<u8>, t: &DateTime<Utc>) -> Option<()> {
    let mut buf = [0u8; 30];
    let n = super::rfc3339::format(t, &mut buf)?;
    out.push(b'"');
    out.extend_from_slice(&buf[..n]);
    out.push(b'"');
    Some(())
}

fn opt_time(out: &mut Vec<u8>, t: Option<&DateTime<Utc>>) -> Option<()> {
    match t {
        Some(t) => time(out, t),
        None => {
            out.extend_from_slice(b"null");
            Some(())
        }
    }
}

const LOW: u64 = 0x0101_0101_0101_0101;
const HIGH: u64 = 0x8080_8080_8080_8080;

/// Whether any of the eight bytes of `w` is a control character (< 0x20), `"` or `\`.
fn needs_escape(w: u64) -> bool {
    // A byte is zero in `x` exactly where `x - LOW` borrows into its high bit while the
    // byte itself had it clear; `< 0x20` is the same test on `w - 0x20…` (bytes ≥ 0x80
    // have their high bit set and are excluded by `!w`).
    let zero = |x: u64| x.wrapping_sub(LOW) & !x & HIGH;
    let below_space = w.wrapping_sub(LOW * 0x20) & !w & HIGH;
    (below_space | zero(w ^ (LOW * u64::from(b'"'))) | zero(w ^ (LOW * u64::from(b'\\')))) != 0
}

/// `s` as a JSON string, escaped as `serde_json` escapes it: `\"`, `\\`, `\b`, `\f`, `\n`,
/// `\r`, `\t`, other control characters as `\u00XX` (lower-case hex); nothing else.
fn string(out: &mut Vec<u8>, s: &str) {
    out.reserve(s.len() + 2);
    out.push(b'"');
    escape_into(out, s.as_bytes());
    out.push(b'"');
}

/// The concatenation of `parts` as one JSON string (escaping works character by character,
/// so escaping each part is escaping the whole).
fn string_of(out: &mut Vec<u8>, parts: &[&str]) {
    out.reserve(parts.iter().map(|p| p.len()).sum::<usize>() + 2);
    out.push(b'"');
    for p in parts {
        escape_into(out, p.as_bytes());
    }
    out.push(b'"');
}

fn escape_into(out: &mut Vec<u8>, bytes: &[u8]) {
    let mut chunks = bytes.chunks_exact(8);
    let clean = chunks.by_ref().all(|c| {
        let mut w = [0u8; 8];
        w.copy_from_slice(c);
        !needs_escape(u64::from_le_bytes(w))
    }) && chunks.remainder().iter().all(|&b| !escaped(b));
    if clean {
        out.extend_from_slice(bytes);
        return;
    }
    let mut start = 0;
    for (i, &b) in bytes.iter().enumerate() {
        if !escaped(b) {
            continue;
        }
        out.extend_from_slice(&bytes[start..i]);
        match b {
            b'"' => out.extend_from_slice(b"\\\""),
            b'\\' => out.extend_from_slice(b"\\\\"),
            0x08 => out.extend_from_slice(b"\\b"),
            0x0c => out.extend_from_slice(b"\\f"),
            b'\n' => out.extend_from_slice(b"\\n"),
            b'\r' => out.extend_from_slice(b"\\r"),
            b'\t' => out.extend_from_slice(b"\\t"),
            _ => {
                const HEX: &[u8; 16] = b"0123456789abcdef";
                out.extend_from_slice(b"\\u00");
                out.push(HEX[usize::from(b >> 4)]);
                out.push(HEX[usize::from(b & 0xf)]);
            }
        }
        start = i + 1;
    }
    out.extend_from_slice(&bytes[start..]);
}

fn escaped(b: u8) -> bool {
    b < 0x20 || b == b'"' || b == b'\\'
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::{KeyObject, MeResponse, VerifyResponse};
    use crate::domain::decision::{Denial, ErrorCode, Step, TraceStep};
    use crate::domain::key::{Env, SecretHash};
    use std::borrow::Cow;

    struct Rng(u64);

    impl Rng {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            self.0
        }
        fn below(&mut self, n: u64) -> u64 {
            self.next() % n.max(1)
        }
        fn text(&mut self) -> String {
            const PIECES: &[&str] = &[
                "a", "billing", " ", "\"", "\\", "\n", "\r", "\t", "\u{8}", "\u{c}", "\u{0}",
                "\u{1f}", "\u{7f}", "é", "…", "日本", "🔑", "/", "<>", "\u{2028}", "pk_live_",
            ];
            let n = self.below(24);
            (0..n)
                .map(|_| PIECES[self.below(PIECES.len() as u64) as usize])
                .collect()
        }
        fn opt_text(&mut self) -> Option<String> {
            (self.below(3) > 0).then(|| self.text())
        }
        /// Mostly years 0-9999, some outside (which serde must write).
        fn time(&mut self) -> DateTime<Utc> {
            let secs = (self.next() % 400_000_000_000) as i64 - 100_000_000_000;
            let nanos = match self.below(4) {
                0 => 0,
                1 => self.below(1000) as u32 * 1_000_000,
                2 => self.below(1_000_000) as u32 * 1_000,
                _ => self.below(1_000_000_000) as u32,
            };
            DateTime::from_timestamp(secs, nanos).unwrap_or_default()
        }
        fn opt_time(&mut self) -> Option<DateTime<Utc>> {
            (self.below(2) == 0).then(|| self.time())
        }
        fn pick(&mut self, from: &[&'static str]) -> Vec<&'static str> {
            (0..self.below(4))
                .map(|_| from[self.below(from.len() as u64) as usize])
                .collect()
        }
        fn record(&mut self) -> KeyRecord {
            const SCOPES: &[&str] = &["*", "keys:*", "keys:read", "usage:read", "runs:write"];
            const HOSTS: &[&str] = &["example.com", "*.example.com", "a.b.example.org", "*.x.io"];
            let scopes = self.pick(SCOPES);
            let hosts = self.pick(HOSTS);
            KeyRecord {
                id: self.text(),
                org_id: self.text(),
                name: self.text(),
                env: if self.below(2) == 0 {
                    Env::Live
                } else {
                    Env::Test
                },
                app_id: self.opt_text(),
                scopes: ScopeSet::parse(&scopes).unwrap_or_else(|_| ScopeSet::from_scopes(vec![])),
                allowed_domains: hosts
                    .iter()
                    .filter_map(|h| HostPattern::parse(h).ok())
                    .collect(),
                enabled: self.below(3) > 0,
                secret_hash: SecretHash([7; 32]),
                secret_hint: self.text(),
                created_at: self.time(),
                updated_at: self.time(),
                expires_at: self.opt_time(),
                last_used_at: self.opt_time(),
                rotated_from: self.opt_text(),
                rotated_to: self.opt_text(),
                version: self.next() as i64,
                owner: self.opt_text(),
                description: self.opt_text(),
                leaked_at: self.opt_time(),
            }
        }
        fn decision(&mut self) -> Decision {
            let steps: Vec<Step> = Step::KEY.into_iter().chain(Step::SESSION).collect();
            let result = match self.below(3) {
                0 => Ok(()),
                _ => {
                    let code = ErrorCode::ALL[self.below(ErrorCode::ALL.len() as u64) as usize];
                    Err(Denial::new(code, self.text()))
                }
            };
            Decision {
                result,
                trace: (0..self.below(9))
                    .map(|_| TraceStep {
                        step: steps[self.below(steps.len() as u64) as usize],
                        ok: self.below(2) == 0,
                        detail: if self.below(2) == 0 {
                            Cow::Borrowed("the key is enabled")
                        } else {
                            Cow::Owned(self.text())
                        },
                    })
                    .collect(),
                method: None,
                user: None,
            }
        }
    }

    /// Whether serde must write one of these times (a year outside 0-9999).
    fn out_of_range<'a>(times: impl IntoIterator<Item = &'a DateTime<Utc>>) -> bool {
        use chrono::Datelike;
        times.into_iter().any(|t| !(0..=9999).contains(&t.year()))
    }

    fn times(k: &KeyRecord) -> Vec<&DateTime<Utc>> {
        [
            Some(&k.created_at),
            Some(&k.updated_at),
            k.expires_at.as_ref(),
            k.last_used_at.as_ref(),
            k.leaked_at.as_ref(),
        ]
        .into_iter()
        .flatten()
        .collect()
    }

    /// What serde gives for `value`, or declined exactly when a time is out of range.
    fn same<T: serde::Serialize>(value: &T, ours: Option<Vec<u8>>, declines: bool) {
        let theirs = serde_json::to_vec(value).unwrap_or_default();
        match ours {
            Some(bytes) => {
                assert!(!declines, "wrote a time serde must write");
                assert_eq!(
                    String::from_utf8_lossy(&bytes),
                    String::from_utf8_lossy(&theirs)
                );
            }
            None => assert!(declines, "declined {}", String::from_utf8_lossy(&theirs)),
        }
    }

    #[test]
    fn the_same_bytes_as_serde_json_for_the_answers_built_from_the_same_values() {
        let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
        let (mut with_key, mut declined) = (0, 0);
        for _ in 0..5_000 {
            let rec = (rng.below(4) > 0).then(|| rng.record());
            let d = rng.decision();
            let now = rng.time();
            let built = VerifyResponse::from_decision(
                &d,
                rec.as_ref().map(|k| KeyObject::from_record(k, now)),
            );
            let declines = rec.as_ref().is_some_and(|k| out_of_range(times(k)));
            declined += usize::from(declines);
            same(&built, verify_decision(&d, rec.as_ref(), now), declines);
            if let Some(k) = &rec {
                with_key += 1;
                let org = Org {
                    id: rng.text(),
                    name: rng.text(),
                    created_at: rng.time(),
                };
                let method = rng.text();
                let built = MeResponse {
                    org: org.clone(),
                    key: Some(KeyObject::from_record(k, now)),
                    scopes: k.scopes.to_strings(),
                    auth_method: method.clone(),
                    user: None,
                };
                let declines = out_of_range(times(k).into_iter().chain([&org.created_at]));
                same(&built, me_key(&org, k, &method, now), declines);
            }
        }
        // Both paths were taken often: keys written by hand, and keys left to serde.
        assert!(with_key > 3_000 && declined > 100 && with_key - declined > 1_000);
    }

    #[test]
    fn every_byte_is_escaped_as_serde_json_escapes_it() {
        for b in 0u8..=127 {
            let s = format!("ab{}cdefghij{}", char::from(b), char::from(b));
            let mut ours = Vec::new();
            string(&mut ours, &s);
            assert_eq!(ours, serde_json::to_vec(&s).unwrap_or_default(), "byte {b}");
        }
    }
}
