//! A fresh PostgreSQL database per test: `CREATE DATABASE kc_test_<random>` on the server
//! `KEYCONSOLE_TEST_POSTGRES_URL` names, dropped (`WITH (FORCE)`) when the guard goes.
//!
//! Without the variable the PostgreSQL variants skip, saying so on stderr. With it, a server
//! that cannot be reached FAILS the test: CI sets the variable, so a PostgreSQL test never
//! passes by skipping there.

use sqlx::Connection;
use sqlx::postgres::PgConnection;

/// The variable CI sets.
pub const VAR: &str = "KEYCONSOLE_TEST_POSTGRES_URL";

/// The server URL, or `None` (after saying so) when PostgreSQL tests are off.
pub fn server_url(test: &str) -> Option<String> {
    match std::env::var(VAR) {
        Ok(u) if !u.trim().is_empty() => Some(u),
        _ => {
            eprintln!("{test}: skipped on PostgreSQL: {VAR} is not set");
            None
        }
    }
}

/// `url` with its database replaced by `db` (query kept).
pub fn with_database(url: &str, db: &str) -> String {
    let (base, query) = match url.split_once('?') {
        Some((b, q)) => (b, Some(q)),
        None => (url, None),
    };
    let after_scheme = base.find("://").map_or(0, |i| i + 3);
    let base = match base[after_scheme..].find('/') {
        Some(i) => &base[..after_scheme + i],
        None => base,
    };
    match query {
        Some(q) => format!("{base}/{db}?{q}"),
        None => format!("{base}/{db}"),
    }
}

/// A database that exists until this is dropped.
#[derive(Debug)]
pub struct TestDb {
    server: String,
    pub name: String,
    /// `postgres://…/kc_test_…`.
    pub url: String,
}

impl TestDb {
    /// A new empty database on `server` (panics, failing the test, when PostgreSQL cannot
    /// be reached).
    pub async fn create(server: &str) -> TestDb {
        let mut id = [0u8; 8];
        getrandom::fill(&mut id).expect("random");
        let name = format!(
            "kc_test_{}",
            id.iter().map(|b| format!("{b:02x}")).collect::<String>()
        );
        let mut conn = PgConnection::connect(server).await.unwrap_or_else(|e| {
            panic!("{VAR} is set but PostgreSQL cannot be reached at {server}: {e}")
        });
        sqlx::raw_sql(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
            .execute(&mut conn)
            .await
            .expect("create test database");
        let _ = conn.close().await;
        TestDb {
            server: server.to_owned(),
            url: with_database(server, &name),
            name,
        }
    }

    /// [`TestDb::create`] on the configured server, `None` when PostgreSQL tests are off.
    pub async fn fresh(test: &str) -> Option<TestDb> {
        let server = server_url(test)?;
        Some(TestDb::create(&server).await)
    }

    /// Run one statement on the server's maintenance connection (e.g. terminate backends).
    pub async fn admin(&self, sql: &str) {
        let mut conn = PgConnection::connect(&self.server)
            .await
            .expect("admin connection");
        sqlx::raw_sql(sqlx::AssertSqlSafe(sql.to_owned()))
            .execute(&mut conn)
            .await
            .expect("admin statement");
        let _ = conn.close().await;
    }

    /// Run statements in this database.
    pub async fn exec(&self, sql: &str) {
        let mut conn = PgConnection::connect(&self.url)
            .await
            .expect("connect to the test database");
        sqlx::raw_sql(sqlx::AssertSqlSafe(sql.to_owned()))
            .execute(&mut conn)
            .await
            .expect("statement");
        let _ = conn.close().await;
    }

    /// Terminate only the change listeners' connections to this database (the instances'
    /// `LISTEN` backends, found by their `application_name`); returns how many there were.
    pub async fn terminate_listeners(&self) -> i64 {
        let mut conn = PgConnection::connect(&self.server)
            .await
            .expect("admin connection");
        let n: i64 = sqlx::query_scalar(
            "SELECT COUNT(pg_terminate_backend(pid)) FROM pg_stat_activity \
             WHERE datname = $1 AND application_name = $2",
        )
        .bind(&self.name)
        .bind(keyconsole::storage::postgres::LISTENER_APPLICATION)
        .fetch_one(&mut conn)
        .await
        .expect("terminate listeners");
        let _ = conn.close().await;
        n
    }

    /// The pids of the change listeners' connections to this database.
    pub async fn listener_pids(&self) -> Vec<i32> {
        let mut conn = PgConnection::connect(&self.server)
            .await
            .expect("admin connection");
        let pids: Vec<i32> = sqlx::query_scalar(
            "SELECT pid FROM pg_stat_activity WHERE datname = $1 AND application_name = $2",
        )
        .bind(&self.name)
        .bind(keyconsole::storage::postgres::LISTENER_APPLICATION)
        .fetch_all(&mut conn)
        .await
        .expect("listener pids");
        let _ = conn.close().await;
        pids
    }

    /// Terminate every connection to this database (as `pg_terminate_backend` does when a
    /// server restarts or an operator kills sessions).
    pub async fn terminate_connections(&self) {
        self.admin(&format!(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
             WHERE datname = '{}' AND pid <> pg_backend_pid()",
            self.name
        ))
        .await;
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        let server = self.server.clone();
        let name = self.name.clone();
        // Drop may run inside a runtime: use a thread with its own.
        let _ = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("runtime");
            rt.block_on(async {
                if let Ok(mut conn) = PgConnection::connect(&server).await {
                    let _ = sqlx::raw_sql(sqlx::AssertSqlSafe(format!(
                        "DROP DATABASE IF EXISTS {name} WITH (FORCE)"
                    )))
                    .execute(&mut conn)
                    .await;
                    let _ = conn.close().await;
                }
            });
        })
        .join();
    }
}
