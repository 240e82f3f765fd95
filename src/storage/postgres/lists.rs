//! `GET /v1/keys` on PostgreSQL: pages, totals and search with the same bounds as SQLite
//! (migrations 0010, 0015 and 0016, README "Lists at scale").
//!
//! A list query has a **driver**, the terms an index answers in the requested order (in
//! `WHERE`, so the planner walks that index), and a **residual**, the terms it does not
//! (computed as `hit` on each row the driver yields).
//! - Creation order: the first of `owner`, `app_id`, `status`, `env` drives; the rest is
//!   residual. Another sort: that sort's index drives, every term is residual.
//! - `q` of 3+ characters: its matches are looked up first in the trigram GIN indexes
//!   (`kc_q_seqs`, which the planner cannot turn into a walk of the organization), at most
//!   [`SCAN_BUDGET`](crate::storage::SCAN_BUDGET) + 1 of them. When they are no more than the
//!   budget they are the driver, every other term is exact on them and they are sorted;
//!   otherwise (a common word) `q` is a residual `LIKE` on a walk as above.
//!
//! With no residual a page reads `limit + 1` rows and the total counts up to
//! [`TOTAL_CAP`] + 1 rows. With one, a page and the total each examine at most the budget of
//! rows the driver yields: a page may be short with a next position after the last row
//! examined, and the total counts the matches among the rows examined (a lower bound when
//! the budget was reached).
//!
//! The list and sort indexes include the columns the other terms test (migration 0016), so a
//! walk with a residual is an index-only scan; a page reads table rows for its matches only.

use chrono::{DateTime, Utc};
use sqlx::postgres::PgRow;
use sqlx::{Postgres, QueryBuilder, Row};

use super::{PgStore, get, json_list, key_from_row, map_err, ms};
use crate::domain::record::KeyRecord;
use crate::storage::terms::{Term, terms};
use crate::storage::{
    KeyFilter, KeyPage, KeyPageReq, KeyPos, KeySort, KeySortField, KeyTotal, SortValue, StoreError,
    StoreResult, TOTAL_CAP,
};

/// The columns of a key row, from alias `k`.
const K_COLUMNS: &str = "k.seq, k.id, k.org_id, k.name, k.env, k.app_id, k.scopes, \
    k.allowed_domains, k.enabled, k.secret_hash, k.secret_hint, k.created_at, k.updated_at, \
    k.expires_at, k.last_used_at, k.rotated_from, k.rotated_to, k.version, k.owner, \
    k.description, k.leaked_at";

/// Keys per `INSERT` of [`PgStore::import_key_rows`] (one array parameter per column).
const IMPORT_ROWS: usize = 5_000;

/// Shortest `q` the trigram indexes answer (in characters).
const TRIGRAM_MIN_CHARS: usize = 3;

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

/// A term in PostgreSQL's SQL, and the indexes that answer it.
trait PgTerm {
    fn push(&self, qb: &mut QueryBuilder<Postgres>);
    fn drives_creation(&self) -> bool;
}

impl PgTerm for Term {
    fn push(&self, qb: &mut QueryBuilder<Postgres>) {
        match self {
            Term::Owner(o) => {
                qb.push("kc_ascii_lower(k.owner) = kc_ascii_lower(")
                    .push_bind(o.clone())
                    .push(")");
            }
            Term::App(a) => {
                qb.push("k.app_id = ").push_bind(a.clone());
            }
            Term::Disabled => {
                qb.push("NOT k.enabled");
            }
            Term::Active => {
                qb.push("k.enabled AND k.expires_at IS NULL");
            }
            Term::EnabledWithExpiry => {
                qb.push("k.enabled AND k.expires_at IS NOT NULL");
            }
            Term::ExpiresAfter(now) => {
                qb.push("k.expires_at > ").push_bind(*now);
            }
            Term::ExpiresBy(now) => {
                qb.push("k.expires_at <= ").push_bind(*now);
            }
            Term::Env(env) => {
                qb.push("k.env = ").push_bind(env.as_str());
            }
            Term::Scope {
                resource_all,
                exact,
            } => {
                qb.push("(strpos(k.scopes, '\"*\"') > 0 OR strpos(k.scopes, ")
                    .push_bind(resource_all.clone())
                    .push(") > 0 OR strpos(k.scopes, ")
                    .push_bind(exact.clone())
                    .push(") > 0)");
            }
            Term::Hint(hint) => {
                qb.push("right(k.secret_hint, ")
                    .push_bind(i32::try_from(hint.len()).unwrap_or(4))
                    .push(") = ")
                    .push_bind(hint.clone());
            }
            Term::LastUsedBefore(t) => {
                qb.push("(k.last_used_at IS NULL OR k.last_used_at < ")
                    .push_bind(*t)
                    .push(")");
            }
            Term::CreatedBefore(t) => {
                qb.push("k.created_at < ").push_bind(*t);
            }
            // `ILIKE` under the "C" collation folds ASCII letters only (`str_tolower`), so it
            // is `kc_ascii_lower(x) LIKE p` without a `translate` per row (ten times
            // cheaper on a walk); the GIN indexes take the `kc_ascii_lower` form.
            Term::Org(org) => {
                qb.push("k.org_id = ").push_bind(org.clone());
            }
            Term::Q(q) => {
                let p = like_pattern(q);
                qb.push("(k.name ILIKE ")
                    .push_bind(p.clone())
                    .push(" COLLATE \"C\" OR k.id ILIKE ")
                    .push_bind(p)
                    .push(" COLLATE \"C\")");
            }
        }
    }

    /// Whether an index yields exactly this term's keys in creation order (0010, 0015).
    fn drives_creation(&self) -> bool {
        matches!(
            self,
            Term::Owner(_)
                | Term::App(_)
                | Term::Disabled
                | Term::Active
                | Term::EnabledWithExpiry
                | Term::Env(_)
        )
    }
}

/// What one query walks.
#[derive(Debug, Clone)]
struct Plan {
    /// In `WHERE`: answered by the index walked (or exact on the bounded `q` matches).
    driver: Vec<Term>,
    /// Computed as `hit` on each row the driver yields.
    residual: Vec<Term>,
    /// Only these keys: the `q` matches of `kc_q_seqs` (no more than the budget).
    q_seqs: Option<String>,
    /// A total walks `keys_list_expiry` in expiry order (not creation order).
    by_expiry: bool,
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

/// ` AND (expr, seq) > (value, seq)` (or `<` descending): rows after a position.
fn push_after(qb: &mut QueryBuilder<Postgres>, sort: KeySort, pos: &KeyPos) {
    let op = if sort.descending { " < " } else { " > " };
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

/// `<a> AND <b> …`, or `TRUE` for none.
fn push_all(qb: &mut QueryBuilder<Postgres>, terms: &[Term]) {
    if terms.is_empty() {
        qb.push("TRUE");
    }
    for (i, t) in terms.iter().enumerate() {
        if i > 0 {
            qb.push(" AND ");
        }
        t.push(qb);
    }
}

/// `SELECT <what>, (<residual>) AS hit FROM keys k WHERE <org, live, driver, position>
/// ORDER BY <sort> LIMIT n`: the rows the driver yields, in order, with the residual on each.
/// Without a sort (totals): creation order, or expiry order for a plan `by_expiry`. The
/// order is what makes the planner walk the driver's index: left to itself it reads the
/// table from the start for an `env=` total, on the estimate that matches are frequent.
fn push_walk(
    qb: &mut QueryBuilder<Postgres>,
    what: &str,
    org_id: &str,
    plan: &Plan,
    sort: Option<KeySort>,
    after: Option<&KeyPos>,
    n: u32,
) {
    qb.push("SELECT ").push(what).push(", (");
    push_all(qb, &plan.residual);
    qb.push(") AS hit FROM ");
    if let Some(p) = &plan.q_seqs {
        qb.push("kc_q_seqs(")
            .push_bind(org_id.to_owned())
            .push(", ")
            .push_bind(p.clone())
            .push(", ")
            .push_bind(i64::from(n))
            .push(") AS m(seq) JOIN keys k ON k.seq = m.seq");
    } else {
        qb.push("keys k");
    }
    qb.push(" WHERE k.org_id = ")
        .push_bind(org_id.to_owned())
        .push(" AND k.deleted_at IS NULL");
    for t in &plan.driver {
        qb.push(" AND ");
        t.push(qb);
    }
    if let Some(sort) = sort {
        if let Some(pos) = after {
            push_after(qb, sort, pos);
        }
        push_order(qb, sort);
    } else if plan.by_expiry {
        qb.push(" ORDER BY k.expires_at");
    } else {
        qb.push(" ORDER BY k.seq DESC");
    }
    qb.push(" LIMIT ").push_bind(i64::from(n));
}

/// ` ORDER BY <sort>, k.seq` in the sort's direction.
fn push_order(qb: &mut QueryBuilder<Postgres>, sort: KeySort) {
    let dir = if sort.descending { " DESC" } else { " ASC" };
    qb.push(" ORDER BY ");
    if sort.field != KeySortField::Created {
        qb.push(sort_expr(sort.field)).push(dir).push(", ");
    }
    qb.push("k.seq").push(dir);
}

/// The driver for a walk in `sort` order over `terms`.
fn walk_plan(mut terms: Vec<Term>, sort: KeySort) -> Plan {
    let driver = match (sort.field, terms.iter().position(Term::drives_creation)) {
        (KeySortField::Created, Some(i)) => vec![terms.remove(i)],
        _ => Vec::new(),
    };
    Plan {
        driver,
        residual: terms,
        q_seqs: None,
        by_expiry: false,
    }
}

fn pos_of(sort: KeySort, r: &PgRow) -> StoreResult<KeyPos> {
    let value = match sort.field {
        KeySortField::Created => SortValue::Created,
        KeySortField::Name => SortValue::Name(get(r, "name")?),
        KeySortField::LastUsed => SortValue::Time(get(r, "last_used_at")?),
        KeySortField::Expires => SortValue::Time(get(r, "expires_at")?),
    };
    Ok(KeyPos {
        sort,
        value,
        seq: get(r, "seq")?,
    })
}

impl PgStore {
    /// The same store with list pages examining at most `rows` rows instead of
    /// [`SCAN_BUDGET`](crate::storage::SCAN_BUDGET): lets tests reach short pages and
    /// lower-bound totals with few keys.
    pub fn with_scan_budget(mut self, rows: u32) -> PgStore {
        self.scan_budget = rows.max(1);
        self
    }

    /// How many keys of the org `q` (a LIKE pattern) matches, counting at most `n`.
    async fn count_q(&self, org_id: &str, pattern: &str, n: u32) -> StoreResult<u64> {
        let row = sqlx::query("SELECT count(*) AS n FROM kc_q_seqs($1, $2, $3)")
            .bind(org_id)
            .bind(pattern)
            .bind(i64::from(n))
            .fetch_one(&self.pool)
            .await
            .map_err(map_err)?;
        Ok(u64::try_from(get::<i64>(&row, "n")?).unwrap_or(0))
    }

    /// The total of a plan: exact up to the cap without a residual, otherwise the matches
    /// among at most the budget of rows the driver yields.
    async fn count_plan(&self, org_id: &str, plan: &Plan) -> StoreResult<KeyTotal> {
        Ok(self.walk_count(org_id, plan).await?.total)
    }

    /// [`PgStore::count_plan`], with the rows examined and matched.
    async fn walk_count(&self, org_id: &str, plan: &Plan) -> StoreResult<Counted> {
        let exact = plan.residual.is_empty();
        let n = if exact {
            u32::try_from(TOTAL_CAP + 1).unwrap_or(u32::MAX)
        } else {
            self.scan_budget
        };
        let mut qb = QueryBuilder::<Postgres>::new(
            "SELECT count(*) AS examined, count(*) FILTER (WHERE hit) AS hits FROM (",
        );
        push_walk(&mut qb, "1 AS one", org_id, plan, None, None, n);
        qb.push(") AS w");
        let row = qb.build().fetch_one(&self.pool).await.map_err(map_err)?;
        let examined = u64::try_from(get::<i64>(&row, "examined")?).unwrap_or(0);
        let hits = u64::try_from(get::<i64>(&row, "hits")?).unwrap_or(0);
        let total = if exact {
            KeyTotal {
                count: examined.min(TOTAL_CAP),
                lower_bound: examined > TOTAL_CAP,
            }
        } else {
            KeyTotal {
                count: hits.min(TOTAL_CAP),
                lower_bound: examined >= u64::from(self.scan_budget),
            }
        };
        Ok(Counted {
            total,
            examined,
            hits,
        })
    }

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
        let terms = terms(f, now);
        let trigram =
            f.q.as_deref()
                .filter(|q| q.chars().count() >= TRIGRAM_MIN_CHARS)
                .map(like_pattern);
        let (plan, total) = match trigram {
            Some(pattern) => {
                let budget = self.scan_budget;
                // First the newest keys along the driver's index (cheap): when they are all
                // the organization's, or already hold more than a page of matches (a common
                // word), that walk is the answer and its total.
                let walked = self.walk_count(org_id, &count_plan(terms.clone())).await?;
                if walked.examined < u64::from(budget) || walked.hits > u64::from(page.limit) {
                    (walk_plan(terms, sort), walked.total)
                } else if self.count_q(org_id, &pattern, budget + 1).await? <= u64::from(budget) {
                    // Few: every term is exact on them, and they are sorted.
                    let plan = Plan {
                        driver: terms,
                        residual: Vec::new(),
                        q_seqs: Some(pattern),
                        by_expiry: false,
                    };
                    let total = self.count_plan(org_id, &plan).await?;
                    (plan, total)
                } else {
                    (walk_plan(terms, sort), walked.total)
                }
            }
            None => {
                let plan = walk_plan(terms.clone(), sort);
                let total = self.count_plan(org_id, &count_plan(terms)).await?;
                (plan, total)
            }
        };
        self.page_of(org_id, &plan, page, total).await
    }

    /// One page along `plan`.
    async fn page_of(
        &self,
        org_id: &str,
        plan: &Plan,
        page: &KeyPageReq,
        total: KeyTotal,
    ) -> StoreResult<KeyPage> {
        let sort = page.sort;
        let after = page.after.as_ref();
        let bounded = !plan.residual.is_empty();
        let n = if bounded {
            self.scan_budget
        } else if plan.q_seqs.is_some() {
            // All the `q` matches (no more than the budget), sorted.
            self.scan_budget.max(page.limit + 1)
        } else {
            page.limit + 1
        };
        // The walk yields only `seq` and `hit` (an index-only scan where the index covers the
        // residual, migration 0016); the rows are read for the matches only, and put back in
        // the walk's order.
        let mut qb = QueryBuilder::<Postgres>::new("SELECT ");
        qb.push(K_COLUMNS).push(" FROM (SELECT w_seq FROM (");
        push_walk(
            &mut qb,
            "k.seq AS w_seq",
            org_id,
            plan,
            Some(sort),
            after,
            n,
        );
        qb.push(") AS w WHERE hit LIMIT ")
            .push_bind(i64::from(page.limit) + 1)
            .push(") AS p JOIN keys k ON k.seq = p.w_seq");
        push_order(&mut qb, sort);
        let rows = qb.build().fetch_all(&self.pool).await.map_err(map_err)?;
        let mut items = Vec::with_capacity(rows.len());
        for r in rows.iter().take(page.limit as usize) {
            items.push(key_from_row(r)?);
        }
        let next = if rows.len() > page.limit as usize {
            rows.get(page.limit as usize - 1)
                .map(|r| pos_of(sort, r))
                .transpose()?
        } else if bounded {
            // A short page: did the walk stop at its budget? Then continue after the last
            // row it examined.
            let walked = Plan {
                residual: Vec::new(),
                ..plan.clone()
            };
            let mut qb = QueryBuilder::<Postgres>::new("SELECT * FROM (");
            push_walk(
                &mut qb,
                // In creation order the position is the seq alone (from the index).
                if sort.field == KeySortField::Created {
                    "k.seq"
                } else {
                    "k.seq, k.name, k.last_used_at, k.expires_at"
                },
                org_id,
                &walked,
                Some(sort),
                after,
                n,
            );
            qb.push(") AS w OFFSET ")
                .push_bind(i64::from(n) - 1)
                .push(" LIMIT 1");
            let row = qb
                .build()
                .fetch_optional(&self.pool)
                .await
                .map_err(map_err)?;
            row.as_ref().map(|r| pos_of(sort, r)).transpose()?
        } else {
            None
        };
        Ok(KeyPage { items, next, total })
    }

    /// [`crate::storage::KeyStore::import_keys`]: `INSERT … SELECT FROM unnest(…)` of
    /// [`IMPORT_ROWS`] keys at a time, in one transaction. The change feed's per-row trigger
    /// is skipped (`keyconsole.bulk_import`); each batch writes its feed rows in one
    /// statement instead, and one notification wakes the other instances at commit. A large
    /// import ends with `ANALYZE keys`, so the planner knows the new rows at once.
    pub(super) async fn import_key_rows(&self, keys: &[KeyRecord]) -> StoreResult<()> {
        let mut tx = self.begin().await?;
        let r = async {
            sqlx::query("SELECT set_config('keyconsole.bulk_import', 'on', true)")
                .execute(&mut *tx)
                .await
                .map_err(map_err)?;
            for chunk in keys.chunks(IMPORT_ROWS) {
                let col = |f: &dyn Fn(&KeyRecord) -> String| chunk.iter().map(f).collect();
                let opt = |f: &dyn Fn(&KeyRecord) -> Option<String>| {
                    chunk.iter().map(f).collect::<Vec<_>>()
                };
                let time = |f: &dyn Fn(&KeyRecord) -> Option<DateTime<Utc>>| {
                    chunk.iter().map(|k| f(k).map(ms)).collect::<Vec<_>>()
                };
                let ids: Vec<String> = col(&|k| k.id.clone());
                let orgs: Vec<String> = col(&|k| k.org_id.clone());
                let names: Vec<String> = col(&|k| k.name.clone());
                let envs: Vec<String> = col(&|k| k.env.as_str().to_owned());
                let scopes: Vec<String> = col(&|k| json_list(k.scopes.iter()));
                let domains: Vec<String> = col(&|k| json_list(k.allowed_domains.iter()));
                let hints: Vec<String> = col(&|k| k.secret_hint.clone());
                let enabled: Vec<bool> = chunk.iter().map(|k| k.enabled).collect();
                let hashes: Vec<Vec<u8>> = chunk.iter().map(|k| k.secret_hash.0.to_vec()).collect();
                let created: Vec<i64> = chunk.iter().map(|k| ms(k.created_at)).collect();
                let updated: Vec<i64> = chunk.iter().map(|k| ms(k.updated_at)).collect();
                let versions: Vec<i64> = chunk.iter().map(|k| k.version).collect();
                sqlx::query(
                    "WITH ins AS ( \
                       INSERT INTO keys (id, org_id, name, env, app_id, scopes, allowed_domains, \
                         enabled, secret_hash, secret_hint, created_at, updated_at, expires_at, \
                         last_used_at, rotated_from, rotated_to, version, owner, description, \
                         leaked_at) \
                       SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], \
                         $5::text[], $6::text[], $7::text[], $8::bool[], $9::bytea[], \
                         $10::text[], $11::int8[], $12::int8[], $13::int8[], $14::int8[], \
                         $15::text[], $16::text[], $17::int8[], $18::text[], $19::text[], \
                         $20::int8[]) \
                       RETURNING seq, org_id, id, secret_hash, version), \
                     counted AS (SELECT count(*) AS n FROM ins), \
                     base AS ( \
                       UPDATE key_change_counter SET n = n + (SELECT n FROM counted) \
                       WHERE one RETURNING n - (SELECT n FROM counted) AS b) \
                     INSERT INTO key_changes (seq, org_id, key_id, old_hash, new_hash, version, at) \
                     SELECT base.b + row_number() OVER (ORDER BY ins.seq), ins.org_id, ins.id, \
                       NULL, ins.secret_hash, ins.version, \
                       (EXTRACT(EPOCH FROM clock_timestamp()) * 1000)::BIGINT \
                     FROM ins CROSS JOIN base",
                )
                .bind(ids)
                .bind(orgs)
                .bind(names)
                .bind(envs)
                .bind(opt(&|k| k.app_id.clone()))
                .bind(scopes)
                .bind(domains)
                .bind(enabled)
                .bind(hashes)
                .bind(hints)
                .bind(created)
                .bind(updated)
                .bind(time(&|k| k.expires_at))
                .bind(time(&|k| k.last_used_at))
                .bind(opt(&|k| k.rotated_from.clone()))
                .bind(opt(&|k| k.rotated_to.clone()))
                .bind(versions)
                .bind(opt(&|k| k.owner.clone()))
                .bind(opt(&|k| k.description.clone()))
                .bind(time(&|k| k.leaked_at))
                .execute(&mut *tx)
                .await
                .map_err(map_err)?;
            }
            if keys.len() >= IMPORT_ROWS {
                // Fresh statistics for the planner (autovacuum would take its time).
                sqlx::query("ANALYZE keys")
                    .execute(&mut *tx)
                    .await
                    .map_err(map_err)?;
            }
            sqlx::query(
                "SELECT pg_notify($1, n::text) FROM key_change_counter WHERE one",
            )
            .bind(super::CHANGE_CHANNEL)
            .execute(&mut *tx)
            .await
            .map_err(map_err)?;
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

/// The plan of a total without `q`: a creation-order walk, except that `expiring` and
/// `expired` count a range of `keys_list_expiry` (0010) unless an owner or app narrows the
/// keys first, so their totals are exact up to the cap.
fn count_plan(mut terms: Vec<Term>) -> Plan {
    let narrowed = terms
        .iter()
        .any(|t| matches!(t, Term::Owner(_) | Term::App(_)));
    let range = terms
        .iter()
        .position(|t| matches!(t, Term::ExpiresAfter(_) | Term::ExpiresBy(_)));
    match range {
        Some(i) if !narrowed => {
            let range = terms.remove(i);
            terms.retain(|t| *t != Term::EnabledWithExpiry);
            Plan {
                driver: vec![Term::EnabledWithExpiry, range],
                residual: terms,
                q_seqs: None,
                by_expiry: true,
            }
        }
        _ => walk_plan(terms, KeySort::default()),
    }
}

/// A total and the walk behind it.
struct Counted {
    total: KeyTotal,
    /// Rows the driver yielded.
    examined: u64,
    /// Of which matched the residual.
    hits: u64,
}
