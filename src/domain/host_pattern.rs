//! Allowed-domain patterns and Origin matching (API.md §2).
//!
//! `example.com` matches exactly that host. `*.example.com` matches any subdomain at any
//! depth, but not `example.com` itself and not `badexample.com`. Matching is on the host of
//! the `Origin` header, case-insensitive, ignoring scheme and port.

use std::fmt;

/// One allowed-domain pattern, stored lowercase.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum HostPattern {
    /// Exactly this host.
    Exact(String),
    /// Any subdomain (any depth) of this host, not the host itself.
    Wildcard(String),
}

/// Why a pattern was refused. Each message says how to write it instead.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PatternError {
    /// Empty input.
    #[error("a domain cannot be empty")]
    Empty,
    /// Has a scheme, path or port.
    #[error("`{0}`: enter a host only, without scheme, port or path (e.g. `app.example.com`)")]
    NotAHost(String),
    /// `*` somewhere other than a leading `*.`.
    #[error("`{0}`: a wildcard is allowed only as a leading `*.` (e.g. `*.example.com`)")]
    BadWildcard(String),
    /// A wildcard over a single label such as `*.com`.
    #[error("`{0}`: a wildcard needs at least two labels after `*.` (e.g. `*.example.com`)")]
    WildcardTooBroad(String),
    /// A label with characters or length outside DNS rules.
    #[error("`{0}`: not a valid host name (letters, digits and `-`, labels of 1-63 characters)")]
    BadLabel(String),
}

fn valid_label(label: &str) -> bool {
    !label.is_empty()
        && label.len() <= 63
        && label
            .bytes()
            .all(|c| c.is_ascii_alphanumeric() || c == b'-')
        && !label.starts_with('-')
        && !label.ends_with('-')
}

fn valid_host(host: &str) -> bool {
    host.len() <= 253 && host.split('.').all(valid_label)
}

impl HostPattern {
    /// Parse and validate a pattern.
    pub fn parse(input: &str) -> Result<HostPattern, PatternError> {
        let raw = input.trim();
        if raw.is_empty() {
            return Err(PatternError::Empty);
        }
        if raw.contains("://") || raw.contains('/') || raw.contains(':') || raw.contains(' ') {
            return Err(PatternError::NotAHost(raw.to_owned()));
        }
        let lower = raw.to_ascii_lowercase();
        let lower = lower.strip_suffix('.').unwrap_or(&lower);
        if let Some(base) = lower.strip_prefix("*.") {
            if base.contains('*') {
                return Err(PatternError::BadWildcard(raw.to_owned()));
            }
            if !valid_host(base) {
                return Err(PatternError::BadLabel(raw.to_owned()));
            }
            if !base.contains('.') {
                return Err(PatternError::WildcardTooBroad(raw.to_owned()));
            }
            return Ok(HostPattern::Wildcard(base.to_owned()));
        }
        if lower.contains('*') {
            return Err(PatternError::BadWildcard(raw.to_owned()));
        }
        if !valid_host(lower) {
            return Err(PatternError::BadLabel(raw.to_owned()));
        }
        Ok(HostPattern::Exact(lower.to_owned()))
    }

    /// Whether a (lowercase) host matches.
    pub fn matches_host(&self, host: &str) -> bool {
        match self {
            HostPattern::Exact(h) => h == host,
            HostPattern::Wildcard(base) => host
                .strip_suffix(base.as_str())
                .is_some_and(|rest| rest.len() > 1 && rest.ends_with('.')),
        }
    }
}

impl fmt::Display for HostPattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            HostPattern::Exact(h) => f.write_str(h),
            HostPattern::Wildcard(b) => write!(f, "*.{b}"),
        }
    }
}

/// The lowercase host of an `Origin` header value (`scheme://host[:port]`), or `None` for
/// `null`, an empty value, or something that is not an origin.
pub fn origin_host(origin: &str) -> Option<String> {
    let origin = origin.trim();
    let rest = match origin.split_once("://") {
        Some((scheme, rest)) if !scheme.is_empty() => rest,
        // Tolerate a bare host: gateways sometimes pass one to /v1/verify.
        None => origin,
        _ => return None,
    };
    let authority = rest.split(['/', '?', '#']).next().unwrap_or("");
    let authority = authority.rsplit('@').next().unwrap_or("");
    let host = if let Some(v6) = authority.strip_prefix('[') {
        format!("[{}]", v6.split(']').next().unwrap_or(""))
    } else {
        authority.split(':').next().unwrap_or("").to_owned()
    };
    let host = host.to_ascii_lowercase();
    let host = host.strip_suffix('.').unwrap_or(&host).to_owned();
    if host.is_empty() || host == "null" {
        None
    } else {
        Some(host)
    }
}

/// How an Origin fared against a key's patterns: for the verify trace and the console.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OriginVerdict {
    /// No Origin, or one without a host.
    NoOrigin,
    /// The key has no allowed domains.
    NoPatterns,
    /// This pattern matched the host.
    Matched {
        /// The host.
        host: String,
        /// The first pattern that matched.
        pattern: String,
    },
    /// No pattern matched the host.
    NotMatched {
        /// The host.
        host: String,
        /// Close misses explained in plain words (e.g. wildcard not matching the apex).
        hints: Vec<String>,
    },
}

impl OriginVerdict {
    /// Whether the origin is allowed.
    pub fn allowed(&self) -> bool {
        matches!(self, OriginVerdict::Matched { .. })
    }

    /// A one-line explanation.
    pub fn explain(&self) -> String {
        match self {
            OriginVerdict::NoOrigin => "no Origin header with a host was sent".to_owned(),
            OriginVerdict::NoPatterns => "the key has no allowed domains".to_owned(),
            OriginVerdict::Matched { host, pattern } => {
                format!("origin host `{host}` matches `{pattern}`")
            }
            OriginVerdict::NotMatched { host, hints } => {
                let mut s = format!("origin host `{host}` matches no allowed domain");
                if !hints.is_empty() {
                    s.push_str(" (");
                    s.push_str(&hints.join("; "));
                    s.push(')');
                }
                s
            }
        }
    }
}

/// Check an `Origin` value against patterns, explaining near misses.
pub fn check_origin(patterns: &[HostPattern], origin: Option<&str>) -> OriginVerdict {
    let Some(host) = origin.and_then(origin_host) else {
        return OriginVerdict::NoOrigin;
    };
    if patterns.is_empty() {
        return OriginVerdict::NoPatterns;
    }
    if let Some(p) = patterns.iter().find(|p| p.matches_host(&host)) {
        return OriginVerdict::Matched {
            host,
            pattern: p.to_string(),
        };
    }
    let mut hints = Vec::new();
    for p in patterns {
        match p {
            HostPattern::Wildcard(base) if *base == host => hints.push(format!(
                "`{p}` covers subdomains only; add `{base}` to allow the apex"
            )),
            HostPattern::Wildcard(base) if host.ends_with(base.as_str()) => hints.push(format!(
                "`{host}` only ends with `{base}`; it is not a subdomain of it"
            )),
            HostPattern::Exact(h) if host.ends_with(&format!(".{h}")) => hints.push(format!(
                "`{h}` is exact; use `*.{h}` to allow its subdomains"
            )),
            _ => {}
        }
    }
    OriginVerdict::NotMatched { host, hints }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(x: &str) -> HostPattern {
        HostPattern::parse(x).expect("valid pattern")
    }

    #[test]
    fn the_origin_table() {
        let exact = p("example.com");
        let wild = p("*.example.com");
        let cases = [
            ("https://example.com", true, false),
            ("https://a.example.com", false, true),
            ("https://a.b.example.com", false, true),
            ("https://badexample.com", false, false),
            ("https://example.com.evil.io", false, false),
            ("HTTPS://A.EXAMPLE.COM:8443", false, true),
            ("http://EXAMPLE.com:3000", true, false),
            ("https://example.com.", true, false),
        ];
        for (origin, e, w) in cases {
            let host = origin_host(origin).expect("host");
            assert_eq!(exact.matches_host(&host), e, "exact {origin}");
            assert_eq!(wild.matches_host(&host), w, "wild {origin}");
        }
    }

    #[test]
    fn origin_host_parsing() {
        assert_eq!(
            origin_host("https://Example.COM:443").as_deref(),
            Some("example.com")
        );
        assert_eq!(origin_host("http://[::1]:8080").as_deref(), Some("[::1]"));
        assert_eq!(origin_host("null"), None);
        assert_eq!(origin_host(""), None);
        assert_eq!(origin_host("example.com").as_deref(), Some("example.com"));
    }

    #[test]
    fn invalid_patterns_get_a_message() {
        for bad in [
            "",
            "https://example.com",
            "example.com:443",
            "example.com/path",
            "*",
            "*.com",
            "a.*.example.com",
            "ex*ample.com",
            "-bad.com",
            "bad-.com",
            "a..com",
            "*example.com",
        ] {
            let err = HostPattern::parse(bad).expect_err(bad);
            assert!(!err.to_string().is_empty());
        }
        assert_eq!(p("Example.COM"), HostPattern::Exact("example.com".into()));
        assert_eq!(
            p("*.Example.com"),
            HostPattern::Wildcard("example.com".into())
        );
        assert_eq!(p("localhost"), HostPattern::Exact("localhost".into()));
    }

    #[test]
    fn verdicts_explain_near_misses() {
        let pats = [p("*.example.com"), p("shop.io")];
        assert!(check_origin(&pats, Some("https://a.example.com")).allowed());
        let v = check_origin(&pats, Some("https://example.com"));
        assert!(!v.allowed());
        assert!(v.explain().contains("subdomains only"), "{}", v.explain());
        let v = check_origin(&pats, Some("https://www.shop.io"));
        assert!(v.explain().contains("*.shop.io"), "{}", v.explain());
        assert_eq!(check_origin(&pats, None), OriginVerdict::NoOrigin);
        assert_eq!(
            check_origin(&[], Some("https://a.io")),
            OriginVerdict::NoPatterns
        );
    }
}
