//! Helpers shared by the fuzz targets: deterministic "randomness" drawn from the fuzz input
//! (so the fuzzer steers the keys it builds), and the leak check the targets assert with.

/// A byte source for `Secret::generate` / `PublicKeyId::generate` built from `seed`. Every
/// byte is below 248, so base62's rejection sampling always makes progress.
pub fn filler(seed: &[u8]) -> impl FnMut(&mut [u8]) + '_ {
    let mut i: usize = 0;
    move |buf: &mut [u8]| {
        for b in buf.iter_mut() {
            let s = if seed.is_empty() {
                0
            } else {
                seed[i % seed.len()]
            };
            *b = ((usize::from(s) + i) % 248) as u8;
            i = i.wrapping_add(1);
        }
    }
}

/// The first `window`-character run of `secret` (compared case-insensitively) that appears
/// in `text` but not in `allowed` (text the input itself supplied around the secret).
pub fn leaked_run(text: &str, secret: &str, window: usize, allowed: &str) -> Option<String> {
    let text = text.to_ascii_lowercase();
    let allowed = allowed.to_ascii_lowercase();
    let secret = secret.to_ascii_lowercase();
    let bytes = secret.as_bytes();
    if bytes.len() < window {
        return None;
    }
    bytes
        .windows(window)
        .filter_map(|w| std::str::from_utf8(w).ok())
        .find(|w| text.contains(w) && !allowed.contains(w))
        .map(str::to_owned)
}

/// The longest run of ASCII letters and digits in `s`.
pub fn longest_alnum_run(s: &str) -> usize {
    s.split(|c: char| !c.is_ascii_alphanumeric())
        .map(str::len)
        .max()
        .unwrap_or(0)
}
