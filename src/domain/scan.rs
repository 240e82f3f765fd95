//! Finding our secrets in arbitrary bytes (`keyconsole scan`, API.md §9): every string of the
//! form `<prefix>_{live|test}_` + 38 base62 whose checksum holds, for one or more secret
//! prefixes, and nothing else.
//!
//! Pure and streaming: the caller reads (a file, stdin) into [`Scanner::space`] and calls
//! [`Scanner::advance`]; nothing here does I/O. The matcher never keeps a secret: a
//! [`Finding`] holds its position, environment, last four characters and SHA-256 only.
//!
//! **Speed.** The search is anchored on the `_live_` and `_test_` infixes with `memchr`'s
//! SIMD substring search (`memmem`), which skips ordinary text at several GB/s; only an
//! anchor is looked at byte by byte (38 base62 after it, a configured prefix before it,
//! the boundaries, then the CRC32). Lines and columns are counted only up to a finding, or
//! when a long input is moved along in the buffer.
//!
//! **Boundaries.** A secret inside a longer run of base62 characters is not a secret: the
//! characters right before the prefix and right after the 38th body character must not be
//! base62 (`_`, `:`, quotes, spaces, `%`, `\` and line ends all delimit, so `pk_…:sk_…`
//! pairs, JSON strings and `KEY=sk_…` are found). One exception on the left: an escape that
//! happens to end in a base62 character (`%22` and `%3D` in URL-encoded text, `\n`, `\t`,
//! `\u0022`, `\x22` in JSON or source strings) still delimits, since what it encodes is a
//! delimiter. Base64 or otherwise encoded secrets are not found.
//!
//! **Positions.** `line` and `column` are 1-based. Columns count characters (Unicode code
//! points of UTF-8 text: bytes that are not UTF-8 continuation bytes), so a secret after
//! `é` is one column further, not two; lines end at `\n` (a `\r` before it is part of the
//! line end and never matters, since a secret cannot contain it).

use memchr::memmem::Finder;

use super::key::{
    CHECKSUM_LEN, Env, HINT_LEN, SECRET_RANDOM_LEN, SecretHash, SecretPrefix, base62_value,
    checksum_matches,
};

/// Characters after `<prefix>_<env>_`: 32 random and 6 checksum.
pub const BODY_LEN: usize = SECRET_RANDOM_LEN + CHECKSUM_LEN;
/// `_live_` and `_test_`.
const INFIX_LEN: usize = 6;
/// The longest secret prefix `SecretPrefix` accepts.
const MAX_PREFIX_LEN: usize = super::key::MAX_SECRET_PREFIX_LEN;
/// Bytes before an anchor that deciding it may read: the longest prefix and the longest
/// escape that may stand before it (`\uXXXX`).
const LEFT_CONTEXT: usize = MAX_PREFIX_LEN + 6;
/// Bytes from an anchor's start that deciding it may read: infix, body, one boundary byte.
const RIGHT_CONTEXT: usize = INFIX_LEN + BODY_LEN + 1;
/// How much the buffer grows by, at least, when it is full.
const DEFAULT_GROWTH: usize = 64 * 1024;

/// One secret found: where it is and what identifies it, never the secret itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finding {
    /// Byte offset of the secret's first character in the input.
    pub offset: u64,
    /// Length of the secret in bytes (all ASCII).
    pub len: usize,
    /// 1-based line.
    pub line: u64,
    /// 1-based column, in characters.
    pub column: u64,
    /// The prefix it carries.
    pub prefix: SecretPrefix,
    /// The environment it carries.
    pub env: Env,
    /// Its last four characters, as the key service shows them (`secret_hint`).
    pub hint: String,
    /// SHA-256 of the secret: what the key service stores, and all a leak report sends.
    pub hash: SecretHash,
}

impl Finding {
    /// The column just past the secret (1-based, exclusive), on the same line.
    pub fn end_column(&self) -> u64 {
        self.column + self.len as u64
    }
}

/// The compiled search for a set of secret prefixes. Build once, scan many inputs.
#[derive(Debug, Clone)]
pub struct Matcher {
    /// Longest first, so `ask` is tried before `sk`.
    prefixes: Vec<SecretPrefix>,
    live: Finder<'static>,
    test: Finder<'static>,
}

impl Matcher {
    /// A matcher for these prefixes (duplicates are ignored; none finds nothing).
    pub fn new(prefixes: &[SecretPrefix]) -> Matcher {
        let mut list: Vec<SecretPrefix> = Vec::with_capacity(prefixes.len());
        for p in prefixes {
            if !list.contains(p) {
                list.push(p.clone());
            }
        }
        list.sort_by_key(|p| std::cmp::Reverse(p.as_str().len()));
        Matcher {
            prefixes: list,
            live: Finder::new(b"_live_"),
            test: Finder::new(b"_test_"),
        }
    }

    /// The prefixes searched for, longest first.
    pub fn prefixes(&self) -> &[SecretPrefix] {
        &self.prefixes
    }

    /// Every secret in `text`, in order (the whole input at once, read in place).
    pub fn find_all(&self, text: &[u8]) -> Vec<Finding> {
        let mut out = Vec::new();
        let mut cursor = Cursor::START;
        cursor.search(self, text, true, &mut Vec::new(), &mut out);
        out
    }

    /// The secret's start in `buf` if an anchor (`_live_`/`_test_`) at `a` begins one.
    /// `buf` ends where the input ends or at least [`RIGHT_CONTEXT`] bytes after `a`;
    /// `at_input_start` says whether `buf[0]` is the input's first byte.
    fn secret_at(&self, buf: &[u8], a: usize, at_input_start: bool) -> Option<(usize, usize)> {
        let body_start = a + INFIX_LEN;
        let end = body_start + BODY_LEN;
        let body = buf.get(body_start..end)?;
        if !body.iter().all(|&c| is_base62(c)) {
            return None;
        }
        if buf.get(end).is_some_and(|&c| is_base62(c)) {
            return None;
        }
        let (random, sum) = body.split_at(SECRET_RANDOM_LEN);
        let prefix = self.prefixes.iter().position(|p| {
            let p = p.as_str().as_bytes();
            a >= p.len()
                && &buf[a - p.len()..a] == p
                && left_boundary(buf, a - p.len(), at_input_start)
        })?;
        // Both parts are base62, hence ASCII, hence UTF-8.
        let random = std::str::from_utf8(random).ok()?;
        let sum = std::str::from_utf8(sum).ok()?;
        if !checksum_matches(random, sum) {
            return None;
        }
        Some((a - self.prefixes[prefix].as_str().len(), prefix))
    }
}

fn is_base62(c: u8) -> bool {
    base62_value(c).is_some()
}

fn is_hex(c: u8) -> bool {
    c.is_ascii_hexdigit()
}

/// Whether a secret may start at `start`: the input starts there, the byte before is not
/// base62, or an escape that encodes a delimiter ends there.
fn left_boundary(buf: &[u8], start: usize, at_input_start: bool) -> bool {
    if start == 0 {
        return at_input_start;
    }
    let c = buf[start - 1];
    if !is_base62(c) {
        return true;
    }
    let before = |n: usize| start.checked_sub(n).map(|i| buf[i]);
    // %XX (URL encoding)
    if before(3) == Some(b'%') && is_hex(c) && before(2).is_some_and(is_hex) {
        return true;
    }
    // \n \r \t \b \f \v \0 \a \e (string escapes)
    if before(2) == Some(b'\\') && b"nrtbfv0ae".contains(&c) {
        return true;
    }
    // \xXX
    if before(4) == Some(b'\\')
        && before(3) == Some(b'x')
        && is_hex(c)
        && before(2).is_some_and(is_hex)
    {
        return true;
    }
    // \uXXXX
    before(6) == Some(b'\\')
        && matches!(before(5), Some(b'u' | b'U'))
        && (2..=4).all(|n| before(n).is_some_and(is_hex))
        && is_hex(c)
}

fn count_newlines(bytes: &[u8]) -> u64 {
    bytes.iter().filter(|&&b| b == b'\n').count() as u64
}

fn count_chars(bytes: &[u8]) -> u64 {
    // UTF-8 continuation bytes are 0b10xx_xxxx; every other byte starts a character.
    bytes.iter().filter(|&&b| (b & 0xC0) != 0x80).count() as u64
}

/// Where a scan of one input stands, apart from the bytes it holds.
#[derive(Debug, Clone)]
struct Cursor {
    /// Anchors starting before this index of the buffer are decided.
    searched: usize,
    /// Input bytes dropped from the front of the buffer.
    dropped: u64,
    /// Lines and columns are counted up to this index of the buffer...
    counted: usize,
    /// ...where this line...
    line: u64,
    /// ...and this column begin.
    column: u64,
}

impl Cursor {
    const START: Cursor = Cursor {
        searched: 0,
        dropped: 0,
        counted: 0,
        line: 1,
        column: 1,
    };

    /// Line and column of `buf[at]`; `at` never goes backwards.
    fn locate(&mut self, buf: &[u8], at: usize) -> (u64, u64) {
        let seg = &buf[self.counted..at];
        match memchr::memrchr(b'\n', seg) {
            Some(i) => {
                self.line += count_newlines(seg);
                self.column = 1 + count_chars(&seg[i + 1..]);
            }
            None => self.column += count_chars(seg),
        }
        self.counted = at;
        (self.line, self.column)
    }

    /// Decide the anchors of `buf` that can be decided (all of them at the input's end).
    fn search(
        &mut self,
        matcher: &Matcher,
        buf: &[u8],
        eof: bool,
        anchors: &mut Vec<(usize, Env)>,
        out: &mut Vec<Finding>,
    ) {
        // An anchor at `a` is decided once `RIGHT_CONTEXT` bytes from `a` are in, or at the end.
        let limit = if eof {
            buf.len()
        } else {
            buf.len().saturating_sub(RIGHT_CONTEXT - 1)
        };
        if limit <= self.searched {
            return;
        }
        let hay_end = if eof {
            buf.len()
        } else {
            (limit + INFIX_LEN - 1).min(buf.len())
        };
        let hay = &buf[self.searched..hay_end];
        let base = self.searched;
        anchors.clear();
        for (finder, env) in [(&matcher.live, Env::Live), (&matcher.test, Env::Test)] {
            // Not `find_iter`: it skips overlapping matches, and `_test_test_` holds two.
            let mut from = 0;
            while let Some(i) = finder.find(&hay[from..]) {
                let a = from + i;
                if base + a >= limit {
                    break;
                }
                anchors.push((base + a, env));
                from = a + INFIX_LEN - 1;
            }
        }
        anchors.sort_unstable_by_key(|&(a, _)| a);
        let at_input_start = self.dropped == 0;
        for &(a, env) in anchors.iter() {
            let Some((start, prefix)) = matcher.secret_at(buf, a, at_input_start) else {
                continue;
            };
            let end = a + INFIX_LEN + BODY_LEN;
            let (line, column) = self.locate(buf, start);
            // ASCII by construction; the fallback never runs.
            let text = std::str::from_utf8(&buf[start..end]).unwrap_or_default();
            out.push(Finding {
                offset: self.dropped + start as u64,
                len: end - start,
                line,
                column,
                prefix: matcher.prefixes[prefix].clone(),
                env,
                hint: text[text.len() - HINT_LEN..].to_owned(),
                hash: SecretHash::of(text),
            });
        }
        self.searched = limit;
    }
}

/// A streaming scan of one input. Reuse it for the next input after [`Scanner::finish`].
///
/// ```text
/// loop { let n = read(scanner.space(64 * 1024))?; if n == 0 { break } scanner.advance(n, &mut out) }
/// scanner.finish(&mut out);
/// ```
#[derive(Debug)]
pub struct Scanner<'m> {
    matcher: &'m Matcher,
    buf: Vec<u8>,
    /// `buf[..filled]` holds input.
    filled: usize,
    cursor: Cursor,
    /// Reused list of anchor positions.
    anchors: Vec<(usize, Env)>,
    /// The buffer grows by at least this much.
    growth: usize,
}

impl<'m> Scanner<'m> {
    /// A scanner at the start of an input.
    pub fn new(matcher: &'m Matcher) -> Scanner<'m> {
        Scanner::with_growth(matcher, DEFAULT_GROWTH)
    }

    /// A scanner whose buffer grows by at least `growth` bytes at a time (the size of the
    /// reads the caller makes; tiny values exercise the buffer's moves in tests).
    pub fn with_growth(matcher: &'m Matcher, growth: usize) -> Scanner<'m> {
        Scanner {
            matcher,
            buf: Vec::new(),
            filled: 0,
            cursor: Cursor::START,
            anchors: Vec::new(),
            growth: growth.max(1),
        }
    }

    /// Input bytes seen so far.
    pub fn bytes_seen(&self) -> u64 {
        self.cursor.dropped + self.filled as u64
    }

    /// Free space for at least `want` more input bytes (more may be returned). Write input
    /// into its start, then call [`Scanner::advance`] with the number of bytes written.
    pub fn space(&mut self, want: usize) -> &mut [u8] {
        if self.buf.len() - self.filled < want {
            self.compact();
        }
        if self.buf.len() - self.filled < want {
            let grow = want.max(self.growth);
            self.buf.resize(self.filled + grow, 0);
        }
        &mut self.buf[self.filled..]
    }

    /// `n` bytes were written at the start of [`Scanner::space`]; findings that are decided
    /// now are appended to `out`.
    pub fn advance(&mut self, n: usize, out: &mut Vec<Finding>) {
        self.filled = (self.filled + n).min(self.buf.len());
        let buf = &self.buf[..self.filled];
        self.cursor
            .search(self.matcher, buf, false, &mut self.anchors, out);
    }

    /// The input has ended: append its last findings and get ready for the next input.
    pub fn finish(&mut self, out: &mut Vec<Finding>) {
        let buf = &self.buf[..self.filled];
        self.cursor
            .search(self.matcher, buf, true, &mut self.anchors, out);
        self.reset();
    }

    /// Forget the current input (e.g. a file found to be binary) and start afresh.
    pub fn reset(&mut self) {
        self.filled = 0;
        self.cursor = Cursor::START;
    }

    /// Drop the decided part of the buffer, keeping what undecided anchors may still read.
    fn compact(&mut self) {
        let c = &mut self.cursor;
        let keep_from = c.searched.saturating_sub(LEFT_CONTEXT);
        if keep_from == 0 {
            return;
        }
        if c.counted < keep_from {
            c.locate(&self.buf, keep_from);
        }
        self.buf.copy_within(keep_from..self.filled, 0);
        self.filled -= keep_from;
        c.searched -= keep_from;
        c.counted -= keep_from;
        c.dropped += keep_from as u64;
    }
}

/// The secret format as a regular expression (RE2, Hyperscan and Rust `regex` syntax) for
/// these prefixes: `(?:sk|org)_(?:live|test)_[0-9A-Za-z]{38}`. It cannot check the
/// checksum, so it also matches look-alikes that [`Matcher`] rejects.
pub fn secret_regex(prefixes: &[SecretPrefix]) -> String {
    let mut names: Vec<&str> = prefixes.iter().map(SecretPrefix::as_str).collect();
    names.sort_by(|a, b| b.len().cmp(&a.len()).then(a.cmp(b)));
    names.dedup();
    format!(
        "(?:{})_(?:live|test)_[0-9A-Za-z]{{{BODY_LEN}}}",
        names.join("|")
    )
}

/// What may stand right before a secret, as a regular expression: the start of the text, a
/// byte that is not base62, or one of the escapes [`Matcher`] accepts (`%22`, `\n`, `\x22`,
/// `\u0022`).
pub const BEFORE_SECRET_REGEX: &str =
    r"\A|[^0-9A-Za-z]|%[0-9A-Fa-f]{2}|\\[nrtbfv0ae]|\\x[0-9A-Fa-f]{2}|\\[uU][0-9A-Fa-f]{4}";

/// What may stand right after a secret: the end of the text or a byte that is not base62.
pub const AFTER_SECRET_REGEX: &str = r"\z|[^0-9A-Za-z]";

/// Lower-case hex of a secret's SHA-256, as `POST /v1/leaks` takes it.
pub fn hash_hex(hash: &SecretHash) -> String {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(64);
    for b in hash.0 {
        s.push(char::from(HEX[usize::from(b >> 4)]));
        s.push(char::from(HEX[usize::from(b & 0x0F)]));
    }
    s
}

/// The hash a [`hash_hex`] string names: 64 hex digits, either case; `None` otherwise.
pub fn hash_from_hex(h: &str) -> Option<SecretHash> {
    let b = h.as_bytes();
    if b.len() != 64 {
        return None;
    }
    let digit = |c: u8| {
        char::from(c)
            .to_digit(16)
            .and_then(|d| u8::try_from(d).ok())
    };
    let mut out = [0u8; 32];
    for (i, pair) in b.chunks(2).enumerate() {
        out[i] = digit(pair[0])? << 4 | digit(pair[1])?;
    }
    Some(SecretHash(out))
}

/// The distinct SHA-256s of `findings`, in first-seen order, in batches of at most `batch`
/// (`POST /v1/leaks` takes 1-1000 per request). No secret is needed to build them.
pub fn leak_hash_batches(findings: &[Finding], batch: usize) -> Vec<Vec<String>> {
    let mut seen = std::collections::HashSet::new();
    let unique: Vec<String> = findings
        .iter()
        .filter(|f| seen.insert(f.hash))
        .map(|f| hash_hex(&f.hash))
        .collect();
    unique
        .chunks(batch.max(1))
        .map(<[String]>::to_vec)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::key::{BASE62, checksum, format_secret};
    use proptest::prelude::*;

    fn sk() -> Vec<SecretPrefix> {
        vec![SecretPrefix::default()]
    }

    fn random(seed: u32) -> String {
        let mut x = u64::from(seed).wrapping_mul(6_364_136_223_846_793_005) | 1;
        (0..SECRET_RANDOM_LEN)
            .map(|_| {
                x = x
                    .wrapping_mul(6_364_136_223_846_793_005)
                    .wrapping_add(1_442_695_040_888_963_407);
                char::from(BASE62[((x >> 33) % 62) as usize])
            })
            .collect()
    }

    fn secret(prefix: &str, env: Env, seed: u32) -> String {
        format_secret(prefix, env, &random(seed))
    }

    fn found(prefixes: &[SecretPrefix], text: &str) -> Vec<(u64, u64, String)> {
        Matcher::new(prefixes)
            .find_all(text.as_bytes())
            .into_iter()
            .map(|f| (f.line, f.column, f.hint))
            .collect()
    }

    #[test]
    fn finds_a_secret_with_its_position_env_hint_and_hash() {
        let s = secret("sk", Env::Live, 1);
        let text = format!("first line\n  key = \"{s}\"\n");
        let f = Matcher::new(&sk()).find_all(text.as_bytes());
        assert_eq!(f.len(), 1);
        assert_eq!((f[0].line, f[0].column), (2, 10));
        assert_eq!(f[0].env, Env::Live);
        assert_eq!(f[0].hint, s[s.len() - 4..]);
        assert_eq!(f[0].hash, SecretHash::of(&s));
        assert_eq!(f[0].offset as usize, text.find(&s).expect("in text"));
        assert_eq!(f[0].len, s.len());
        assert_eq!(f[0].end_column(), 10 + s.len() as u64);
        assert!(!format!("{:?}", f[0]).contains(&s[8..40]));
    }

    #[test]
    fn columns_count_characters_not_bytes() {
        let s = secret("sk", Env::Test, 2);
        // `é` is 2 bytes and `日` 3: the secret still starts in column 4.
        assert_eq!(found(&sk(), &format!("é日 {s}"))[0].1, 4);
        assert_eq!(found(&sk(), &format!("a\r\n\r\nxyz {s}"))[0].0, 3);
        assert_eq!(found(&sk(), &format!("a\r\n\r\nxyz {s}"))[0].1, 5);
    }

    #[test]
    fn overlapping_anchors_are_all_tried() {
        // With the prefix `test`, `x_test_test_…` holds the anchor `_test_` twice, overlapping.
        let test = SecretPrefix::new("test").expect("valid");
        let live = SecretPrefix::new("live").expect("valid");
        let t = secret("test", Env::Test, 7);
        let l = secret("live", Env::Live, 8);
        assert_eq!(
            found(std::slice::from_ref(&test), &format!("x_{t}")).len(),
            1
        );
        assert_eq!(
            found(std::slice::from_ref(&live), &format!("sk_live_{l}")).len(),
            1
        );
        assert_eq!(found(&[test, live], &format!("_{l}_{t}_")).len(), 2);
    }

    #[test]
    fn boundaries_pairs_quotes_urls_and_json() {
        let s = secret("sk", Env::Live, 3);
        let pk = "pk_live_0123456789abcdefABCDEFGH";
        for text in [
            s.clone(),
            format!("{pk}:{s}"),
            format!("Authorization: Bearer {s}"),
            format!("'{s}'"),
            format!("\"{s}\","),
            format!("{{\"secret\":\"{s}\"}}"),
            format!("https://x.example/?key={s}&a=1"),
            format!("key=%22{s}%22"),
            format!("a%3D{s}"),
            format!("\"line\\n{s}\\n\""),
            format!("\"\\t{s}\""),
            format!("\"\\u0022{s}\\u0022\""),
            format!("\"\\x22{s}\""),
            format!("KEY_{s}_SUFFIX"),
            format!("({s})"),
        ] {
            assert_eq!(found(&sk(), &text).len(), 1, "{text}");
        }
        for text in [
            format!("a{s}"),
            format!("{s}a"),
            format!("0{s}"),
            format!("{s}0"),
            format!("%2{s}"),
            format!("\\q{s}"),
            format!("\\uZZZZ{s}"),
            s[1..].to_owned(),
            s[..s.len() - 1].to_owned(),
        ] {
            assert!(found(&sk(), &text).is_empty(), "{text}");
        }
    }

    #[test]
    fn only_checksum_valid_strings_of_the_configured_prefixes() {
        let random = random(4);
        let good = format_secret("sk", Env::Live, &random);
        let mut bad_sum = good.clone();
        let last = bad_sum.pop().expect("non-empty");
        bad_sum.push(if last == 'z' { 'y' } else { 'z' });
        assert!(found(&sk(), &bad_sum).is_empty());
        assert!(found(&sk(), &good.replace("sk_", "sx_")).is_empty());
        assert!(found(&sk(), &good.replace("_live_", "_prod_")).is_empty());
        assert!(found(&sk(), &good.replace("_live_", "_Live_")).is_empty());
        let org = SecretPrefix::new("org").expect("valid");
        let ask = SecretPrefix::new("ask").expect("valid");
        let o = format_secret("org", Env::Test, &random);
        let a = format_secret("ask", Env::Test, &random);
        assert!(found(&sk(), &o).is_empty());
        assert_eq!(found(std::slice::from_ref(&org), &o).len(), 1);
        // `ask_…` is not an `sk_…` secret inside a longer run; with both prefixes it is `ask`.
        assert!(found(&sk(), &a).is_empty());
        let both = Matcher::new(&[SecretPrefix::default(), ask.clone(), org]);
        let f = both.find_all(format!("{a} {good} {o}").as_bytes());
        let names: Vec<&str> = f.iter().map(|f| f.prefix.as_str()).collect();
        assert_eq!(names, ["ask", "sk", "org"]);
        assert!(Matcher::new(&[]).find_all(good.as_bytes()).is_empty());
    }

    #[test]
    fn leak_hashes_are_hex_unique_and_batched() {
        let s1 = secret("sk", Env::Live, 5);
        let s2 = secret("sk", Env::Test, 6);
        let text = format!("{s1} {s2} {s1}");
        let f = Matcher::new(&sk()).find_all(text.as_bytes());
        assert_eq!(f.len(), 3);
        let batches = leak_hash_batches(&f, 1);
        assert_eq!(batches.len(), 2);
        assert_eq!(batches[0][0], hash_hex(&SecretHash::of(&s1)));
        assert_eq!(batches[0][0].len(), 64);
        assert!(
            batches[0][0]
                .bytes()
                .all(|c| c.is_ascii_hexdigit() && !c.is_ascii_uppercase())
        );
        assert_eq!(
            leak_hash_batches(&f, 1000),
            vec![vec![
                hash_hex(&SecretHash::of(&s1)),
                hash_hex(&SecretHash::of(&s2))
            ]]
        );
        // SHA-256("abc")
        assert_eq!(
            hash_hex(&SecretHash::of("abc")),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }

    #[test]
    fn regex_text_lists_prefixes_longest_first() {
        let p = [
            SecretPrefix::default(),
            SecretPrefix::new("acme").expect("valid"),
            SecretPrefix::default(),
        ];
        assert_eq!(
            secret_regex(&p),
            "(?:acme|sk)_(?:live|test)_[0-9A-Za-z]{38}"
        );
    }

    // ---- property tests --------------------------------------------------------------

    fn arb_random() -> impl Strategy<Value = String> {
        proptest::collection::vec(0usize..62, SECRET_RANDOM_LEN)
            .prop_map(|v| v.into_iter().map(|i| char::from(BASE62[i])).collect())
    }

    fn arb_env() -> impl Strategy<Value = Env> {
        prop_oneof![Just(Env::Live), Just(Env::Test)]
    }

    /// Filler text: code-like, with underscores, infixes, escapes and multibyte characters,
    /// but never a base62 character next to an embedded token (tokens are wrapped).
    fn arb_filler() -> impl Strategy<Value = String> {
        proptest::collection::vec(
            prop_oneof![
                "[a-zA-Z0-9_ ]{0,12}",
                Just("\n".to_owned()),
                Just("\r\n".to_owned()),
                Just("_live_".to_owned()),
                Just("my_test_helper".to_owned()),
                Just("sk_live_".to_owned()),
                Just("é日".to_owned()),
                Just("\t".to_owned()),
            ],
            0..6,
        )
        .prop_map(|v| v.concat())
    }

    /// What stands around an embedded token: `(before, after)`.
    fn arb_wrap() -> impl Strategy<Value = (&'static str, &'static str)> {
        prop_oneof![
            Just((" ", " ")),
            Just(("\"", "\"")),
            Just(("'", "'")),
            Just(("\n", "\n")),
            Just(("pk_live_0123456789abcdefABCDEFGH:", " ")),
            Just(("KEY=", "\n")),
            Just(("%22", "%22")),
            Just(("\\n", "\\n")),
            Just(("\\u0022", "\\u0022")),
            Just(("(", ")")),
            Just(("_", "_")),
        ]
    }

    #[derive(Debug, Clone)]
    enum Miss {
        Changed(usize, usize),
        Truncated(usize),
        Extended(usize),
        WrongPrefix(usize),
        WrongEnv(usize),
        ChecksumOffByOne(bool),
        GluedLeft(usize),
    }

    fn arb_miss() -> impl Strategy<Value = Miss> {
        prop_oneof![
            (0usize..BODY_LEN, 1usize..62).prop_map(|(p, d)| Miss::Changed(p, d)),
            (1usize..=BODY_LEN).prop_map(Miss::Truncated),
            (0usize..62).prop_map(Miss::Extended),
            (0usize..4).prop_map(Miss::WrongPrefix),
            (0usize..4).prop_map(Miss::WrongEnv),
            any::<bool>().prop_map(Miss::ChecksumOffByOne),
            (0usize..62).prop_map(Miss::GluedLeft),
        ]
    }

    /// A near-miss of the valid secret `prefix_env_random+sum`; never valid.
    fn near_miss(prefix: &str, env: Env, random: &str, miss: &Miss) -> String {
        let good = format_secret(prefix, env, random);
        let head = format!("{prefix}_{env}_");
        let body = &good[head.len()..];
        match *miss {
            Miss::Changed(pos, delta) => {
                let mut b = body.as_bytes().to_vec();
                let v = base62_value(b[pos]).unwrap_or(0) as usize;
                b[pos] = BASE62[(v + delta) % 62];
                format!("{head}{}", String::from_utf8(b).unwrap_or_default())
            }
            Miss::Truncated(cut) => format!("{head}{}", &body[..BODY_LEN - cut]),
            Miss::Extended(c) => format!("{good}{}", char::from(BASE62[c])),
            Miss::WrongPrefix(i) => {
                let other = ["sx", "skk", "s", "pk"][i];
                format!("{other}_{env}_{body}")
            }
            Miss::WrongEnv(i) => {
                let other = ["prod", "Live", "TEST", "tst"][i];
                format!("{prefix}_{other}_{body}")
            }
            Miss::ChecksumOffByOne(up) => {
                let n = crate::domain::key::decode_base62(&checksum(random)).unwrap_or(0);
                let m = if up { n + 1 } else { n.wrapping_sub(1) };
                let sum = crate::domain::key::encode_base62(m, CHECKSUM_LEN);
                format!("{head}{random}{sum}")
            }
            Miss::GluedLeft(c) => format!("{}{good}", char::from(BASE62[c])),
        }
    }

    #[derive(Debug, Clone)]
    enum Token {
        Real(String, Env, String),
        Miss(String, Env, String, Miss),
    }

    fn arb_token() -> impl Strategy<Value = Token> {
        let prefix = prop_oneof![Just("sk".to_owned()), Just("acme".to_owned())];
        prop_oneof![
            (prefix.clone(), arb_env(), arb_random()).prop_map(|(p, e, r)| Token::Real(p, e, r)),
            (prefix, arb_env(), arb_random(), arb_miss())
                .prop_map(|(p, e, r, m)| Token::Miss(p, e, r, m)),
        ]
    }

    fn arb_doc() -> impl Strategy<Value = Vec<(String, (&'static str, &'static str), Token)>> {
        proptest::collection::vec((arb_filler(), arb_wrap(), arb_token()), 0..12)
    }

    /// Line and column (1-based, characters) where `text` ends.
    fn end_position(text: &str) -> (u64, u64) {
        let line = 1 + text.matches('\n').count() as u64;
        let last = text.rsplit('\n').next().unwrap_or("");
        (line, 1 + last.chars().count() as u64)
    }

    fn prefixes() -> Vec<SecretPrefix> {
        vec![
            SecretPrefix::default(),
            SecretPrefix::new("acme").expect("valid"),
        ]
    }

    /// The document's text and the real secrets in it with their positions.
    fn build(
        doc: &[(String, (&'static str, &'static str), Token)],
    ) -> (String, Vec<(u64, u64, String)>) {
        let mut text = String::new();
        let mut expected = Vec::new();
        for (filler, (before, after), token) in doc {
            text.push_str(filler);
            text.push_str(before);
            match token {
                Token::Real(p, e, r) => {
                    let s = format_secret(p, *e, r);
                    let (line, col) = end_position(&text);
                    expected.push((line, col, s.clone()));
                    text.push_str(&s);
                }
                Token::Miss(p, e, r, m) => text.push_str(&near_miss(p, *e, r, m)),
            }
            text.push_str(after);
        }
        (text, expected)
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(512))]

        #[test]
        fn every_real_secret_is_found_and_no_near_miss(doc in arb_doc()) {
            let (text, expected) = build(&doc);
            let got = Matcher::new(&prefixes()).find_all(text.as_bytes());
            prop_assert_eq!(got.len(), expected.len(), "text: {:?}", text);
            for (f, (line, column, s)) in got.iter().zip(&expected) {
                prop_assert_eq!((f.line, f.column), (*line, *column), "text: {:?}", text);
                prop_assert_eq!(f.hash, SecretHash::of(s));
                prop_assert_eq!(&f.hint, &s[s.len() - 4..]);
                let at = f.offset as usize;
                prop_assert_eq!(text.get(at..at + f.len), Some(s.as_str()));
            }
        }

        #[test]
        fn a_near_miss_alone_is_never_reported(p in prop_oneof![Just("sk"), Just("acme")], env in arb_env(), random in arb_random(), miss in arb_miss()) {
            let m = near_miss(p, env, &random, &miss);
            prop_assert!(Matcher::new(&prefixes()).find_all(m.as_bytes()).is_empty(), "{}", m);
        }

        #[test]
        fn streaming_in_any_chunks_finds_the_same(doc in arb_doc(), cuts in proptest::collection::vec(1usize..200, 1..40)) {
            let (text, _) = build(&doc);
            let matcher = Matcher::new(&prefixes());
            let whole = matcher.find_all(text.as_bytes());
            // Growing one byte at a time, the buffer is moved along on almost every call.
            let mut scanner = Scanner::with_growth(&matcher, 1);
            let mut got = Vec::new();
            let mut rest = text.as_bytes();
            let mut i = 0;
            while !rest.is_empty() {
                let n = cuts[i % cuts.len()].min(rest.len());
                i += 1;
                scanner.space(n)[..n].copy_from_slice(&rest[..n]);
                scanner.advance(n, &mut got);
                rest = &rest[n..];
            }
            scanner.finish(&mut got);
            prop_assert_eq!(&got, &whole);
            // The scanner is ready for the next input.
            let again = {
                let mut out = Vec::new();
                let n = text.len();
                scanner.space(n)[..n].copy_from_slice(text.as_bytes());
                scanner.advance(n, &mut out);
                scanner.finish(&mut out);
                out
            };
            prop_assert_eq!(again, whole);
        }
    }

    #[test]
    fn a_long_input_is_streamed_with_exact_positions() {
        // 3 MB of lines with a secret every 1000 lines, fed in 64 KiB reads.
        let matcher = Matcher::new(&sk());
        let mut text = String::new();
        let mut want = Vec::new();
        for i in 0..60_000u32 {
            if i % 1000 == 999 {
                let s = secret("sk", Env::Live, i);
                want.push((u64::from(i) + 1, 8, s[s.len() - 4..].to_owned()));
                text.push_str(&format!("let x=\"{s}\"; // é\n"));
            } else {
                text.push_str("fn some_test_helper(a: u32) -> u32 { a + 1 } // filler é\n");
            }
        }
        let mut scanner = Scanner::new(&matcher);
        let mut got = Vec::new();
        for chunk in text.as_bytes().chunks(64 * 1024) {
            scanner.space(chunk.len())[..chunk.len()].copy_from_slice(chunk);
            scanner.advance(chunk.len(), &mut got);
        }
        assert_eq!(scanner.bytes_seen(), text.len() as u64);
        scanner.finish(&mut got);
        let got: Vec<(u64, u64, String)> = got
            .into_iter()
            .map(|f| (f.line, f.column, f.hint))
            .collect();
        assert_eq!(got, want);
    }
}
