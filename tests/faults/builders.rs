//! Small builders the fault tests share.

use std::sync::Arc;

use chrono::Utc;
use keyconsole::api::{CreateKeyRequest, OrgCreated};
use keyconsole::domain::key::{Env, SecretPrefix};
use keyconsole::server::bootstrap;
use keyconsole::storage::{KeyStore, StoreResult};

/// A create request for a `runs:read` key.
pub fn new_key(name: &str) -> CreateKeyRequest {
    CreateKeyRequest {
        name: name.to_owned(),
        scopes: Some(vec!["runs:read".to_owned()]),
        ..CreateKeyRequest::default()
    }
}

/// An organization and its owner key, written straight to the store.
pub async fn org_in(store: &Arc<dyn KeyStore>) -> StoreResult<OrgCreated> {
    bootstrap::create_org_with_owner(
        store,
        "Acme",
        "Owner",
        Env::Live,
        &SecretPrefix::default(),
        Utc::now(),
    )
    .await
}

/// Take and release the write lock (`BEGIN IMMEDIATE`, `ROLLBACK`) on another connection:
/// proves nobody else holds it.
pub async fn lock_is_free(other: &mut sqlx::SqliteConnection) -> Result<(), sqlx::Error> {
    sqlx::raw_sql("BEGIN IMMEDIATE")
        .execute(&mut *other)
        .await?;
    sqlx::raw_sql("ROLLBACK").execute(&mut *other).await?;
    Ok(())
}
