//! Allowed-domain patterns and Origin matching (`domain::host_pattern`).
//!
//! Invariants: a pattern that parses prints as lowercase text that parses back to the same
//! pattern; an exact pattern matches its host from any scheme, port and letter case; a
//! wildcard matches subdomains at any depth but never its apex or a name that only ends with
//! it; `origin_host` yields a lowercase host (one trailing dot stripped) or nothing, and no
//! pattern matches what is left with a trailing dot; and
//! `check_origin` allows exactly when some pattern matches the Origin's host.
#![no_main]

use keyconsole::domain::host_pattern::{HostPattern, OriginVerdict, check_origin, origin_host};
use libfuzzer_sys::arbitrary::{self, Arbitrary};
use libfuzzer_sys::fuzz_target;

#[derive(Arbitrary, Debug)]
struct Input {
    patterns: Vec<String>,
    origin: String,
    label: String,
}

fn check_pattern(p: &HostPattern, label: &str) {
    let text = p.to_string();
    assert_eq!(text, text.to_ascii_lowercase());
    assert_eq!(
        HostPattern::parse(&text).as_ref(),
        Ok(p),
        "round trip of {text}"
    );
    assert_eq!(
        HostPattern::parse(&text.to_ascii_uppercase()).as_ref(),
        Ok(p)
    );
    match p {
        // Found by this target: `null` parses as a pattern, but an Origin whose host is `null`
        // is the opaque origin (no host), so that pattern can never match.
        HostPattern::Exact(h) if h == "null" => {}
        HostPattern::Exact(h) => {
            assert!(p.matches_host(h));
            for origin in [
                format!("https://{h}"),
                format!("http://{h}:8080"),
                format!("HTTPS://{}", h.to_ascii_uppercase()),
                format!("https://{h}./path?q"),
            ] {
                assert!(
                    check_origin(std::slice::from_ref(p), Some(&origin)).allowed(),
                    "{origin} against {text}"
                );
            }
            assert!(!p.matches_host(&format!("x{h}")));
            assert!(!p.matches_host(&format!("a.{h}")));
        }
        HostPattern::Wildcard(base) => {
            assert!(!p.matches_host(base), "a wildcard never matches its apex");
            assert!(p.matches_host(&format!("a.{base}")));
            assert!(p.matches_host(&format!("a.b.{base}")));
            let label: String = label
                .chars()
                .filter(char::is_ascii_alphanumeric)
                .take(20)
                .collect::<String>()
                .to_ascii_lowercase();
            if !label.is_empty() {
                assert!(p.matches_host(&format!("{label}.{base}")));
                assert!(!p.matches_host(&format!("{label}{base}")), "{label}{base}");
                let origin = format!("https://{label}.{base}:443");
                assert!(check_origin(std::slice::from_ref(p), Some(&origin)).allowed());
            }
        }
    }
}

fuzz_target!(|input: Input| {
    let patterns: Vec<HostPattern> = input
        .patterns
        .iter()
        .filter_map(|s| match HostPattern::parse(s) {
            Ok(p) => Some(p),
            Err(e) => {
                assert!(!e.to_string().is_empty());
                None
            }
        })
        .collect();
    for p in &patterns {
        check_pattern(p, &input.label);
    }
    let host = origin_host(&input.origin);
    if let Some(h) = &host {
        assert!(!h.is_empty() && h != "null");
        assert_eq!(h, &h.to_ascii_lowercase());
        // One trailing dot is stripped; `https://a..` leaves `a.`, which is no host name, so
        // no pattern may match it.
        if h.ends_with('.') {
            assert!(patterns.iter().all(|p| !p.matches_host(h)), "{h}");
        }
        assert!(!h.contains(['/', '?', '#', '@']), "{h}");
    }
    let verdict = check_origin(&patterns, Some(&input.origin));
    let matched = host
        .as_ref()
        .is_some_and(|h| patterns.iter().any(|p| p.matches_host(h)));
    assert_eq!(verdict.allowed(), matched, "{verdict:?}");
    match (&verdict, &host) {
        (OriginVerdict::NoOrigin, h) => assert!(h.is_none()),
        (OriginVerdict::NoPatterns, _) => assert!(patterns.is_empty()),
        (
            OriginVerdict::Matched { host: vh, .. } | OriginVerdict::NotMatched { host: vh, .. },
            Some(h),
        ) => {
            assert_eq!(vh, h)
        }
        (v, None) => panic!("{v:?} without a host"),
    }
    assert!(!verdict.explain().is_empty());
});
