//! Bulk insert of new keys, for seeding a large org quickly (the load benchmark seeds
//! 1,000,000 keys this way): many rows per write transaction, no audit entries, nothing
//! through HTTP.

use super::{SqliteStore, insert_key_row};
use crate::domain::record::KeyRecord;
use crate::storage::StoreResult;

/// Rows per write transaction.
const BATCH: usize = 10_000;

impl SqliteStore {
    /// Insert `keys` (new keys of existing orgs) in transactions of [`BATCH`] rows, without
    /// audit entries. A failed batch is rolled back and ends the call; earlier batches stay.
    pub async fn bulk_insert_keys(&self, keys: &[KeyRecord]) -> StoreResult<()> {
        for chunk in keys.chunks(BATCH) {
            let mut tx = self.begin().await?;
            let r = async {
                for k in chunk {
                    insert_key_row(tx.conn(), k).await?;
                }
                Ok(())
            }
            .await;
            tx.end(r, |_| true).await?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::Org;
    use crate::domain::key::{Env, SecretHash};
    use crate::domain::scope::ScopeSet;
    use crate::storage::{IfMissing, KeyStore, Retention};
    use chrono::Utc;

    #[tokio::test]
    async fn bulk_inserted_keys_are_found_and_a_bad_batch_is_rolled_back() {
        let dir = tempfile::tempdir().expect("tempdir");
        let url = format!("sqlite://{}", dir.path().join("b.db").display());
        let store = SqliteStore::open(&url, Retention::default(), IfMissing::Create)
            .await
            .expect("open");
        let org = Org {
            id: "org_bulk".into(),
            name: "bulk".into(),
            created_at: Utc::now(),
        };
        store.create_org(&org).await.expect("org");
        let key = |i: usize| KeyRecord {
            id: format!("pk_live_{i:024}"),
            org_id: "org_bulk".into(),
            name: format!("k{i}"),
            env: Env::Live,
            app_id: None,
            scopes: ScopeSet::default(),
            allowed_domains: vec![],
            enabled: true,
            secret_hash: SecretHash::of(&format!("s{i}")),
            secret_hint: "abcd".into(),
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
        };
        let keys: Vec<KeyRecord> = (0..BATCH + 5).map(key).collect();
        store.bulk_insert_keys(&keys).await.expect("bulk");
        for i in [0, BATCH - 1, BATCH + 4] {
            let found = store.key_by_hash(&SecretHash::of(&format!("s{i}"))).await;
            assert_eq!(found.expect("read").map(|k| k.id), Some(keys[i].id.clone()));
        }
        // A duplicate id fails its batch, which is rolled back whole.
        let again = vec![key(BATCH + 10), key(0)];
        assert!(store.bulk_insert_keys(&again).await.is_err());
        let lost = SecretHash::of(&format!("s{}", BATCH + 10));
        assert!(store.key_by_hash(&lost).await.expect("read").is_none());
        store.close().await;
    }
}
