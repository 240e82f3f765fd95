//! The answers of the verification hot path (`POST /v1/verify`, `GET /v1/me`) written as
//! JSON by hand, byte for byte what `serde_json::to_vec` gives for the same value (a test
//! compares the two on random values, control characters and non-ASCII text included).
//!
//! Why: in a profile of `/v1/verify`, serde's serialization was a fifth of the request,
//! most of it escaping strings one byte at a time through `io::Write`. Here a string is
//! checked eight bytes at a time for the three things JSON escapes (a control character,
//! `"` and `\`) and copied whole when it has none, which is nearly always.
//!
//! A value this does not cover (a session's fields, a time outside years 0-9999 or a leap
//! second) returns `None`, and the caller uses serde.

use chrono::{DateTime, Utc};

use super::{KeyObject, MeResponse, Org, TraceItem, VerifyResponse};

/// `r` as JSON, or `None` to leave it to serde (a session verification).
pub fn verify(r: &VerifyResponse) -> Option<Vec<u8>> {
    if r.session.is_some() {
        return None;
    }
    let mut out = Vec::with_capacity(1536);
    out.extend_from_slice(b"{\"valid\":");
    boolean(&mut out, r.valid);
    out.extend_from_slice(b",\"code\":");
    opt_string(&mut out, r.code.as_deref());
    out.extend_from_slice(b",\"status\":");
    out.extend_from_slice(itoa::Buffer::new().format(r.status).as_bytes());
    out.extend_from_slice(b",\"message\":");
    opt_string(&mut out, r.message.as_deref());
    out.extend_from_slice(b",\"key\":");
    match &r.key {
        Some(k) => key(&mut out, k)?,
        None => out.extend_from_slice(b"null"),
    }
    out.extend_from_slice(b",\"scopes\":");
    strings(&mut out, &r.scopes);
    out.extend_from_slice(b",\"trace\":[");
    for (i, t) in r.trace.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        trace_item(&mut out, t);
    }
    out.extend_from_slice(b"]}");
    Some(out)
}

/// `r` as JSON, or `None` to leave it to serde (a session's caller).
pub fn me(r: &MeResponse) -> Option<Vec<u8>> {
    if r.user.is_some() {
        return None;
    }
    let mut out = Vec::with_capacity(1024);
    out.extend_from_slice(b"{\"org\":");
    org(&mut out, &r.org)?;
    out.extend_from_slice(b",\"key\":");
    match &r.key {
        Some(k) => key(&mut out, k)?,
        None => out.extend_from_slice(b"null"),
    }
    out.extend_from_slice(b",\"scopes\":");
    strings(&mut out, &r.scopes);
    out.extend_from_slice(b",\"auth_method\":");
    string(&mut out, &r.auth_method);
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

fn key(out: &mut Vec<u8>, k: &KeyObject) -> Option<()> {
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
    strings(out, &k.scopes);
    out.extend_from_slice(b",\"allowed_domains\":");
    strings(out, &k.allowed_domains);
    out.extend_from_slice(b",\"enabled\":");
    boolean(out, k.enabled);
    out.extend_from_slice(b",\"status\":");
    string(out, k.status.as_str());
    out.extend_from_slice(b",\"secret_hint\":");
    string(out, &k.secret_hint);
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

fn trace_item(out: &mut Vec<u8>, t: &TraceItem) {
    out.extend_from_slice(b"{\"step\":");
    string(out, &t.step);
    out.extend_from_slice(b",\"ok\":");
    boolean(out, t.ok);
    out.extend_from_slice(b",\"detail\":");
    string(out, &t.detail);
    out.push(b'}');
}

fn boolean(out: &mut Vec<u8>, v: bool) {
    out.extend_from_slice(if v { b"true" } else { b"false" });
}

fn strings(out: &mut Vec<u8>, v: &[String]) {
    out.push(b'[');
    for (i, s) in v.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        string(out, s);
    }
    out.push(b']');
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
    let bytes = s.as_bytes();
    out.reserve(bytes.len() + 2);
    out.push(b'"');
    let mut chunks = bytes.chunks_exact(8);
    let clean = chunks.by_ref().all(|c| {
        let mut w = [0u8; 8];
        w.copy_from_slice(c);
        !needs_escape(u64::from_le_bytes(w))
    }) && chunks.remainder().iter().all(|&b| !escaped(b));
    if clean {
        out.extend_from_slice(bytes);
    } else {
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
    out.push(b'"');
}

fn escaped(b: u8) -> bool {
    b < 0x20 || b == b'"' || b == b'\\'
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::{SessionUserObject, VerifySession};
    use crate::domain::key::Env;
    use crate::domain::record::KeyStatus;

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
        fn texts(&mut self) -> Vec<String> {
            let n = self.below(4);
            (0..n).map(|_| self.text()).collect()
        }
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
        fn key(&mut self) -> KeyObject {
            KeyObject {
                id: self.text(),
                name: self.text(),
                org_id: self.text(),
                env: if self.below(2) == 0 {
                    Env::Live
                } else {
                    Env::Test
                },
                app_id: self.opt_text(),
                scopes: self.texts(),
                allowed_domains: self.texts(),
                enabled: self.below(2) == 0,
                status: [
                    KeyStatus::Active,
                    KeyStatus::Disabled,
                    KeyStatus::Expiring,
                    KeyStatus::Expired,
                ][self.below(4) as usize],
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
    }

    /// What serde gives, or that this module declined (only for what it may decline).
    fn same<T: serde::Serialize>(value: &T, ours: Option<Vec<u8>>, may_decline: bool) {
        let theirs = serde_json::to_vec(value).unwrap_or_default();
        match ours {
            Some(bytes) => assert_eq!(
                String::from_utf8_lossy(&bytes),
                String::from_utf8_lossy(&theirs)
            ),
            None => assert!(may_decline, "declined {}", String::from_utf8_lossy(&theirs)),
        }
    }

    #[test]
    fn the_same_bytes_as_serde_json() {
        let mut rng = Rng(0x2545_F491_4F6C_DD1D);
        for _ in 0..5_000 {
            let key = (rng.below(4) > 0).then(|| rng.key());
            let out_of_range = |k: &KeyObject| {
                [
                    Some(k.created_at),
                    Some(k.updated_at),
                    k.expires_at,
                    k.last_used_at,
                    k.leaked_at,
                ]
                .into_iter()
                .flatten()
                .any(|t| {
                    use chrono::Datelike;
                    !(0..=9999).contains(&t.year())
                })
            };
            let declines = key.as_ref().is_some_and(out_of_range);
            let v = VerifyResponse {
                valid: rng.below(2) == 0,
                code: rng.opt_text(),
                status: rng.below(600) as u16,
                message: rng.opt_text(),
                key: key.clone(),
                scopes: rng.texts(),
                trace: (0..rng.below(7))
                    .map(|_| TraceItem {
                        step: rng.text(),
                        ok: rng.below(2) == 0,
                        detail: rng.text(),
                    })
                    .collect(),
                session: None,
            };
            same(&v, verify(&v), declines);
            let created_at = rng.time();
            let me_declines = declines || {
                use chrono::Datelike;
                !(0..=9999).contains(&created_at.year())
            };
            let m = MeResponse {
                org: Org {
                    id: rng.text(),
                    name: rng.text(),
                    created_at,
                },
                key,
                scopes: rng.texts(),
                auth_method: rng.text(),
                user: None,
            };
            same(&m, me(&m), me_declines);
        }
    }

    #[test]
    fn sessions_are_left_to_serde() {
        let user = SessionUserObject {
            sub: "u1".into(),
            name: None,
            email: None,
        };
        let m = MeResponse {
            org: Org {
                id: "org_1".into(),
                name: "Acme".into(),
                created_at: Utc::now(),
            },
            key: None,
            scopes: Vec::new(),
            auth_method: "session".into(),
            user: Some(user.clone()),
        };
        assert!(me(&m).is_none());
        let v = VerifyResponse {
            valid: true,
            code: None,
            status: 200,
            message: None,
            key: None,
            scopes: Vec::new(),
            trace: Vec::new(),
            session: Some(VerifySession {
                issuer: "https://idp".into(),
                audience: None,
                org_claim: "org".into(),
                user: Some(user),
                expires_at: None,
            }),
        };
        assert!(verify(&v).is_none());
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
