//! `GET /v1/keys` on PostgreSQL: one query per page and one bounded count, each an index
//! range (migration 0010) the planner picks: the filter's own partial index in creation
//! order, the sort's index otherwise, the trigram indexes for `q=`.
//!
//! Every filter is exact and a page always holds `limit` keys when that many match after
//! its position: PostgreSQL needs no scan budget, so pages are never cut short. The total
//! counts at most [`TOTAL_CAP`] + 1 matching rows (`lower_bound` above the cap). For an
//! organization where SQLite's page examines fewer than [`crate::storage::SCAN_BUDGET`] keys
//! (every organization below that many keys) both backends answer the same keys, totals and
//! cursors.

use chrono::{DateTime, Utc};
use sqlx::{Postgres, QueryBuilder, Row};

use super::{PgStore, get, insert_key_row, key_from_row, map_err, ms};
use crate::domain::record::{KeyRecord, KeyStatus};
use crate::storage::{
    KeyFilter, KeyPage, KeyPageReq, KeyPos, KeySortField, KeyTotal, SortValue, StoreError,
    StoreResult, TOTAL_CAP,
};

/// `q` as a LIKE pattern matching it as an exact substring (ASCII-folded).
fn like_pattern(q: &str) -> String {
    let mut p = String::with_capacity(q.len() + 2);
    p.push('%');
    for c in q.to_ascii_lowercase().chars() {
        if matches!(c, '%' | '_' | '\\') {
            p.push('\\');
        }
        p.push(c);
    }
    p.push('%');
    p
}

/// ` WHERE …` of every filter term, on alias `k`.
fn push_filter(qb: &mut QueryBuilder<Postgres>, org_id: &str, f: &KeyFilter, now: DateTime<Utc>) {
    qb.push(" WHERE k.org_id = ")
        .push_bind(org_id.to_owned())
        .push(" AND k.deleted_at IS NULL");
    if let Some(q) = &f.q {
        let p = like_pattern(q);
        qb.push(" AND (kc_ascii_lower(k.name) LIKE ")
            .push_bind(p.clone())
            .push(" OR kc_ascii_lower(k.id) LIKE ")
            .push_bind(p)
            .push(")");
    }
    if let Some(o) = &f.owner {
        qb.push(" AND kc_ascii_lower(k.owner) = kc_ascii_lower(")
            .push_bind(o.clone())
            .push(")");
    }
    if let Some(app) = &f.app_id {
        qb.push(" AND k.app_id = ").push_bind(app.clone());
    }
    if let Some(env) = f.env {
        qb.push(" AND k.env = ").push_bind(env.as_str());
    }
    if let Some(status) = f.status {
        let now = ms(now);
        match status {
            KeyStatus::Disabled => {
                qb.push(" AND NOT k.enabled");
            }
            KeyStatus::Active => {
                qb.push(" AND k.enabled AND k.expires_at IS NULL");
            }
            KeyStatus::Expiring => {
                qb.push(" AND k.enabled AND k.expires_at > ").push_bind(now);
            }
            KeyStatus::Expired => {
                qb.push(" AND k.enabled AND k.expires_at <= ")
                    .push_bind(now);
            }
        }
    }
    if let Some(scope) = &f.scope {
        let resource = scope.split(':').next().unwrap_or(scope);
        qb.push(" AND (strpos(k.scopes, '\"*\"') > 0 OR strpos(k.scopes, ")
            .push_bind(format!("\"{resource}:*\""))
            .push(") > 0 OR strpos(k.scopes, ")
            .push_bind(format!("\"{scope}\""))
            .push(") > 0)");
    }
    if let Some(t) = f.last_used_before {
        qb.push(" AND (k.last_used_at IS NULL OR k.last_used_at < ")
            .push_bind(ms(t))
            .push(")");
    }
    if let Some(t) = f.created_before {
        qb.push(" AND k.created_at < ").push_bind(ms(t));
    }
    if let Some(hint) = &f.hint {
        qb.push(" AND right(k.secret_hint, ")
            .push_bind(i32::try_from(hint.len()).unwrap_or(4))
            .push(") = ")
            .push_bind(hint.clone());
    }
}

/// The sort's expression on alias `k` (as SQLite's `COLLATE NOCASE` and `ifnull`s).
fn sort_expr(field: KeySortField) -> &'static str {
    match field {
        KeySortField::Created => "k.seq",
        KeySortField::Name => "kc_ascii_lower(k.name)",
        KeySortField::LastUsed => "COALESCE(k.last_used_at, -1)",
        KeySortField::Expires => "COALESCE(k.expires_at, 9223372036854775807)",
    }
}

impl PgStore {
    /// [`crate::storage::KeyStore::list_keys`].
    pub(super) async fn list_keys_page(
        &self,
        org_id: &str,
        f: &KeyFilter,
        now: DateTime<Utc>,
        page: &KeyPageReq,
    ) -> StoreResult<KeyPage> {
        let sort = page.sort;
        if let Some(pos) = &page.after
            && pos.sort != sort
        {
            return Err(StoreError::Other(
                "a position of another sort (the server checks cursors)".to_owned(),
            ));
        }
        let mut count =
            QueryBuilder::<Postgres>::new("SELECT COUNT(*) AS n FROM (SELECT 1 FROM keys k");
        push_filter(&mut count, org_id, f, now);
        count
            .push(" LIMIT ")
            .push_bind(i64::try_from(TOTAL_CAP).unwrap_or(i64::MAX) + 1)
            .push(") AS m");
        let n: i64 = get(
            &count.build().fetch_one(&self.pool).await.map_err(map_err)?,
            "n",
        )?;
        let n = u64::try_from(n).unwrap_or(0);
        let total = KeyTotal {
            count: n.min(TOTAL_CAP),
            lower_bound: n > TOTAL_CAP,
        };

        let mut qb = QueryBuilder::<Postgres>::new(concat!(
            "SELECT ",
            "k.seq, k.id, k.org_id, k.name, k.env, k.app_id, k.scopes, k.allowed_domains, \
             k.enabled, k.secret_hash, k.secret_hint, k.created_at, k.updated_at, k.expires_at, \
             k.last_used_at, k.rotated_from, k.rotated_to, k.version, k.owner, k.description, \
             k.leaked_at",
            " FROM keys k"
        ));
        push_filter(&mut qb, org_id, f, now);
        let op = if sort.descending { " < " } else { " > " };
        if let Some(pos) = &page.after {
            match &pos.value {
                SortValue::Created => {
                    qb.push(" AND k.seq").push(op).push_bind(pos.seq);
                }
                SortValue::Name(name) => {
                    qb.push(" AND (kc_ascii_lower(k.name), k.seq)")
                        .push(op)
                        .push("(kc_ascii_lower(")
                        .push_bind(name.clone())
                        .push("), ")
                        .push_bind(pos.seq)
                        .push(")");
                }
                SortValue::Time(t) => {
                    let v = match sort.field {
                        KeySortField::Expires => t.unwrap_or(i64::MAX),
                        _ => t.unwrap_or(-1),
                    };
                    qb.push(" AND (")
                        .push(sort_expr(sort.field))
                        .push(", k.seq)")
                        .push(op)
                        .push("(")
                        .push_bind(v)
                        .push("::BIGINT, ")
                        .push_bind(pos.seq)
                        .push(")");
                }
            }
        }
        let dir = if sort.descending { " DESC" } else { " ASC" };
        qb.push(" ORDER BY ");
        if sort.field != KeySortField::Created {
            qb.push(sort_expr(sort.field)).push(dir).push(", ");
        }
        qb.push("k.seq").push(dir);
        qb.push(" LIMIT ").push_bind(i64::from(page.limit) + 1);
        let rows = qb.build().fetch_all(&self.pool).await.map_err(map_err)?;
        let more = rows.len() > page.limit as usize;
        let mut items = Vec::with_capacity(rows.len());
        for r in rows.iter().take(page.limit as usize) {
            items.push(key_from_row(r)?);
        }
        let next = match (more, rows.get((page.limit as usize).saturating_sub(1))) {
            (true, Some(r)) => {
                let seq: i64 = r.try_get("seq").map_err(map_err)?;
                let value = match sort.field {
                    KeySortField::Created => SortValue::Created,
                    KeySortField::Name => SortValue::Name(get(r, "name")?),
                    KeySortField::LastUsed => SortValue::Time(get(r, "last_used_at")?),
                    KeySortField::Expires => SortValue::Time(get(r, "expires_at")?),
                };
                Some(KeyPos { sort, value, seq })
            }
            _ => None,
        };
        Ok(KeyPage { items, next, total })
    }

    /// [`crate::storage::KeyStore::import_keys`].
    pub(super) async fn import_key_rows(&self, keys: &[KeyRecord]) -> StoreResult<()> {
        let mut tx = self.begin().await?;
        let r = async {
            for k in keys {
                insert_key_row(&mut tx, k).await?;
            }
            Ok(())
        }
        .await;
        self.end(tx, r, |_| true).await
    }

    /// [`crate::storage::KeyStore::cursor_secret`].
    pub(super) async fn stored_cursor_secret(&self) -> StoreResult<[u8; 32]> {
        let row = sqlx::query("SELECT secret FROM cursor_secret WHERE id = 1")
            .fetch_optional(&self.pool)
            .await
            .map_err(map_err)?
            .ok_or_else(|| StoreError::Corrupt("the cursor secret is missing".to_owned()))?;
        let secret: Vec<u8> = row.try_get("secret").map_err(map_err)?;
        secret
            .try_into()
            .map_err(|_| StoreError::Corrupt("the cursor secret is not 32 bytes".to_owned()))
    }
}
