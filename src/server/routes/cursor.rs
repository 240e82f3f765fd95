//! Opaque list cursors (API.md §5): a cursor names a position in one list of one
//! organization and reveals nothing else, neither row ids counted across organizations nor
//! the sort values it carries.
//!
//! A cursor is `cur_` and base64url of `iv ‖ ciphertext`, sealed with the database's cursor
//! secret ([`crate::storage::KeyStore::cursor_secret`], the same for every instance):
//! deterministic authenticated encryption (SIV) built from HMAC-SHA-256 alone. The 16-byte
//! `iv` is `HMAC(mac key, list ‖ org ‖ payload)`; the payload is XORed with the keystream
//! `HMAC(enc key, iv ‖ counter)`. Opening decrypts and recomputes the `iv`, so a cursor that
//! was altered, forged, or made for another organization or another list does not open and
//! is answered `400 invalid_request`, like garbage.

use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

use crate::api::{DEFAULT_LIMIT, MAX_LIMIT};
use crate::server::AppState;
use crate::server::error::ApiError;
use crate::storage::{KeyPos, KeySort, KeySortField, PageReq, SortValue};

/// Which list a cursor belongs to (sealed into it, so one list's cursor never opens another's).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum List {
    /// `GET /v1/keys`.
    Keys,
    /// `GET /v1/apps`.
    Apps,
    /// `GET /v1/auth-events`.
    AuthEvents,
    /// `GET /v1/audit`.
    Audit,
    /// `GET /v1/keys/{id}/leaks`.
    Sightings,
}

impl List {
    fn tag(self) -> u8 {
        match self {
            List::Keys => 1,
            List::Apps => 2,
            List::AuthEvents => 3,
            List::Audit => 4,
            List::Sightings => 5,
        }
    }
}

const IV_LEN: usize = 16;
const PREFIX: &str = "cur_";
/// Longest cursor accepted (a name sort carries a name of at most 100 characters).
const MAX_CURSOR_CHARS: usize = 1024;

/// The keys derived from the database's cursor secret.
#[derive(Clone)]
pub struct Sealer {
    mac: [u8; 32],
    enc: [u8; 32],
}

impl std::fmt::Debug for Sealer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Sealer(..)")
    }
}

fn hmac(key: &[u8], parts: &[&[u8]]) -> [u8; 32] {
    // HMAC takes keys of any length.
    let Ok(mut m) = <Hmac<Sha256> as KeyInit>::new_from_slice(key) else {
        return [0; 32];
    };
    for p in parts {
        m.update(p);
    }
    m.finalize().into_bytes().into()
}

impl Sealer {
    /// From the 32-byte secret.
    pub fn new(secret: &[u8; 32]) -> Sealer {
        Sealer {
            mac: hmac(secret, &[b"keyconsole cursor mac"]),
            enc: hmac(secret, &[b"keyconsole cursor enc"]),
        }
    }

    fn iv(&self, list: List, org_id: &str, payload: &[u8]) -> [u8; IV_LEN] {
        let len = u32::try_from(org_id.len())
            .unwrap_or(u32::MAX)
            .to_be_bytes();
        let full = hmac(
            &self.mac,
            &[&[list.tag()], &len, org_id.as_bytes(), payload],
        );
        let mut iv = [0; IV_LEN];
        iv.copy_from_slice(&full[..IV_LEN]);
        iv
    }

    fn xor_stream(&self, iv: &[u8; IV_LEN], data: &mut [u8]) {
        for (i, chunk) in data.chunks_mut(32).enumerate() {
            let block = hmac(
                &self.enc,
                &[iv, &u32::try_from(i).unwrap_or(u32::MAX).to_be_bytes()],
            );
            for (b, k) in chunk.iter_mut().zip(block) {
                *b ^= k;
            }
        }
    }

    /// Seal `payload` for `org_id`'s `list`.
    pub fn seal(&self, list: List, org_id: &str, payload: &[u8]) -> String {
        let iv = self.iv(list, org_id, payload);
        let mut out = Vec::with_capacity(IV_LEN + payload.len());
        out.extend_from_slice(&iv);
        out.extend_from_slice(payload);
        self.xor_stream(&iv, &mut out[IV_LEN..]);
        format!("{PREFIX}{}", URL_SAFE_NO_PAD.encode(out))
    }

    /// The payload of a cursor sealed for `org_id`'s `list`; `None` for anything else.
    pub fn open(&self, list: List, org_id: &str, cursor: &str) -> Option<Vec<u8>> {
        if cursor.len() > MAX_CURSOR_CHARS {
            return None;
        }
        let raw = URL_SAFE_NO_PAD.decode(cursor.strip_prefix(PREFIX)?).ok()?;
        if raw.len() < IV_LEN {
            return None;
        }
        let (iv, ct) = raw.split_at(IV_LEN);
        let iv: [u8; IV_LEN] = iv.try_into().ok()?;
        let mut payload = ct.to_vec();
        self.xor_stream(&iv, &mut payload);
        let expected = self.iv(list, org_id, &payload);
        // Constant time: no early exit on the first differing byte.
        let diff = expected
            .iter()
            .zip(iv)
            .fold(0u8, |acc, (a, b)| acc | (a ^ b));
        (diff == 0).then_some(payload)
    }
}

/// The sealer of this server's database (its secret read once, then kept).
pub async fn sealer(state: &AppState) -> Result<&Sealer, ApiError> {
    state
        .cursors
        .get_or_try_init(|| async {
            let secret = state.store.cursor_secret().await?;
            Ok::<_, ApiError>(Sealer::new(&secret))
        })
        .await
}

fn bad_cursor() -> ApiError {
    ApiError::invalid("invalid value for `cursor`: use a next_cursor from a previous page")
}

fn valid_limit(limit: Option<u32>) -> Result<u32, ApiError> {
    let limit = limit.unwrap_or(DEFAULT_LIMIT);
    if !(1..=MAX_LIMIT).contains(&limit) {
        return Err(ApiError::invalid(format!(
            "invalid value for `limit`: must be 1-{MAX_LIMIT}, got {limit}"
        )));
    }
    Ok(limit)
}

/// Cursors of one list of one organization: opens the request's, seals the next.
#[derive(Debug)]
pub struct Cursors<'s> {
    sealer: &'s Sealer,
    list: List,
    org_id: String,
}

impl Cursors<'_> {
    /// The cursor of a `seq` position (lists other than keys).
    pub fn next(&self, seq: Option<i64>) -> Option<String> {
        seq.map(|s| self.sealer.seal(self.list, &self.org_id, &s.to_be_bytes()))
    }

    /// The cursor of a key-list position.
    pub fn next_key(&self, pos: Option<&KeyPos>) -> Option<String> {
        pos.map(|p| {
            self.sealer
                .seal(self.list, &self.org_id, &encode_key_pos(p))
        })
    }
}

/// Validate `limit` and open `cursor` of `org_id`'s `list` (seq positions: every list but
/// keys).
pub async fn page_req<'s>(
    state: &'s AppState,
    org_id: &str,
    list: List,
    limit: Option<u32>,
    cursor: Option<&str>,
) -> Result<(PageReq, Cursors<'s>), ApiError> {
    let limit = valid_limit(limit)?;
    let cursors = Cursors {
        sealer: sealer(state).await?,
        list,
        org_id: org_id.to_owned(),
    };
    let before = cursor
        .map(|c| {
            cursors
                .sealer
                .open(list, org_id, c)
                .and_then(|p| <[u8; 8]>::try_from(p.as_slice()).ok())
                .map(i64::from_be_bytes)
                .ok_or_else(bad_cursor)
        })
        .transpose()?;
    Ok((PageReq { limit, before }, cursors))
}

/// Validate `limit` and open a key-list `cursor`, which must belong to `sort`.
pub async fn key_page_req<'s>(
    state: &'s AppState,
    org_id: &str,
    sort: KeySort,
    limit: Option<u32>,
    cursor: Option<&str>,
) -> Result<(crate::storage::KeyPageReq, Cursors<'s>), ApiError> {
    let limit = valid_limit(limit)?;
    let cursors = Cursors {
        sealer: sealer(state).await?,
        list: List::Keys,
        org_id: org_id.to_owned(),
    };
    let after = cursor
        .map(|c| {
            let pos = cursors
                .sealer
                .open(List::Keys, org_id, c)
                .and_then(|p| decode_key_pos(&p))
                .ok_or_else(bad_cursor)?;
            if pos.sort != sort {
                return Err(ApiError::invalid(format!(
                    "invalid value for `cursor`: it continues `sort={}`, not `sort={}`; \
                     start again without a cursor",
                    pos.sort.as_str(),
                    sort.as_str()
                )));
            }
            Ok(pos)
        })
        .transpose()?;
    Ok((crate::storage::KeyPageReq { limit, sort, after }, cursors))
}

const SORTS: [KeySortField; 4] = [
    KeySortField::Created,
    KeySortField::Name,
    KeySortField::LastUsed,
    KeySortField::Expires,
];

/// `field ‖ descending ‖ seq ‖ value`: value empty (created), the name's bytes, or a
/// presence byte and eight bytes of time.
fn encode_key_pos(p: &KeyPos) -> Vec<u8> {
    let field = SORTS.iter().position(|f| *f == p.sort.field).unwrap_or(0);
    let mut out = vec![
        u8::try_from(field).unwrap_or(0),
        u8::from(p.sort.descending),
    ];
    out.extend_from_slice(&p.seq.to_be_bytes());
    match &p.value {
        SortValue::Created => {}
        SortValue::Name(n) => out.extend_from_slice(n.as_bytes()),
        SortValue::Time(None) => out.push(0),
        SortValue::Time(Some(t)) => {
            out.push(1);
            out.extend_from_slice(&t.to_be_bytes());
        }
    }
    out
}

fn decode_key_pos(b: &[u8]) -> Option<KeyPos> {
    let (&field, rest) = b.split_first()?;
    let (&desc, rest) = rest.split_first()?;
    let field = *SORTS.get(usize::from(field))?;
    let descending = match desc {
        0 => false,
        1 => true,
        _ => return None,
    };
    let (seq, rest) = rest.split_at_checked(8)?;
    let seq = i64::from_be_bytes(seq.try_into().ok()?);
    let value = match field {
        KeySortField::Created if rest.is_empty() => SortValue::Created,
        KeySortField::Created => return None,
        KeySortField::Name => SortValue::Name(String::from_utf8(rest.to_vec()).ok()?),
        KeySortField::LastUsed | KeySortField::Expires => match rest {
            [0] => SortValue::Time(None),
            [1, t @ ..] => SortValue::Time(Some(i64::from_be_bytes(t.try_into().ok()?))),
            _ => return None,
        },
    };
    Some(KeyPos {
        sort: KeySort { field, descending },
        value,
        seq,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn positions() -> impl Strategy<Value = KeyPos> {
        let value = prop_oneof![
            Just(SortValue::Created),
            ".{0,100}".prop_map(SortValue::Name),
            proptest::option::of(any::<i64>()).prop_map(SortValue::Time),
        ];
        (value, any::<bool>(), any::<i64>(), 1usize..4).prop_map(|(value, descending, seq, f)| {
            let field = match &value {
                SortValue::Created => KeySortField::Created,
                SortValue::Name(_) => KeySortField::Name,
                SortValue::Time(_) => SORTS[f.max(2)],
            };
            KeyPos {
                sort: KeySort { field, descending },
                value,
                seq,
            }
        })
    }

    proptest! {
        #[test]
        fn key_positions_round_trip_and_open_only_for_their_org_and_list(
            pos in positions(),
            flip in any::<prop::sample::Index>(),
        ) {
            let s = Sealer::new(&[7; 32]);
            let c = s.seal(List::Keys, "org_a", &encode_key_pos(&pos));
            let opened = s.open(List::Keys, "org_a", &c).and_then(|p| decode_key_pos(&p));
            prop_assert_eq!(opened, Some(pos));
            prop_assert!(s.open(List::Keys, "org_b", &c).is_none());
            prop_assert!(s.open(List::Audit, "org_a", &c).is_none());
            prop_assert!(Sealer::new(&[8; 32]).open(List::Keys, "org_a", &c).is_none());
            // Any one character changed: refused.
            let mut chars: Vec<char> = c.chars().collect();
            let i = PREFIX.len() + flip.index(chars.len() - PREFIX.len());
            chars[i] = if chars[i] == 'A' { 'B' } else { 'A' };
            let altered: String = chars.into_iter().collect();
            prop_assert!(s.open(List::Keys, "org_a", &altered).is_none());
        }
    }

    #[test]
    fn a_cursor_shows_neither_the_row_id_nor_the_name() {
        let s = Sealer::new(&[1; 32]);
        let pos = KeyPos {
            sort: KeySort {
                field: KeySortField::Name,
                descending: false,
            },
            value: SortValue::Name("billing-worker".into()),
            seq: 42,
        };
        let c = s.seal(List::Keys, "org_a", &encode_key_pos(&pos));
        let raw = URL_SAFE_NO_PAD
            .decode(c.strip_prefix(PREFIX).expect("prefix"))
            .expect("base64");
        assert!(!raw.windows(7).any(|w| w == b"billing"));
        assert!(!raw.windows(8).any(|w| w == 42i64.to_be_bytes()));
        // The same position seals to the same cursor (deterministic), another does not.
        assert_eq!(c, s.seal(List::Keys, "org_a", &encode_key_pos(&pos)));
        assert_ne!(c, s.seal(List::Keys, "org_b", &encode_key_pos(&pos)));
    }
}
