//! `keyconsole db copy`: a whole deployment from one database into another, SQLite to
//! PostgreSQL or back (or SQLite to SQLite, PostgreSQL to PostgreSQL).
//!
//! Both schemas have the same tables and columns (see the migrations), so a row is copied
//! column by column, converting only what the engines store differently (SQLite's 0/1 for
//! PostgreSQL's booleans, integer widths). Secret hashes are copied as stored, so every
//! existing secret keeps working; `seq` is kept, so lists and their order are the same on
//! the copy, and the cursor secret is copied too, so cursors a client holds keep working.
//!
//! The source is read in one snapshot (a read transaction); the target is written in one
//! transaction and only when it is empty, so a failed copy leaves an empty target to retry
//! into and never mixes two deployments.

use sqlx::pool::PoolConnection;
use sqlx::{Postgres, QueryBuilder, Row, Sqlite};

use super::postgres::PgStore;
use super::sqlite::SqliteStore;
use super::{IfMissing, Retention, StoreError, StoreResult, postgres, redact_url, sqlite};

/// How a column is stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    /// Text, maybe NULL.
    Text,
    /// 64-bit integer, maybe NULL.
    Int,
    /// PostgreSQL INTEGER (SQLite INTEGER).
    Int4,
    /// PostgreSQL BOOLEAN (SQLite 0/1).
    Bool,
    /// BYTEA / BLOB.
    Bytes,
}

use Kind::{Bool, Bytes, Int, Int4, Text};

/// A table: its name, columns, and the order its rows are read and written in.
struct Table {
    name: &'static str,
    columns: &'static [(&'static str, Kind)],
    order: &'static str,
    /// Whether `seq` is an identity whose sequence must follow the copied values.
    seq: bool,
}

/// Tables whose one row every database's migrations make (so they do not count as content
/// of the target): the target's row is replaced by the source's.
const REPLACED: &[Table] = &[Table {
    name: "cursor_secret",
    columns: &[("id", Int4), ("secret", Bytes)],
    order: "id",
    seq: false,
}];

/// Every table a deployment has, parents first (foreign keys hold at every insert).
const TABLES: &[Table] = &[
    Table {
        name: "orgs",
        columns: &[
            ("seq", Int),
            ("id", Text),
            ("name", Text),
            ("created_at", Int),
        ],
        order: "seq",
        seq: true,
    },
    Table {
        name: "apps",
        columns: &[
            ("seq", Int),
            ("id", Text),
            ("org_id", Text),
            ("name", Text),
            ("created_at", Int),
        ],
        order: "seq",
        seq: true,
    },
    Table {
        name: "keys",
        columns: &[
            ("seq", Int),
            ("id", Text),
            ("org_id", Text),
            ("name", Text),
            ("env", Text),
            ("app_id", Text),
            ("scopes", Text),
            ("allowed_domains", Text),
            ("enabled", Bool),
            ("secret_hash", Bytes),
            ("secret_hint", Text),
            ("created_at", Int),
            ("updated_at", Int),
            ("expires_at", Int),
            ("last_used_at", Int),
            ("rotated_from", Text),
            ("rotated_to", Text),
            ("version", Int),
            ("deleted_at", Int),
            ("owner", Text),
            ("description", Text),
            ("leaked_at", Int),
        ],
        order: "seq",
        seq: true,
    },
    Table {
        name: "usage",
        columns: &[
            ("key_id", Text),
            ("org_id", Text),
            ("bucket", Text),
            ("start", Int),
            ("ok", Int),
            ("unauthorized", Int),
            ("forbidden", Int),
            ("rate_limited", Int),
        ],
        order: "key_id, bucket, start",
        seq: false,
    },
    Table {
        name: "auth_events",
        columns: &[
            ("seq", Int),
            ("request_id", Text),
            ("org_id", Text),
            ("at", Int),
            ("key_id", Text),
            ("code", Text),
            ("status", Int4),
            ("method", Text),
            ("path", Text),
            ("ip", Text),
            ("origin", Text),
            ("app_id", Text),
            ("count", Int),
            ("user_sub", Text),
            ("required_scopes", Text),
        ],
        order: "seq",
        seq: true,
    },
    Table {
        name: "audit",
        columns: &[
            ("seq", Int),
            ("id", Text),
            ("org_id", Text),
            ("at", Int),
            ("actor_key_id", Text),
            ("actor_type", Text),
            ("actor_id", Text),
            ("actor_name", Text),
            ("action", Text),
            ("key_id", Text),
            ("changes", Text),
        ],
        order: "seq",
        seq: true,
    },
    Table {
        name: "leak_sightings",
        columns: &[
            ("seq", Int),
            ("key_id", Text),
            ("org_id", Text),
            ("at", Int),
            ("source", Text),
            ("actor_type", Text),
            ("actor_id", Text),
        ],
        order: "seq",
        seq: true,
    },
    Table {
        name: "scope_usage",
        columns: &[
            ("key_id", Text),
            ("org_id", Text),
            ("day", Int),
            ("scope", Text),
            ("requests", Int),
            ("last_used_at", Int),
        ],
        order: "key_id, day, scope",
        seq: false,
    },
];

/// Rows read and written per round trip.
const CHUNK: usize = 500;

/// One stored value.
#[derive(Debug, Clone)]
enum Value {
    Text(Option<String>),
    Int(Option<i64>),
    Bool(bool),
    Bytes(Vec<u8>),
}

/// An open database of either engine.
enum Db {
    Sqlite(SqliteStore),
    Pg(PgStore),
}

/// One connection in a transaction of either engine.
enum Conn {
    Sqlite(PoolConnection<Sqlite>),
    Pg(PoolConnection<Postgres>),
}

/// Rows copied per table, in copy order.
pub type Counts = Vec<(&'static str, u64)>;

async fn open(url: &str, if_missing: IfMissing) -> StoreResult<Db> {
    if url.starts_with("sqlite:") {
        Ok(Db::Sqlite(
            SqliteStore::open(url, Retention::default(), if_missing).await?,
        ))
    } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        Ok(Db::Pg(
            PgStore::open(url, Retention::default(), if_missing).await?,
        ))
    } else {
        Err(StoreError::Open(format!(
            "unsupported database URL scheme in `{}`: use sqlite://<path> or postgres://…",
            redact_url(url)
        )))
    }
}

impl Db {
    /// A connection with a transaction open: a read snapshot, or the one write.
    async fn begin(&self, write: bool) -> StoreResult<Conn> {
        match self {
            Db::Sqlite(s) => {
                let pool = if write {
                    s.writer_pool()
                } else {
                    s.reader_pool()
                };
                let mut c = pool.acquire().await.map_err(sqlite::map_err)?;
                let begin = if write { "BEGIN IMMEDIATE" } else { "BEGIN" };
                sqlx::raw_sql(begin)
                    .execute(&mut *c)
                    .await
                    .map_err(sqlite::map_err)?;
                Ok(Conn::Sqlite(c))
            }
            Db::Pg(p) => {
                let mut c = p.pool().acquire().await.map_err(postgres::map_err)?;
                let begin = if write {
                    "BEGIN"
                } else {
                    "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY"
                };
                sqlx::raw_sql(begin)
                    .execute(&mut *c)
                    .await
                    .map_err(postgres::map_err)?;
                Ok(Conn::Pg(c))
            }
        }
    }

    async fn close(&self) {
        match self {
            Db::Sqlite(s) => s.close().await,
            Db::Pg(p) => p.close().await,
        }
    }
}

fn select_sql(t: &Table, offset: usize) -> String {
    let cols: Vec<&str> = t.columns.iter().map(|(c, _)| *c).collect();
    format!(
        "SELECT {} FROM {} ORDER BY {} LIMIT {CHUNK} OFFSET {offset}",
        cols.join(", "),
        t.name,
        t.order
    )
}

impl Conn {
    async fn count(&mut self, table: &str) -> StoreResult<u64> {
        let sql = sqlx::AssertSqlSafe(format!("SELECT COUNT(*) AS n FROM {table}"));
        let n: i64 = match self {
            Conn::Sqlite(c) => sqlx::query(sql)
                .fetch_one(&mut **c)
                .await
                .and_then(|r| r.try_get("n"))
                .map_err(sqlite::map_err)?,
            Conn::Pg(c) => sqlx::query(sql)
                .fetch_one(&mut **c)
                .await
                .and_then(|r| r.try_get("n"))
                .map_err(postgres::map_err)?,
        };
        Ok(u64::try_from(n).unwrap_or(0))
    }

    async fn read(&mut self, t: &Table, offset: usize) -> StoreResult<Vec<Vec<Value>>> {
        let sql = sqlx::AssertSqlSafe(select_sql(t, offset));
        match self {
            Conn::Sqlite(c) => {
                let rows = sqlx::query(sql)
                    .fetch_all(&mut **c)
                    .await
                    .map_err(sqlite::map_err)?;
                rows.iter()
                    .map(|r| {
                        t.columns
                            .iter()
                            .map(|(name, kind)| {
                                let name = *name;
                                Ok(match kind {
                                    Text => Value::Text(r.try_get(name)?),
                                    Int | Int4 => Value::Int(r.try_get(name)?),
                                    Bool => Value::Bool(r.try_get::<i64, _>(name)? != 0),
                                    Bytes => Value::Bytes(r.try_get(name)?),
                                })
                            })
                            .collect::<Result<Vec<_>, sqlx::Error>>()
                            .map_err(sqlite::map_err)
                    })
                    .collect()
            }
            Conn::Pg(c) => {
                let rows = sqlx::query(sql)
                    .fetch_all(&mut **c)
                    .await
                    .map_err(postgres::map_err)?;
                rows.iter()
                    .map(|r| {
                        t.columns
                            .iter()
                            .map(|(name, kind)| {
                                let name = *name;
                                Ok(match kind {
                                    Text => Value::Text(r.try_get(name)?),
                                    Int => Value::Int(r.try_get(name)?),
                                    Int4 => Value::Int(
                                        r.try_get::<Option<i32>, _>(name)?.map(i64::from),
                                    ),
                                    Bool => Value::Bool(r.try_get(name)?),
                                    Bytes => Value::Bytes(r.try_get(name)?),
                                })
                            })
                            .collect::<Result<Vec<_>, sqlx::Error>>()
                            .map_err(postgres::map_err)
                    })
                    .collect()
            }
        }
    }

    async fn write(&mut self, t: &Table, rows: &[Vec<Value>]) -> StoreResult<()> {
        if rows.is_empty() {
            return Ok(());
        }
        let cols: Vec<&str> = t.columns.iter().map(|(c, _)| *c).collect();
        let head = format!("INSERT INTO {} ({}) ", t.name, cols.join(", "));
        match self {
            Conn::Sqlite(c) => {
                let mut qb = QueryBuilder::<Sqlite>::new(head);
                qb.push_values(rows, |mut b, row| {
                    for v in row {
                        match v.clone() {
                            Value::Text(s) => b.push_bind(s),
                            Value::Int(i) => b.push_bind(i),
                            Value::Bool(x) => b.push_bind(i64::from(x)),
                            Value::Bytes(x) => b.push_bind(x),
                        };
                    }
                });
                qb.build()
                    .execute(&mut **c)
                    .await
                    .map_err(sqlite::map_err)?;
            }
            Conn::Pg(c) => {
                let mut qb = QueryBuilder::<Postgres>::new(head);
                qb.push_values(rows, |mut b, row| {
                    for (v, (_, kind)) in row.iter().zip(t.columns) {
                        match (v.clone(), kind) {
                            (Value::Int(i), Int4) => {
                                b.push_bind(i.map(|i| i32::try_from(i).unwrap_or(i32::MAX)))
                            }
                            (Value::Text(s), _) => b.push_bind(s),
                            (Value::Int(i), _) => b.push_bind(i),
                            (Value::Bool(x), _) => b.push_bind(x),
                            (Value::Bytes(x), _) => b.push_bind(x),
                        };
                    }
                });
                qb.build()
                    .execute(&mut **c)
                    .await
                    .map_err(postgres::map_err)?;
            }
        }
        Ok(())
    }

    /// After explicit `seq` values: the identity continues above them (PostgreSQL; SQLite's
    /// AUTOINCREMENT follows inserted values by itself).
    async fn clear(&mut self, table: &str) -> StoreResult<()> {
        let sql = sqlx::AssertSqlSafe(format!("DELETE FROM {table}"));
        match self {
            Conn::Sqlite(c) => sqlx::query(sql)
                .execute(&mut **c)
                .await
                .map(|_| ())
                .map_err(sqlite::map_err),
            Conn::Pg(c) => sqlx::query(sql)
                .execute(&mut **c)
                .await
                .map(|_| ())
                .map_err(postgres::map_err),
        }
    }

    async fn follow_seq(&mut self, t: &Table) -> StoreResult<()> {
        if let (Conn::Pg(c), true) = (&mut *self, t.seq) {
            let sql = format!(
                "SELECT setval(pg_get_serial_sequence('{0}', 'seq'), \
                 COALESCE((SELECT MAX(seq) FROM {0}), 0) + 1, false)",
                t.name
            );
            sqlx::query(sqlx::AssertSqlSafe(sql))
                .execute(&mut **c)
                .await
                .map_err(postgres::map_err)?;
        }
        Ok(())
    }

    async fn finish(&mut self, commit: bool) -> StoreResult<()> {
        let sql = if commit { "COMMIT" } else { "ROLLBACK" };
        match self {
            Conn::Sqlite(c) => sqlx::raw_sql(sql)
                .execute(&mut **c)
                .await
                .map(|_| ())
                .map_err(sqlite::map_err),
            Conn::Pg(c) => sqlx::raw_sql(sql)
                .execute(&mut **c)
                .await
                .map(|_| ())
                .map_err(postgres::map_err),
        }
    }
}

/// What went wrong with a copy.
#[derive(Debug, thiserror::Error)]
pub enum CopyError {
    /// The target already holds data.
    #[error(
        "the target database is not empty ({0}): db copy writes only into an empty database; \
         give --to a new database (nothing was written)"
    )]
    NotEmpty(String),
    /// Either database failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Copy everything from `from` into the empty database `to` (created if missing), calling
/// `progress(table, rows done, rows in table)` as it goes. Returns the rows copied per table.
pub async fn copy(
    from: &str,
    to: &str,
    progress: &mut dyn FnMut(&str, u64, u64),
) -> Result<Counts, CopyError> {
    let source = open(from, IfMissing::Refuse).await?;
    let target = open(to, IfMissing::Create).await?;
    let r = copy_between(&source, &target, progress).await;
    source.close().await;
    target.close().await;
    r
}

async fn copy_between(
    source: &Db,
    target: &Db,
    progress: &mut dyn FnMut(&str, u64, u64),
) -> Result<Counts, CopyError> {
    let mut out = target.begin(true).await?;
    let mut present = Vec::new();
    for t in TABLES {
        let n = out.count(t.name).await?;
        if n > 0 {
            present.push(format!("{n} rows in {}", t.name));
        }
    }
    if !present.is_empty() {
        out.finish(false).await?;
        return Err(CopyError::NotEmpty(present.join(", ")));
    }
    let mut input = source.begin(false).await?;
    let r = async {
        let mut counts = Vec::new();
        for t in REPLACED {
            out.clear(t.name).await?;
        }
        for t in TABLES.iter().chain(REPLACED) {
            let total = input.count(t.name).await?;
            let mut done = 0u64;
            progress(t.name, 0, total);
            loop {
                let rows = input
                    .read(t, usize::try_from(done).unwrap_or(usize::MAX))
                    .await?;
                if rows.is_empty() {
                    break;
                }
                out.write(t, &rows).await?;
                done += rows.len() as u64;
                progress(t.name, done, total);
                if rows.len() < CHUNK {
                    break;
                }
            }
            out.follow_seq(t).await?;
            counts.push((t.name, done));
        }
        Ok::<_, StoreError>(counts)
    }
    .await;
    let _ = input.finish(false).await;
    match r {
        Ok(counts) => {
            out.finish(true).await?;
            Ok(counts)
        }
        Err(e) => {
            let _ = out.finish(false).await;
            Err(e.into())
        }
    }
}
