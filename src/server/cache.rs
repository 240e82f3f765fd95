//! The verification cache: key records by secret SHA-256 (and by public key for
//! public-key-only requests), so verifying a known key never touches the database.
//!
//! Every change a server makes to a key removes it here before the change is acknowledged,
//! so the next request sees it. A generation counter stops a lookup that raced with a change
//! from putting the old record back. Entries also age out after `ttl`, which bounds staleness
//! when several instances share one database.
//!
//! Locks are held only for a map operation, never across I/O.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use crate::domain::key::SecretHash;
use crate::domain::record::KeyRecord;

#[derive(Debug)]
struct Entry {
    record: Arc<KeyRecord>,
    /// When the database read that found it started (see [`Generation`]): the entry reflects
    /// every change committed before then.
    loaded: Instant,
}

#[derive(Debug, Default)]
struct Maps {
    by_hash: HashMap<SecretHash, Entry>,
    by_id: HashMap<String, Entry>,
}

/// The cache.
#[derive(Debug)]
pub struct KeyCache {
    maps: RwLock<Maps>,
    generation: AtomicU64,
    ttl: Duration,
    capacity: usize,
}

/// A generation observed before a database read, and when; pass it back to
/// [`KeyCache::insert`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Generation(u64, Instant);

impl KeyCache {
    /// A cache whose entries live `ttl` and which holds at most `capacity` keys.
    pub fn new(ttl: Duration, capacity: usize) -> KeyCache {
        KeyCache {
            maps: RwLock::new(Maps::default()),
            generation: AtomicU64::new(0),
            ttl,
            capacity,
        }
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, Maps> {
        self.maps
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, Maps> {
        self.maps
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// The current generation (take it before reading the database).
    pub fn generation(&self) -> Generation {
        Generation(self.generation.load(Ordering::Acquire), Instant::now())
    }

    /// A cached record by secret hash, however old, with the instant its read started
    /// (the change feed decides whether it may be trusted: `server::feed`).
    pub fn entry_by_hash(&self, hash: &SecretHash) -> Option<(Arc<KeyRecord>, Instant)> {
        let maps = self.read();
        maps.by_hash
            .get(hash)
            .map(|e| (Arc::clone(&e.record), e.loaded))
    }

    /// A cached record by public key, however old, with the instant its read started.
    pub fn entry_by_id(&self, id: &str) -> Option<(Arc<KeyRecord>, Instant)> {
        let maps = self.read();
        maps.by_id
            .get(id)
            .map(|e| (Arc::clone(&e.record), e.loaded))
    }

    /// The entries' trust limit: how long an entry is used without a database read while
    /// the change feed keeps up.
    pub fn ttl(&self) -> Duration {
        self.ttl
    }

    /// A fresh cached record by secret hash.
    pub fn by_hash(&self, hash: &SecretHash) -> Option<Arc<KeyRecord>> {
        let maps = self.read();
        maps.by_hash
            .get(hash)
            .filter(|e| e.loaded.elapsed() < self.ttl)
            .map(|e| Arc::clone(&e.record))
    }

    /// A cached record by secret hash, however old. Never authorize with it (it may be
    /// stale); it only tells that a credential belongs to a key this instance has looked up
    /// and not seen change since, which lets a rate-limited client holding a valid key
    /// through without the limiter ever reading the database for unknown credentials.
    pub fn by_hash_any_age(&self, hash: &SecretHash) -> Option<Arc<KeyRecord>> {
        self.read().by_hash.get(hash).map(|e| Arc::clone(&e.record))
    }

    /// A fresh cached record by public key.
    pub fn by_id(&self, id: &str) -> Option<Arc<KeyRecord>> {
        let maps = self.read();
        maps.by_id
            .get(id)
            .filter(|e| e.loaded.elapsed() < self.ttl)
            .map(|e| Arc::clone(&e.record))
    }

    /// Cache a record read from the database, unless a change happened since `seen`.
    pub fn insert(&self, seen: Generation, record: Arc<KeyRecord>) {
        let mut maps = self.write();
        // Checked under the write lock: `invalidate` bumps the generation under it too.
        if self.generation.load(Ordering::Acquire) != seen.0 {
            return;
        }
        if maps.by_hash.len() >= self.capacity {
            maps.by_hash.clear();
            maps.by_id.clear();
        }
        let now = seen.1;
        maps.by_id.insert(
            record.id.clone(),
            Entry {
                record: Arc::clone(&record),
                loaded: now,
            },
        );
        maps.by_hash.insert(
            record.secret_hash,
            Entry {
                record,
                loaded: now,
            },
        );
    }

    /// Forget a key (call before acknowledging any change to it).
    pub fn invalidate(&self, record: &KeyRecord) {
        self.evict(&record.id, std::slice::from_ref(&record.secret_hash));
    }

    /// Forget a key by id and secret hashes (a change another instance made, heard from the
    /// change feed), and whatever secret its cached record has.
    pub fn evict(&self, id: &str, hashes: &[SecretHash]) {
        let mut maps = self.write();
        self.generation.fetch_add(1, Ordering::AcqRel);
        if let Some(e) = maps.by_id.remove(id) {
            maps.by_hash.remove(&e.record.secret_hash);
        }
        for h in hashes {
            maps.by_hash.remove(h);
        }
    }

    /// Forget the cached copies of a key older than `version` (a change heard from the
    /// change feed, which may be this instance's own, already evicted and read again).
    pub fn evict_older(&self, id: &str, hashes: &[SecretHash], version: i64) {
        if version <= 1 {
            // A new key: a lookup racing with its creation found nothing (not cached) or
            // this very version.
            return;
        }
        let mut maps = self.write();
        self.generation.fetch_add(1, Ordering::AcqRel);
        if maps
            .by_id
            .get(id)
            .is_some_and(|e| e.record.version < version)
            && let Some(e) = maps.by_id.remove(id)
        {
            maps.by_hash.remove(&e.record.secret_hash);
        }
        for h in hashes {
            if maps
                .by_hash
                .get(h)
                .is_some_and(|e| e.record.version < version)
            {
                maps.by_hash.remove(h);
            }
        }
    }

    /// Forget everything (the change feed lost track of what changed).
    pub fn clear(&self) {
        let mut maps = self.write();
        self.generation.fetch_add(1, Ordering::AcqRel);
        maps.by_hash.clear();
        maps.by_id.clear();
    }

    /// Number of cached keys.
    pub fn len(&self) -> usize {
        self.read().by_hash.len()
    }

    /// Whether nothing is cached.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// Which org each app belongs to. Apps are never deleted or moved, so an answer found in the
/// database stays true forever; unknown apps are not remembered (one may be created later).
#[derive(Debug)]
pub struct AppOrgs {
    map: RwLock<HashMap<String, String>>,
    capacity: usize,
}

impl AppOrgs {
    /// A cache of at most `capacity` apps.
    pub fn new(capacity: usize) -> AppOrgs {
        AppOrgs {
            map: RwLock::new(HashMap::new()),
            capacity,
        }
    }

    /// The cached org of an app.
    pub fn get(&self, app_id: &str) -> Option<String> {
        self.map
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .get(app_id)
            .cloned()
    }

    /// Remember an app's org.
    pub fn insert(&self, app_id: &str, org_id: &str) {
        let mut map = self
            .map
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if map.len() >= self.capacity && !map.contains_key(app_id) {
            map.clear();
        }
        map.insert(app_id.to_owned(), org_id.to_owned());
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::key::Env;
    use crate::domain::scope::ScopeSet;
    use chrono::Utc;

    fn rec(id: &str, secret: &str) -> KeyRecord {
        KeyRecord {
            id: id.to_owned(),
            org_id: "org_1".to_owned(),
            name: "n".to_owned(),
            env: Env::Live,
            app_id: None,
            scopes: ScopeSet::default(),
            allowed_domains: vec![],
            enabled: true,
            secret_hash: SecretHash::of(secret),
            secret_hint: "abcd".to_owned(),
            created_at: Utc::now(),
            updated_at: Utc::now(),
            expires_at: None,
            last_used_at: None,
            rotated_from: None,
            rotated_to: None,
            version: 1,
            owner: None,
            description: None,
            leaked_at: None,
        }
    }

    #[test]
    fn insert_lookup_invalidate() {
        let c = KeyCache::new(Duration::from_secs(60), 100);
        let r = rec("pk_a", "s1");
        c.insert(c.generation(), Arc::new(r.clone()));
        assert!(c.by_hash(&SecretHash::of("s1")).is_some());
        assert!(c.by_id("pk_a").is_some());
        c.invalidate(&r);
        assert!(c.by_hash(&SecretHash::of("s1")).is_none());
        assert!(c.by_id("pk_a").is_none());
    }

    #[test]
    fn a_read_that_raced_with_a_change_is_not_cached() {
        let c = KeyCache::new(Duration::from_secs(60), 100);
        let r = rec("pk_a", "s1");
        let seen = c.generation();
        c.invalidate(&r); // a change lands while the lookup was reading the old row
        c.insert(seen, Arc::new(r));
        assert!(c.is_empty());
    }

    #[test]
    fn app_orgs_are_bounded() {
        let a = AppOrgs::new(2);
        a.insert("app_1", "org_1");
        assert_eq!(a.get("app_1").as_deref(), Some("org_1"));
        for i in 0..5 {
            a.insert(&format!("app_x{i}"), "org_2");
        }
        assert!(a.map.read().expect("lock").len() <= 2);
    }

    #[test]
    fn entries_expire_and_capacity_is_bounded() {
        let c = KeyCache::new(Duration::from_millis(0), 100);
        c.insert(c.generation(), Arc::new(rec("pk_a", "s1")));
        assert!(c.by_hash(&SecretHash::of("s1")).is_none());
        // Aged out, but still known until it changes.
        assert!(c.by_hash_any_age(&SecretHash::of("s1")).is_some());
        c.invalidate(&rec("pk_a", "s1"));
        assert!(c.by_hash_any_age(&SecretHash::of("s1")).is_none());
        let c = KeyCache::new(Duration::from_secs(60), 2);
        for i in 0..5 {
            c.insert(
                c.generation(),
                Arc::new(rec(&format!("pk_{i}"), &format!("s{i}"))),
            );
        }
        assert!(c.len() <= 2);
    }
}
