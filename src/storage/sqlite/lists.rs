//! `GET /v1/keys` on SQLite: pages, totals and search that read index ranges, never the
//! whole organization (migrations 0006, 0011, 0012 and 0013, README "Lists at scale").
//!
//! A list query has a **driver**, the one index it walks in the requested order, and a
//! **residual**, the filter terms that index does not answer (checked on each row it yields).
//! - Creation order (`created`, `-created`): `seq` order. The driver is the index of the most
//!   selective single filter (`owner`, `app_id`, `status`, `env`), or `keys_list_live`; for a
//!   `q` of 3 characters or more, the trigram index `keys_q` (its rowid is `seq`).
//! - Another sort: that sort's index (`keys_sort_*`); for a `q` whose trigram matches are
//!   fewer than [`SCAN_BUDGET`](crate::storage::SCAN_BUDGET), those matches, sorted.
//!
//! With no residual every row the driver yields matches, so a page reads `limit + 1` rows.
//! With one, a page examines at most [`SCAN_BUDGET`](crate::storage::SCAN_BUDGET) rows: when
//! they hold fewer than a page of matches, the page is short and its cursor continues after
//! the last row examined. Totals count up to [`TOTAL_CAP`] rows of the driver (exact below
//! it), or with a residual the matches among at most
//! [`SCAN_BUDGET`](crate::storage::SCAN_BUDGET) rows (a lower bound when that many were
//! examined).
//!
//! `keys_q` holds ASCII-lowercased names and ids and compares trigrams exactly, so a phrase
//! match of 3+ characters *is* the substring match: nothing is re-checked. It holds every
//! organization's keys, so the organization is its residual (one organization's search
//! examines at most the budget of another's matches).
//!
//! The list indexes (migration 0012) and the sort indexes (0013) hold the columns the other
//! terms test (the sort indexes also the name and id, for `q`), so a walk checks its residual
//! without reading table rows; a walk along `keys_q` with a list filter looks each match up
//! in that filter's index.

use chrono::{DateTime, Utc};
use sqlx::sqlite::SqliteRow;
use sqlx::{QueryBuilder, Row, Sqlite};

use super::{SqliteStore, get, json_list, key_from_row, map_err, ms};
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

/// Keys per `INSERT` of [`SqliteStore::import_key_rows`] (20 parameters each, under
/// SQLite's 32,766).
const IMPORT_ROWS: usize = 1_000;

/// The writer's page cache while an import runs (256 MiB), and after it (SQLite's default).
const IMPORT_CACHE: &str = "PRAGMA cache_size = -262144";
const DEFAULT_CACHE: &str = "PRAGMA cache_size = -2000";

/// Shortest `q` the trigram index answers (in characters).
pub const TRIGRAM_MIN_CHARS: usize = 3;

/// A term in SQLite's SQL, and the index that answers it.
trait SqliteTerm {
    fn push(&self, qb: &mut QueryBuilder<Sqlite>);
    fn creation_index(&self) -> Option<&'static str>;
}

impl SqliteTerm for Term {
    fn push(&self, qb: &mut QueryBuilder<Sqlite>) {
        match self {
            Term::Disabled => {
                qb.push("k.enabled = 0");
            }
            Term::Active => {
                qb.push("k.enabled = 1 AND k.expires_at IS NULL");
            }
            Term::EnabledWithExpiry => {
                qb.push("k.enabled = 1 AND k.expires_at IS NOT NULL");
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
            Term::App(app) => {
                qb.push("k.app_id = ").push_bind(app.clone());
            }
            Term::Owner(owner) => {
                qb.push("k.owner = ")
                    .push_bind(owner.clone())
                    .push(" COLLATE NOCASE");
            }
            Term::Scope {
                resource_all,
                exact,
            } => {
                qb.push("(instr(k.scopes, '\"*\"') > 0 OR instr(k.scopes, ")
                    .push_bind(resource_all.clone())
                    .push(") > 0 OR instr(k.scopes, ")
                    .push_bind(exact.clone())
                    .push(") > 0)");
            }
            Term::Hint(hint) => {
                qb.push("substr(k.secret_hint, -")
                    .push_bind(i64::try_from(hint.len()).unwrap_or(4))
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
            Term::Org(org) => {
                qb.push("k.org_id = ").push_bind(org.clone());
            }
            Term::Q(q) => {
                let q = q.to_ascii_lowercase();
                qb.push("(instr(lower(k.name), ")
                    .push_bind(q.clone())
                    .push(") > 0 OR instr(lower(k.id), ")
                    .push_bind(q)
                    .push(") > 0)");
            }
        }
    }

    /// The index that yields exactly this term's keys in `seq` order.
    fn creation_index(&self) -> Option<&'static str> {
        Some(match self {
            Term::Owner(_) => "keys_org_owner_field",
            Term::App(_) => "keys_list_app",
            Term::Disabled => "keys_list_disabled",
            Term::EnabledWithExpiry => "keys_list_expiring",
            Term::Env(_) => "keys_list_env",
            Term::Active => "keys_list_active",
            _ => return None,
        })
    }
}

/// A trigram phrase query for `q`: the whole string, quotes doubled.
fn fts_phrase(q: &str) -> String {
    format!("\"{}\"", q.replace('"', "\"\""))
}

/// What a query walks.
#[derive(Debug, Clone)]
enum Driver {
    /// An index of `keys` (its terms in WHERE, the rest residual).
    Index {
        index: &'static str,
        terms: Vec<Term>,
    },
    /// The trigram index `keys_q`, in `seq` order: every organization's keys whose name or
    /// id contains `q` (exactly: no candidate needs checking). The organization is residual.
    Fts(String),
    /// The trigram matches (all of them examined by the count: fewer than
    /// [`SCAN_BUDGET`](crate::storage::SCAN_BUDGET)), sorted.
    FtsSorted(String),
}

/// The sort's expression on alias `k`, and the value a position binds.
fn sort_expr(field: KeySortField) -> &'static str {
    match field {
        KeySortField::Created => "k.seq",
        KeySortField::Name => "k.name COLLATE NOCASE",
        KeySortField::LastUsed => "ifnull(k.last_used_at, -1)",
        KeySortField::Expires => "ifnull(k.expires_at, 9223372036854775807)",
    }
}

fn sort_index(field: KeySortField) -> &'static str {
    match field {
        KeySortField::Created => "keys_list_live",
        KeySortField::Name => "keys_sort_name",
        KeySortField::LastUsed => "keys_sort_last_used",
        KeySortField::Expires => "keys_sort_expires",
    }
}

/// Which rows after a position one index scan reads. SQLite does not use a row-value
/// comparison as an index range, so on a sort index a position is read as two ranges, each
/// a range of the index: the rest of its ties (`expr = value`, `seq` beyond), then the rows
/// beyond its value; the two are concatenated (`UNION ALL`, in order).
#[derive(Debug, Clone, Copy)]
enum Part {
    /// One comparison (creation order, or sorted candidates that use no index).
    Whole,
    Ties,
    Beyond,
}

/// The sort value of a position, as the sort expression compares it.
fn push_value(qb: &mut QueryBuilder<Sqlite>, sort: KeySort, pos: &KeyPos) {
    match &pos.value {
        SortValue::Created => {
            qb.push_bind(pos.seq);
        }
        SortValue::Name(name) => {
            qb.push_bind(name.clone());
        }
        SortValue::Time(t) => {
            qb.push_bind(match sort.field {
                KeySortField::Expires => t.unwrap_or(i64::MAX),
                _ => t.unwrap_or(-1),
            });
        }
    }
}

/// The position's condition for `part`.
fn push_part(
    qb: &mut QueryBuilder<Sqlite>,
    sort: KeySort,
    pos: &KeyPos,
    seq_col: &str,
    part: Part,
) {
    let op = if sort.descending { " < " } else { " > " };
    match part {
        Part::Whole => push_after(qb, sort, pos, seq_col),
        Part::Ties => {
            qb.push(" AND ").push(sort_expr(sort.field)).push(" = ");
            push_value(qb, sort, pos);
            qb.push(" AND ").push(seq_col).push(op).push_bind(pos.seq);
        }
        Part::Beyond => {
            qb.push(" AND ").push(sort_expr(sort.field)).push(op);
            push_value(qb, sort, pos);
        }
    }
}

/// `AND (expr, seq) > (value, seq)` (or `<` descending) for a position.
fn push_after(qb: &mut QueryBuilder<Sqlite>, sort: KeySort, pos: &KeyPos, seq_col: &str) {
    let op = if sort.descending { " < " } else { " > " };
    match &pos.value {
        SortValue::Created => {
            qb.push(" AND ").push(seq_col).push(op).push_bind(pos.seq);
        }
        SortValue::Name(name) => {
            qb.push(" AND (k.name COLLATE NOCASE, k.seq)")
                .push(op)
                .push("(")
                .push_bind(name.clone())
                .push(", ")
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
                .push(", ")
                .push_bind(pos.seq)
                .push(")");
        }
    }
}

fn push_order(qb: &mut QueryBuilder<Sqlite>, sort: KeySort, seq_col: &str) {
    let dir = if sort.descending { " DESC" } else { " ASC" };
    qb.push(" ORDER BY ");
    if sort.field != KeySortField::Created {
        qb.push(sort_expr(sort.field)).push(dir).push(", ");
    }
    qb.push(seq_col).push(dir);
}

/// `<a> AND <b> …`, or `1` for none.
fn push_all(qb: &mut QueryBuilder<Sqlite>, terms: &[Term]) {
    if terms.is_empty() {
        qb.push("1");
    }
    for (i, c) in terms.iter().enumerate() {
        if i > 0 {
            qb.push(" AND ");
        }
        c.push(qb);
    }
}

/// `SELECT <what> FROM … WHERE <org, live, driver terms, position> ORDER BY … LIMIT n`: the rows
/// the driver yields, with `hit` (the residual) computed on each.
fn push_scan(
    qb: &mut QueryBuilder<Sqlite>,
    what: &str,
    org_id: &str,
    driver: &Driver,
    residual: &[Term],
    order: Option<(KeySort, Option<&KeyPos>)>,
    n: u32,
) {
    match (order, driver) {
        (Some((sort, Some(pos))), Driver::Index { .. }) if sort.field != KeySortField::Created => {
            qb.push("SELECT * FROM (SELECT * FROM (");
            push_one(qb, what, org_id, driver, residual, order, Part::Ties, n);
            qb.push(") UNION ALL SELECT * FROM (");
            push_one(
                qb,
                what,
                org_id,
                driver,
                residual,
                Some((sort, Some(pos))),
                Part::Beyond,
                n,
            );
            qb.push(")) LIMIT ").push_bind(i64::from(n));
        }
        _ => push_one(qb, what, org_id, driver, residual, order, Part::Whole, n),
    }
}

/// One scan of [`push_scan`].
#[allow(clippy::too_many_arguments)]
fn push_one(
    qb: &mut QueryBuilder<Sqlite>,
    what: &str,
    org_id: &str,
    driver: &Driver,
    residual: &[Term],
    order: Option<(KeySort, Option<&KeyPos>)>,
    part: Part,
    n: u32,
) {
    qb.push("SELECT ").push(what).push(", (");
    push_all(qb, residual);
    qb.push(") AS hit FROM ");
    let seq_col = match driver {
        Driver::Index { index, terms } => {
            qb.push("keys AS k INDEXED BY ").push(*index);
            qb.push(" WHERE k.org_id = ")
                .push_bind(org_id.to_owned())
                .push(" AND k.deleted_at IS NULL");
            for t in terms {
                qb.push(" AND ");
                t.push(qb);
            }
            "k.seq"
        }
        Driver::Fts(phrase) => {
            // `keys_q` holds no deleted key. When the organization is all the residual,
            // `keys_org_seq` tells another organization's match without a table read. When
            // another residual term has a list index, that index is looked up instead (one
            // seek in a small index, which also holds the other list columns, migration
            // 0012): a match it lacks is not this organization's or fails that term, and the
            // null row it leaves fails the organization term. Otherwise the row is read
            // once, by rowid.
            let indexed = residual
                .iter()
                .find_map(|c| c.creation_index().map(|index| (index, c)));
            if residual.iter().all(|c| matches!(c, Term::Org(_))) {
                qb.push("keys_q AS f LEFT JOIN keys AS k INDEXED BY keys_org_seq ON k.org_id = ")
                    .push_bind(org_id.to_owned())
                    .push(" AND k.seq = f.rowid");
            } else if let Some((index, term)) = indexed {
                qb.push("keys_q AS f LEFT JOIN keys AS k INDEXED BY ")
                    .push(index)
                    .push(" ON k.org_id = ")
                    .push_bind(org_id.to_owned())
                    .push(" AND k.seq = f.rowid AND k.deleted_at IS NULL AND ");
                term.push(qb);
            } else {
                qb.push("keys_q AS f CROSS JOIN keys AS k ON k.seq = f.rowid");
            }
            qb.push(" WHERE keys_q MATCH ").push_bind(phrase.clone());
            "f.rowid"
        }
        Driver::FtsSorted(phrase) => {
            qb.push(
                "keys AS k NOT INDEXED WHERE k.seq IN (SELECT rowid FROM keys_q WHERE keys_q MATCH ",
            )
            .push_bind(phrase.clone())
            .push(") AND k.org_id = ")
            .push_bind(org_id.to_owned())
            .push(" AND k.deleted_at IS NULL");
            "k.seq"
        }
    };
    if let Some((sort, after)) = order {
        if let Some(pos) = after {
            push_part(qb, sort, pos, seq_col, part);
        }
        push_order(qb, sort, seq_col);
    }
    qb.push(" LIMIT ").push_bind(i64::from(n));
}

/// Pick the creation-order driver: the first term with an index (the rest is residual).
fn creation_driver(mut terms: Vec<Term>) -> (Driver, Vec<Term>) {
    match terms.iter().position(|c| c.creation_index().is_some()) {
        Some(i) => {
            let t = terms.remove(i);
            let index = t.creation_index().unwrap_or("keys_list_live");
            (
                Driver::Index {
                    index,
                    terms: vec![t],
                },
                terms,
            )
        }
        None => (
            Driver::Index {
                index: "keys_list_live",
                terms: Vec::new(),
            },
            terms,
        ),
    }
}

/// The trigram phrase, when `q` is long enough for the index: `q` ASCII-lowercased, as
/// the index holds names and ids.
fn trigram(f: &KeyFilter) -> Option<String> {
    f.q.as_deref()
        .filter(|q| q.chars().count() >= TRIGRAM_MIN_CHARS)
        .map(|q| fts_phrase(&q.to_ascii_lowercase()))
}

/// The terms without `q` (which the trigram index answers exactly).
fn without_q(mut terms: Vec<Term>) -> Vec<Term> {
    terms.retain(|c| !matches!(c, Term::Q(_)));
    terms
}

/// The residual of a walk along the trigram index: the other terms and the organization.
fn fts_residual(org_id: &str, terms: Vec<Term>) -> Vec<Term> {
    let mut terms = without_q(terms);
    terms.push(Term::Org(org_id.to_owned()));
    terms
}

/// The driver and residual for counting (independent of the sort).
fn count_plan(org_id: &str, f: &KeyFilter, terms: Vec<Term>) -> (Driver, Vec<Term>) {
    if let Some(phrase) = trigram(f) {
        return (Driver::Fts(phrase), fts_residual(org_id, terms));
    }
    // `expiring` and `expired` count a range on either side of now, unless an owner or app
    // narrows the keys first.
    let narrowed = terms
        .iter()
        .any(|c| matches!(c, Term::Owner(_) | Term::App(_)));
    let range = terms
        .iter()
        .position(|c| matches!(c, Term::ExpiresAfter(_) | Term::ExpiresBy(_)));
    if let Some(i) = range
        && !narrowed
    {
        let mut rest = terms;
        let range = rest.remove(i);
        rest.retain(|c| *c != Term::EnabledWithExpiry);
        return (
            Driver::Index {
                index: "keys_count_expiry",
                terms: vec![Term::EnabledWithExpiry, range],
            },
            rest,
        );
    }
    creation_driver(terms)
}

fn pos_of(sort: KeySort, seq: i64, k: &RowSort) -> KeyPos {
    let value = match sort.field {
        KeySortField::Created => SortValue::Created,
        KeySortField::Name => SortValue::Name(k.name.clone()),
        KeySortField::LastUsed => SortValue::Time(k.last_used_at),
        KeySortField::Expires => SortValue::Time(k.expires_at),
    };
    KeyPos { sort, value, seq }
}

/// The sort values of a row.
struct RowSort {
    name: String,
    last_used_at: Option<i64>,
    expires_at: Option<i64>,
}

fn row_sort(r: &SqliteRow) -> StoreResult<(i64, RowSort)> {
    Ok((
        get(r, "seq")?,
        RowSort {
            name: get(r, "name")?,
            last_used_at: get(r, "last_used_at")?,
            expires_at: get(r, "expires_at")?,
        },
    ))
}

impl SqliteStore {
    /// The same store with list pages examining at most `rows` rows instead of
    /// [`SCAN_BUDGET`](crate::storage::SCAN_BUDGET): lets tests reach short pages and lower-bound totals with few keys.
    pub fn with_scan_budget(mut self, rows: u32) -> SqliteStore {
        self.scan_budget = rows.max(1);
        self
    }

    async fn count_keys(
        &self,
        org_id: &str,
        f: &KeyFilter,
        terms: Vec<Term>,
    ) -> StoreResult<(KeyTotal, bool)> {
        let (driver, residual) = count_plan(org_id, f, terms);
        let n = if residual.is_empty() {
            u32::try_from(TOTAL_CAP + 1).unwrap_or(u32::MAX)
        } else {
            self.scan_budget
        };
        let mut qb = QueryBuilder::<Sqlite>::new(
            "SELECT count(*) AS examined, ifnull(sum(hit), 0) AS hits FROM (",
        );
        push_scan(&mut qb, "1", org_id, &driver, &residual, None, n);
        qb.push(")");
        let row = qb.build().fetch_one(&self.reader).await.map_err(map_err)?;
        let examined = u64::try_from(get::<i64>(&row, "examined")?).unwrap_or(0);
        let hits = u64::try_from(get::<i64>(&row, "hits")?).unwrap_or(0);
        let total = if residual.is_empty() {
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
        // Whether the driver's candidates were all examined.
        Ok((total, examined < u64::from(n)))
    }

    /// [`crate::storage::KeyStore::list_keys`].
    pub(super) async fn list_keys_page(
        &self,
        org_id: &str,
        f: &KeyFilter,
        now: DateTime<Utc>,
        page: &KeyPageReq,
    ) -> StoreResult<KeyPage> {
        let terms = terms(f, now);
        let (total, all_counted) = self.count_keys(org_id, f, terms.clone()).await?;
        let sort = page.sort;
        let (driver, residual) = match (trigram(f), sort.field) {
            (Some(phrase), KeySortField::Created) => {
                (Driver::Fts(phrase), fts_residual(org_id, terms))
            }
            // Few matches: sort them. Many: walk the sort's index, testing each.
            (Some(phrase), _) if all_counted => (Driver::FtsSorted(phrase), without_q(terms)),
            (_, KeySortField::Created) => creation_driver(terms),
            (_, field) => (
                Driver::Index {
                    index: sort_index(field),
                    terms: Vec::new(),
                },
                terms,
            ),
        };
        if let Some(pos) = &page.after
            && pos.sort != sort
        {
            return Err(StoreError::Other(
                "a position of another sort (the server checks cursors)".to_owned(),
            ));
        }
        let after = page.after.as_ref();
        // The walk yields only `seq` and `hit` (from the index alone where it covers the
        // residual); the table rows are read for the matches only.
        let mut qb = QueryBuilder::<Sqlite>::new("SELECT ");
        qb.push(K_COLUMNS).push(" FROM (");
        push_scan(
            &mut qb,
            "k.seq AS hit_seq",
            org_id,
            &driver,
            &residual,
            Some((sort, after)),
            // Without a residual every row matches: a page and one more.
            if residual.is_empty() {
                page.limit + 1
            } else {
                self.scan_budget
            },
        );
        qb.push(") AS w CROSS JOIN keys AS k ON k.seq = w.hit_seq WHERE w.hit LIMIT ")
            .push_bind(i64::from(page.limit) + 1);
        let rows = qb.build().fetch_all(&self.reader).await.map_err(map_err)?;
        let mut items = Vec::with_capacity(rows.len());
        let mut last = None;
        for r in &rows {
            items.push(key_from_row(r)?);
            last = Some(row_sort(r)?);
            if items.len() == page.limit as usize {
                break;
            }
        }
        let next = if rows.len() > page.limit as usize {
            last.map(|(seq, k)| pos_of(sort, seq, &k))
        } else if residual.is_empty() {
            None
        } else {
            // A short page: did the scan stop at its budget? Then continue after the last
            // row it examined.
            let mut qb =
                QueryBuilder::<Sqlite>::new("SELECT seq, name, last_used_at, expires_at FROM (");
            let what = match driver {
                // Creation order: the position is the rowid alone (the row may be another
                // organization's).
                Driver::Fts(_) => {
                    "f.rowid AS seq, '' AS name, NULL AS last_used_at, NULL AS expires_at"
                }
                // Also the seq alone, from the index (no table read per row skipped).
                _ if sort.field == KeySortField::Created => {
                    "k.seq AS seq, '' AS name, NULL AS last_used_at, NULL AS expires_at"
                }
                _ => {
                    "k.seq AS seq, k.name AS name, k.last_used_at AS last_used_at, \
                     k.expires_at AS expires_at"
                }
            };
            push_scan(
                &mut qb,
                what,
                org_id,
                &driver,
                &[],
                Some((sort, after)),
                self.scan_budget,
            );
            qb.push(") LIMIT 1 OFFSET ")
                .push_bind(i64::from(self.scan_budget) - 1);
            let row = qb
                .build()
                .fetch_optional(&self.reader)
                .await
                .map_err(map_err)?;
            row.as_ref()
                .map(row_sort)
                .transpose()?
                .map(|(seq, k)| pos_of(sort, seq, &k))
        };
        Ok(KeyPage { items, next, total })
    }

    /// [`crate::storage::KeyStore::import_keys`]: multi-row `INSERT`s of [`IMPORT_ROWS`]
    /// keys (one prepared statement, reused), all in one transaction. The trigram index is
    /// filled by one statement at the end (`bulk_import` tells its trigger to leave it), and
    /// the writer's page cache is large while the import runs (the secondary indexes take
    /// keys in random order).
    pub(super) async fn import_key_rows(&self, keys: &[KeyRecord]) -> StoreResult<()> {
        let mut tx = self.begin().await?;
        let r = async {
            sqlx::query(IMPORT_CACHE)
                .execute(tx.conn())
                .await
                .map_err(map_err)?;
            sqlx::query("INSERT INTO bulk_import (id) VALUES (1)")
                .execute(tx.conn())
                .await
                .map_err(map_err)?;
            let before: i64 = get(
                &sqlx::query("SELECT ifnull(max(seq), 0) AS seq FROM keys")
                    .fetch_one(tx.conn())
                    .await
                    .map_err(map_err)?,
                "seq",
            )?;
            for chunk in keys.chunks(IMPORT_ROWS) {
                let mut qb = QueryBuilder::<Sqlite>::new(
                    "INSERT INTO keys (id, org_id, name, env, app_id, scopes, allowed_domains, \
                     enabled, secret_hash, secret_hint, created_at, updated_at, expires_at, \
                     last_used_at, rotated_from, rotated_to, version, owner, description, \
                     leaked_at) ",
                );
                qb.push_values(chunk, |mut b, k| {
                    b.push_bind(k.id.clone())
                        .push_bind(k.org_id.clone())
                        .push_bind(k.name.clone())
                        .push_bind(k.env.as_str())
                        .push_bind(k.app_id.clone())
                        .push_bind(json_list(k.scopes.iter()))
                        .push_bind(json_list(k.allowed_domains.iter()))
                        .push_bind(i64::from(k.enabled))
                        .push_bind(k.secret_hash.0.to_vec())
                        .push_bind(k.secret_hint.clone())
                        .push_bind(ms(k.created_at))
                        .push_bind(ms(k.updated_at))
                        .push_bind(k.expires_at.map(ms))
                        .push_bind(k.last_used_at.map(ms))
                        .push_bind(k.rotated_from.clone())
                        .push_bind(k.rotated_to.clone())
                        .push_bind(k.version)
                        .push_bind(k.owner.clone())
                        .push_bind(k.description.clone())
                        .push_bind(k.leaked_at.map(ms));
                });
                qb.build().execute(tx.conn()).await.map_err(map_err)?;
            }
            sqlx::query(
                "INSERT INTO keys_q (rowid, name_lc, id_lc) \
                 SELECT seq, lower(name), lower(id) FROM keys \
                 WHERE seq > ? AND deleted_at IS NULL",
            )
            .bind(before)
            .execute(tx.conn())
            .await
            .map_err(map_err)?;
            sqlx::query("DELETE FROM bulk_import")
                .execute(tx.conn())
                .await
                .map_err(map_err)?;
            Ok(())
        }
        .await;
        let r = tx.end(r, |_| true).await;
        // Back to the default cache whatever happened (the writer connection is kept).
        if let Ok(mut conn) = self.writer.acquire().await {
            let _ = sqlx::query(DEFAULT_CACHE).execute(&mut *conn).await;
        }
        r
    }

    /// [`crate::storage::KeyStore::cursor_secret`].
    pub(super) async fn stored_cursor_secret(&self) -> StoreResult<[u8; 32]> {
        let row = sqlx::query("SELECT secret FROM cursor_secret WHERE id = 1")
            .fetch_optional(&self.reader)
            .await
            .map_err(map_err)?
            .ok_or_else(|| StoreError::Corrupt("the cursor secret is missing".to_owned()))?;
        let secret: Vec<u8> = row.try_get("secret").map_err(map_err)?;
        secret
            .try_into()
            .map_err(|_| StoreError::Corrupt("the cursor secret is not 32 bytes".to_owned()))
    }
}
