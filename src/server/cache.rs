//! The verification cache: key records by secret SHA-256 (and by public key for
//! public-key-only requests), so verifying a known key never touches the database; the
//! organizations those keys belong to (for `GET /v1/me`); and a negative cache of credentials
//! the database did not know, so repeating an unknown secret or public key costs no read.
//!
//! **Bounds.** At most `capacity` keys (default [`DEFAULT_KEY_CAPACITY`]), `capacity / 4`
//! unknown secrets and as many unknown public keys, and [`ORG_CAPACITY`] orgs. Each part is
//! split into [`SHARDS`] shards, each with its own lock (held only for a map operation, never
//! across I/O) and its own CLOCK eviction (second chance: a hit sets a bit with a relaxed
//! atomic store under the shared read lock; the eviction hand clears it once before
//! evicting), so a full cache evicts what was not used lately and a hit never takes a
//! write lock.
//!
//! **Freshness.** Every change a server makes to a key removes it here before the change is
//! acknowledged, so the next request sees it. A generation counter stops a lookup that raced
//! with a change from putting the old record back. An entry is trusted for `ttl` from the
//! moment its database read *started* (which bounds staleness when several instances share
//! one database), and never when that moment is before the trust floor
//! ([`KeyCache::set_trust_floor`]): a change feed that may have missed changes sets the floor,
//! and everything read before it is read again.

use std::borrow::Borrow;
use std::collections::HashMap;
use std::collections::hash_map::RandomState;
use std::hash::{BuildHasher, Hash};

/// The maps' hasher: foldhash, seeded per process (hashbrown's own default; SipHash, std's,
/// was two hashes of 32 bytes per lookup, a visible part of a cached verification). Every
/// map is bounded, so even keys chosen to collide cannot make one grow. The public-key
/// index's 64-bit keys stay SipHash: they must not be made to collide at will.
type MapHasher = foldhash::fast::RandomState;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, RwLock, RwLockReadGuard, RwLockWriteGuard};
use std::time::{Duration, Instant};

use crate::api::Org;
use crate::domain::key::SecretHash;
use crate::domain::record::KeyRecord;

/// Keys cached when no other bound is configured: 100,000 (1,563 per shard). Measured at
/// about 1.2 KB each (the record, its hash and id index entries and their share of the
/// maps: the server's RSS growth while the load benchmark fills the cache), so about 120 MB
/// when full; with the negative caches, the usage batch and the queues a server that has
/// verified 1,000,000 distinct keys measured 250 MB (peak 259 MB) once the usage writer
/// moved its batch instead of copying it (README, "Benchmarks").
pub const DEFAULT_KEY_CAPACITY: usize = 100_000;
/// Organizations cached (`GET /v1/me`).
pub const ORG_CAPACITY: usize = 100_000;
/// Locks each part of the cache is split into.
pub const SHARDS: usize = 64;

// ---------------------------------------------------------------------------------------------
// One shard: a map with CLOCK eviction

#[derive(Debug)]
struct Slot<V> {
    value: V,
    pos: usize,
    hot: AtomicBool,
}

/// A bounded map evicting with CLOCK (second chance).
#[derive(Debug)]
struct ClockMap<K, V> {
    map: HashMap<K, Slot<V>, MapHasher>,
    ring: Vec<K>,
    hand: usize,
    cap: usize,
}

impl<K: Hash + Eq + Clone, V> ClockMap<K, V> {
    fn new(cap: usize) -> ClockMap<K, V> {
        ClockMap {
            map: HashMap::with_hasher(MapHasher::default()),
            ring: Vec::new(),
            hand: 0,
            cap: cap.max(1),
        }
    }

    /// A value, marking it used.
    fn get<Q>(&self, k: &Q) -> Option<&V>
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        let slot = self.map.get(k)?;
        if !slot.hot.load(Ordering::Relaxed) {
            slot.hot.store(true, Ordering::Relaxed);
        }
        Some(&slot.value)
    }

    /// A value without marking it used.
    fn peek<Q>(&self, k: &Q) -> Option<&V>
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        self.map.get(k).map(|s| &s.value)
    }

    /// Insert or replace; returns what was evicted to make room.
    fn insert(&mut self, k: K, value: V) -> Option<(K, V)> {
        if let Some(slot) = self.map.get_mut(&k) {
            slot.value = value;
            return None;
        }
        let evicted = if self.ring.len() >= self.cap {
            self.evict()
        } else {
            None
        };
        self.map.insert(
            k.clone(),
            Slot {
                value,
                pos: self.ring.len(),
                hot: AtomicBool::new(false),
            },
        );
        self.ring.push(k);
        evicted
    }

    fn evict(&mut self) -> Option<(K, V)> {
        // Two passes at most: the first clears every bit it passes.
        for _ in 0..=2 * self.ring.len() {
            if self.hand >= self.ring.len() {
                self.hand = 0;
            }
            let k = self.ring.get(self.hand)?;
            let hot = self
                .map
                .get(k)
                .is_some_and(|s| s.hot.swap(false, Ordering::Relaxed));
            if hot {
                self.hand += 1;
            } else {
                let k = k.clone();
                return self.remove(&k).map(|v| (k, v));
            }
        }
        None
    }

    fn remove<Q>(&mut self, k: &Q) -> Option<V>
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        let slot = self.map.remove(k)?;
        self.ring.swap_remove(slot.pos);
        if let Some(moved) = self.ring.get(slot.pos)
            && let Some(s) = self.map.get_mut::<K>(moved)
        {
            s.pos = slot.pos;
        }
        Some(slot.value)
    }

    fn len(&self) -> usize {
        self.ring.len()
    }
}

/// [`SHARDS`] locked [`ClockMap`]s.
#[derive(Debug)]
struct Sharded<K, V> {
    shards: Box<[RwLock<ClockMap<K, V>>]>,
    hasher: MapHasher,
}

impl<K: Hash + Eq + Clone, V> Sharded<K, V> {
    fn new(capacity: usize) -> Sharded<K, V> {
        let per = capacity.div_ceil(SHARDS);
        Sharded {
            shards: (0..SHARDS)
                .map(|_| RwLock::new(ClockMap::new(per)))
                .collect(),
            hasher: MapHasher::default(),
        }
    }

    fn index<Q: Hash + ?Sized>(&self, k: &Q) -> usize {
        // The low bits pick the shard; the map hashes again with its own seed.
        (self.hasher.hash_one(k) as usize) % SHARDS
    }

    fn read<Q: Hash + ?Sized>(&self, k: &Q) -> RwLockReadGuard<'_, ClockMap<K, V>> {
        self.shards[self.index(k)]
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn write<Q: Hash + ?Sized>(&self, k: &Q) -> RwLockWriteGuard<'_, ClockMap<K, V>> {
        self.shards[self.index(k)]
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn len(&self) -> usize {
        self.shards
            .iter()
            .map(|s| {
                s.read()
                    .unwrap_or_else(std::sync::PoisonError::into_inner)
                    .len()
            })
            .sum()
    }
}

// ---------------------------------------------------------------------------------------------
// The key cache

#[derive(Debug)]
struct Entry {
    record: Arc<KeyRecord>,
    /// When the read that found it started, in nanoseconds since the cache's `base`.
    loaded: u64,
}

/// A generation and instant observed before a database read; pass it back to
/// [`KeyCache::insert`] (and the other inserts).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Generation {
    number: u64,
    at: Instant,
}

/// The cache.
#[derive(Debug)]
pub struct KeyCache {
    by_hash: Sharded<SecretHash, Entry>,
    /// Public key (by [`KeyCache::id_key`], its 64-bit keyed hash) → secret hash of the
    /// cached entry: an index into `by_hash`, kept in step (an entry evicted there is removed
    /// here under its shard's lock). A hit is checked against the record's own id, and an
    /// entry whose index slot is taken by another key's id (a 64-bit collision) is dropped
    /// from `by_hash`, so every cached entry stays reachable by its id.
    by_id: Sharded<u64, SecretHash>,
    /// Seeds [`KeyCache::id_key`] (per process: ids cannot be chosen to collide).
    id_hasher: RandomState,
    missing_hash: Sharded<SecretHash, u64>,
    missing_id: Sharded<Box<str>, u64>,
    orgs: Sharded<Box<str>, (Arc<Org>, u64)>,
    generation: AtomicU64,
    base: Instant,
    /// Nanoseconds since `base`; entries loaded before it are not trusted.
    floor: AtomicU64,
    ttl: Duration,
    capacity: usize,
}

impl KeyCache {
    /// A cache whose entries live `ttl` and which holds at most `capacity` keys, and a quarter
    /// of that of unknown secrets and of unknown public keys.
    pub fn new(ttl: Duration, capacity: usize) -> KeyCache {
        KeyCache::with_negative(ttl, capacity, capacity / 4)
    }

    /// Like [`KeyCache::new`], remembering at most `negative` unknown secrets (and as many
    /// unknown public keys).
    pub fn with_negative(ttl: Duration, capacity: usize, negative: usize) -> KeyCache {
        KeyCache {
            by_hash: Sharded::new(capacity),
            // Never evicts on its own: it holds one entry per cached key, removed with it.
            by_id: Sharded::new(usize::MAX),
            id_hasher: RandomState::new(),
            missing_hash: Sharded::new(negative),
            missing_id: Sharded::new(negative),
            orgs: Sharded::new(ORG_CAPACITY),
            generation: AtomicU64::new(0),
            base: Instant::now(),
            floor: AtomicU64::new(0),
            ttl,
            capacity,
        }
    }

    /// The id index's key for a public key.
    fn id_key(&self, id: &str) -> u64 {
        self.id_hasher.hash_one(id)
    }

    fn nanos(&self, at: Instant) -> u64 {
        u64::try_from(at.saturating_duration_since(self.base).as_nanos()).unwrap_or(u64::MAX)
    }

    /// Whether an entry loaded at `loaded` may be used now.
    fn trusted(&self, loaded: u64) -> bool {
        let ttl = u64::try_from(self.ttl.as_nanos()).unwrap_or(u64::MAX);
        loaded >= self.floor.load(Ordering::Acquire)
            && self.nanos(Instant::now()).saturating_sub(loaded) < ttl
    }

    /// The current generation (take it before reading the database).
    pub fn generation(&self) -> Generation {
        Generation {
            number: self.generation.load(Ordering::Acquire),
            at: Instant::now(),
        }
    }

    fn unchanged_since(&self, seen: Generation) -> bool {
        self.generation.load(Ordering::Acquire) == seen.number
    }

    fn bump(&self) {
        self.generation.fetch_add(1, Ordering::AcqRel);
    }

    /// A fresh cached record by secret hash.
    pub fn by_hash(&self, hash: &SecretHash) -> Option<Arc<KeyRecord>> {
        let shard = self.by_hash.read(hash);
        shard
            .get(hash)
            .filter(|e| self.trusted(e.loaded))
            .map(|e| Arc::clone(&e.record))
    }

    /// A cached record by secret hash, however old. Never authorize with it (it may be
    /// stale); it only tells that a credential belongs to a key this instance has looked up
    /// and not seen change since, which lets a rate-limited client holding a valid key
    /// through without the limiter ever reading the database for unknown credentials.
    pub fn by_hash_any_age(&self, hash: &SecretHash) -> Option<Arc<KeyRecord>> {
        self.by_hash
            .read(hash)
            .peek(hash)
            .map(|e| Arc::clone(&e.record))
    }

    /// A cached record by secret hash, whatever its age and the trust floor, with the
    /// instant its read started: only for `--offline-grace` (`server::feed`), while the
    /// database cannot be reached.
    pub fn entry_any_age(&self, hash: &SecretHash) -> Option<(Arc<KeyRecord>, Instant)> {
        self.by_hash.read(hash).peek(hash).map(|e| {
            let at = self.base + Duration::from_nanos(e.loaded);
            (Arc::clone(&e.record), at)
        })
    }

    /// [`KeyCache::entry_any_age`] by public key.
    pub fn entry_any_age_by_id(&self, id: &str) -> Option<(Arc<KeyRecord>, Instant)> {
        let k = self.id_key(id);
        let hash = *self.by_id.read(&k).peek(&k)?;
        self.entry_any_age(&hash).filter(|(r, _)| r.id == id)
    }

    /// Forget the cached copies of a key older than `version`: a change heard from the
    /// change feed (`server::feed`), which may be this instance's own, already evicted and
    /// read again at that version. A new key (version 1) has no stale copy: a lookup that
    /// raced with its creation found nothing or this very version.
    pub fn evict_older(&self, id: &str, hashes: &[SecretHash], version: i64) {
        // First, so a lookup that read the old row while this runs does not cache it.
        self.bump();
        // Whatever the version, the key exists now (or changed): forget that it was unknown,
        // or a secret refused before its key was created elsewhere stays refused here.
        self.missing_id.write(id).remove(id);
        for h in hashes {
            self.missing_hash.write(h).remove(h);
        }
        if version <= 1 {
            return;
        }
        let k = self.id_key(id);
        let indexed = self.by_id.read(&k).peek(&k).copied();
        for h in indexed.iter().chain(hashes) {
            let stale = self
                .by_hash
                .read(h)
                .peek(h)
                .is_some_and(|e| e.record.version < version);
            if stale {
                self.evict_hash(h);
            }
        }
    }

    /// A fresh cached record by public key.
    pub fn by_id(&self, id: &str) -> Option<Arc<KeyRecord>> {
        let k = self.id_key(id);
        let hash = *self.by_id.read(&k).peek(&k)?;
        self.by_hash(&hash).filter(|r| r.id == id)
    }

    /// Cache a record read from the database, unless a change happened since `seen`.
    pub fn insert(&self, seen: Generation, record: Arc<KeyRecord>) {
        let hash = record.secret_hash;
        let id = self.id_key(&record.id);
        let mut shard = self.by_hash.write(&hash);
        // Checked under the shard's write lock: every eviction of this hash takes it too,
        // after bumping the generation.
        if !self.unchanged_since(seen) {
            return;
        }
        // The index is changed under the entry's lock (always entry shard, then index shard).
        if let Some(prev) = shard.peek(&hash)
            && prev.record.id != record.id
        {
            self.unindex(&prev.record.id, &hash);
        }
        let entry = Entry {
            record,
            loaded: self.nanos(seen.at),
        };
        if let Some((old_hash, old)) = shard.insert(hash, entry) {
            self.unindex(&old.record.id, &old_hash);
        }
        let previous = {
            let mut ids = self.by_id.write(&id);
            let previous = ids.peek(&id).copied();
            ids.insert(id, hash);
            previous
        };
        drop(shard);
        // What the slot indexed before is unreachable by id now: the same key under an older
        // secret (re-keyed, so stale), or another key whose id has the same 64-bit hash. Drop
        // it, so evicting by id always reaches every cached entry.
        if let Some(old_hash) = previous.filter(|h| *h != hash) {
            let mut old = self.by_hash.write(&old_hash);
            if old
                .peek(&old_hash)
                .is_some_and(|e| self.id_key(&e.record.id) == id)
            {
                old.remove(&old_hash);
            }
        }
        self.missing_hash.write(&hash).remove(&hash);
    }

    fn unindex(&self, id: &str, hash: &SecretHash) {
        let k = self.id_key(id);
        let mut ids = self.by_id.write(&k);
        if ids.peek(&k) == Some(hash) {
            ids.remove(&k);
        }
    }

    /// Forget the key with this secret hash, and any memory that it is unknown (call before
    /// acknowledging any change to it).
    pub fn evict_hash(&self, hash: &SecretHash) {
        self.bump();
        let mut shard = self.by_hash.write(hash);
        if let Some(old) = shard.remove(hash) {
            self.unindex(&old.record.id, hash);
        }
        drop(shard);
        self.missing_hash.write(hash).remove(hash);
    }

    /// Forget the key with this public key, and any memory that it is unknown.
    pub fn evict_id(&self, id: &str) {
        self.bump();
        let k = self.id_key(id);
        let hash = self.by_id.write(&k).remove(&k);
        if let Some(hash) = hash {
            let mut shard = self.by_hash.write(&hash);
            // The slot's entry goes even if it is another key's (a 64-bit collision): no
            // entry may stay cached without its index slot.
            if shard
                .peek(&hash)
                .is_some_and(|e| self.id_key(&e.record.id) == k)
            {
                shard.remove(&hash);
            }
        }
        self.missing_id.write(id).remove(id);
    }

    /// Forget a key by both its secret hash and its public key (call before acknowledging any
    /// change to it).
    pub fn invalidate(&self, record: &KeyRecord) {
        self.evict_hash(&record.secret_hash);
        self.evict_id(&record.id);
    }

    /// Trust no entry (key, org or unknown credential) whose database read started before
    /// `at`: each is read again on its next use. The floor only moves forward.
    pub fn set_trust_floor(&self, at: Instant) {
        // No generation bump: `trusted` compares each entry's read start with the floor, so a
        // read that started before it is distrusted whenever it lands, and one after it is
        // fine. (A bump here would throw away every concurrent fill while the feed is behind,
        // exactly when the database needs the cache most.)
        self.floor.fetch_max(self.nanos(at), Ordering::AcqRel);
    }

    /// Whether the database recently did not know this secret hash.
    pub fn is_known_unknown_hash(&self, hash: &SecretHash) -> bool {
        self.missing_hash
            .read(hash)
            .get(hash)
            .is_some_and(|at| self.trusted(*at))
    }

    /// Remember that the database does not know this secret hash, unless a change happened
    /// since `seen`.
    pub fn insert_unknown_hash(&self, seen: Generation, hash: SecretHash) {
        let mut shard = self.missing_hash.write(&hash);
        if self.unchanged_since(seen) {
            shard.insert(hash, self.nanos(seen.at));
        }
    }

    /// Whether the database recently did not know this public key.
    pub fn is_known_unknown_id(&self, id: &str) -> bool {
        self.missing_id
            .read(id)
            .get(id)
            .is_some_and(|at| self.trusted(*at))
    }

    /// Remember that the database does not know this public key, unless a change happened
    /// since `seen`.
    pub fn insert_unknown_id(&self, seen: Generation, id: &str) {
        let mut shard = self.missing_id.write(id);
        if self.unchanged_since(seen) {
            shard.insert(id.into(), self.nanos(seen.at));
        }
    }

    /// A fresh cached organization.
    pub fn org(&self, id: &str) -> Option<Arc<Org>> {
        self.orgs
            .read(id)
            .get(id)
            .filter(|(_, at)| self.trusted(*at))
            .map(|(o, _)| Arc::clone(o))
    }

    /// Cache an organization read from the database, unless a change happened since `seen`.
    pub fn insert_org(&self, seen: Generation, org: Arc<Org>) {
        let id: Box<str> = org.id.as_str().into();
        let mut shard = self.orgs.write(&*id);
        if self.unchanged_since(seen) {
            shard.insert(id, (org, self.nanos(seen.at)));
        }
    }

    /// Forget an organization (call before acknowledging any change to it).
    pub fn evict_org(&self, id: &str) {
        self.bump();
        self.orgs.write(id).remove(id);
    }

    /// Number of cached keys.
    pub fn len(&self) -> usize {
        self.by_hash.len()
    }

    /// Whether no key is cached.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Number of remembered unknown secrets and public keys.
    pub fn unknown_len(&self) -> usize {
        self.missing_hash.len() + self.missing_id.len()
    }

    /// The most keys this cache holds.
    pub fn capacity(&self) -> usize {
        self.capacity
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

    fn org(id: &str, name: &str) -> Arc<Org> {
        Arc::new(Org {
            id: id.to_owned(),
            name: name.to_owned(),
            created_at: Utc::now(),
        })
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
    fn evict_by_hash_or_by_id_forgets_both_ways_in() {
        let c = KeyCache::new(Duration::from_secs(60), 100);
        let r = Arc::new(rec("pk_a", "s1"));
        c.insert(c.generation(), Arc::clone(&r));
        c.evict_hash(&r.secret_hash);
        assert!(c.by_id("pk_a").is_none());
        assert!(c.by_hash_any_age(&r.secret_hash).is_none());
        c.insert(c.generation(), Arc::clone(&r));
        c.evict_id("pk_a");
        assert!(c.by_hash(&r.secret_hash).is_none());
        assert!(c.by_hash_any_age(&r.secret_hash).is_none());
        assert!(c.is_empty());
        // Re-keyed: the entry under the old secret goes when the new one is cached, so
        // evicting by id reaches every entry of the key.
        c.insert(c.generation(), Arc::clone(&r));
        c.insert(c.generation(), Arc::new(rec("pk_a", "s2")));
        assert!(c.by_hash_any_age(&r.secret_hash).is_none());
        c.evict_id("pk_a");
        assert!(c.is_empty());
    }

    #[test]
    fn a_read_that_raced_with_a_change_is_not_cached() {
        let c = KeyCache::new(Duration::from_secs(60), 100);
        let r = rec("pk_a", "s1");
        let seen = c.generation();
        c.invalidate(&r); // a change lands while the lookup was reading the old row
        c.insert(seen, Arc::new(r.clone()));
        assert!(c.is_empty());
        // Also when the change named only the id (a change feed) or the secret hash.
        let seen = c.generation();
        c.evict_id("pk_other");
        c.insert(seen, Arc::new(r.clone()));
        c.insert_unknown_hash(seen, SecretHash::of("s9"));
        c.insert_org(seen, org("org_1", "a"));
        assert!(c.is_empty());
        assert!(!c.is_known_unknown_hash(&SecretHash::of("s9")));
        assert!(c.org("org_1").is_none());
    }

    #[test]
    fn the_trust_floor_distrusts_what_was_read_before_it() {
        let c = KeyCache::new(Duration::from_secs(60), 100);
        let r = Arc::new(rec("pk_a", "s1"));
        let early = c.generation();
        c.insert(early, Arc::clone(&r));
        c.insert_unknown_id(c.generation(), "pk_missing");
        c.insert_org(c.generation(), org("org_1", "a"));
        std::thread::sleep(Duration::from_millis(2));
        let floor = Instant::now();
        c.set_trust_floor(floor);
        assert!(c.by_hash(&r.secret_hash).is_none());
        assert!(c.by_id("pk_a").is_none());
        assert!(!c.is_known_unknown_id("pk_missing"));
        assert!(c.org("org_1").is_none());
        // A lookup whose read started before the floor is not trusted even if it lands after.
        c.insert(early, Arc::clone(&r));
        assert!(c.by_hash(&r.secret_hash).is_none());
        // One read after the floor is.
        c.insert(c.generation(), Arc::clone(&r));
        assert!(c.by_hash(&r.secret_hash).is_some());
        // The floor never moves back.
        c.set_trust_floor(floor - Duration::from_millis(1));
        assert!(c.by_hash(&r.secret_hash).is_some());
    }

    #[test]
    fn unknown_credentials_are_remembered_bounded_and_forgotten_on_change() {
        let c = KeyCache::with_negative(Duration::from_secs(60), 100, 128);
        let h = SecretHash::of("nope");
        assert!(!c.is_known_unknown_hash(&h));
        c.insert_unknown_hash(c.generation(), h);
        assert!(c.is_known_unknown_hash(&h));
        // A key with that secret appears (an import): evicting its hash forgets the miss.
        c.evict_hash(&h);
        assert!(!c.is_known_unknown_hash(&h));
        c.insert_unknown_id(c.generation(), "pk_gone");
        assert!(c.is_known_unknown_id("pk_gone"));
        c.evict_id("pk_gone");
        assert!(!c.is_known_unknown_id("pk_gone"));
        // Caching the key itself forgets that its secret was unknown.
        c.insert_unknown_hash(c.generation(), SecretHash::of("s1"));
        c.insert(c.generation(), Arc::new(rec("pk_a", "s1")));
        assert!(!c.is_known_unknown_hash(&SecretHash::of("s1")));
        for i in 0..10_000 {
            c.insert_unknown_hash(c.generation(), SecretHash::of(&format!("x{i}")));
            c.insert_unknown_id(c.generation(), &format!("pk_{i}"));
        }
        // 128 each, rounded up to whole shards.
        assert!(c.unknown_len() <= 2 * 128usize.div_ceil(SHARDS) * SHARDS);
    }

    #[test]
    fn orgs_are_cached_and_evicted() {
        let c = KeyCache::new(Duration::from_secs(60), 100);
        c.insert_org(c.generation(), org("org_1", "before"));
        assert_eq!(
            c.org("org_1").map(|o| o.name.clone()).as_deref(),
            Some("before")
        );
        c.evict_org("org_1");
        assert!(c.org("org_1").is_none());
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
        let c = KeyCache::new(Duration::from_secs(60), 2 * SHARDS);
        for i in 0..5_000 {
            c.insert(
                c.generation(),
                Arc::new(rec(&format!("pk_{i}"), &format!("s{i}"))),
            );
            assert!(c.len() <= 2 * SHARDS);
        }
        // The id index never outgrows the entries.
        assert_eq!(c.by_id.len(), c.len());
    }

    #[test]
    fn clock_keeps_what_is_used() {
        let mut m: ClockMap<u32, ()> = ClockMap::new(4);
        for k in 0..4 {
            m.insert(k, ());
        }
        // 0 is used again and again; every newcomer evicts something else.
        for k in 10..100 {
            assert!(m.get(&0).is_some());
            let evicted = m.insert(k, ());
            assert_ne!(evicted.map(|(k, ())| k), Some(0));
            assert_eq!(m.len(), 4);
        }
        // Positions stay consistent through removals.
        for k in m.ring.clone() {
            assert_eq!(
                m.map.get(&k).map(|s| s.pos),
                m.ring.iter().position(|x| *x == k)
            );
        }
        let first = m.ring[0];
        assert!(m.remove(&first).is_some());
        for (i, k) in m.ring.iter().enumerate() {
            assert_eq!(m.map.get(k).map(|s| s.pos), Some(i));
        }
    }
}
