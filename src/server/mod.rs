//! The key service over HTTP (API.md). [`router`] builds the axum app with its OpenAPI
//! document generated from the same handler annotations; [`serve`] runs it on a bound
//! listener until a shutdown future resolves, then flushes batched usage.
//!
//! Handlers are thin: the [`auth::Caller`] extractor authenticates (cache → store →
//! `domain::authorize`), the handler validates with domain rules, calls the store, and
//! invalidates the cache before answering.

pub mod auth;
pub mod bootstrap;
pub mod cache;
pub mod client_addr;
pub mod clock;
pub mod conn;
pub mod error;
pub mod events;
pub mod extract;
pub mod feed;
pub mod github;
pub mod jwks;
pub mod log_writer;
pub mod middleware;
pub mod routes;
pub mod session;
pub mod usage;

use std::future::Future;
use std::ops::Deref;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use tokio::net::TcpListener;

use crate::api::MAX_BODY_BYTES;
use crate::domain::key::{Env, SecretPrefix};
use crate::domain::scope::Catalog;
use crate::storage::KeyStore;
use auth::Limiter;
use cache::{AppOrgs, KeyCache};
use client_addr::TrustedProxies;
use clock::{Clock, SystemClock};
use usage::UsageRecorder;

/// Deployment settings.
#[derive(Debug, Clone)]
pub struct ServerConfig {
    /// Secret prefix (`sk` by default).
    pub secret_prefix: SecretPrefix,
    /// Accept only keys of this environment.
    pub accept_env: Option<Env>,
    /// Failed authentications allowed per client address per minute before 429 (0 = off).
    pub failed_auth_limit: u32,
    /// How often batched usage is written (at most one second).
    pub flush_interval: Duration,
    /// How long a cached key is trusted without a database read.
    pub cache_ttl: Duration,
    /// Most keys the verification cache holds ([`cache::KeyCache`]; a quarter of that of
    /// unknown secrets and of unknown public keys). Default
    /// [`cache::DEFAULT_KEY_CAPACITY`] (100,000): about 1.2 KB a key, so about 120 MB full;
    /// size it by that figure (more for keys with long descriptions or many domains).
    pub key_cache_capacity: usize,
    /// The scope catalog.
    pub catalog: Catalog,
    /// How long a shutdown waits for in-flight requests before writing usage and returning.
    pub shutdown_grace: Duration,
    /// Most connections open at once (see [`conn`]); `None` derives it from the open-files
    /// limit when `serve` starts ([`conn::default_max_connections`]).
    pub max_connections: Option<usize>,
    /// Time a client has to send a whole request head.
    pub header_read_timeout: Duration,
    /// Time a keep-alive connection may wait for its next request.
    pub idle_timeout: Duration,
    /// Proxies whose forwarding header names the client (none: the peer is the client).
    pub trusted_proxies: TrustedProxies,
    /// Session tokens (`--jwks`, `--jwt-issuer`, …), checked and loaded at start; `None`
    /// when sessions are off.
    pub sessions: Option<session::SessionSettings>,
    /// GitHub's secret scanning keys (`--github-scanning-keys`); `None`: the endpoint is
    /// off (404).
    pub github_scanning: Option<Arc<github::GithubKeys>>,
    /// What a leak GitHub reports does to the key (`--leak-policy`, default disable).
    pub leak_policy: crate::api::LeakAction,
    /// How long cached keys keep verifying while the database cannot be reached
    /// (`--offline-grace`, default 5 min; zero refuses at once). See [`feed`].
    pub offline_grace: Duration,
}

impl ServerConfig {
    /// The connection layer's limits, deriving the cap from the open-files limit if unset.
    pub fn conn_limits(&self) -> conn::ConnLimits {
        conn::ConnLimits {
            max_connections: self
                .max_connections
                .unwrap_or_else(|| conn::default_max_connections(conn::open_files().soft)),
            header_read_timeout: self.header_read_timeout,
            idle_timeout: self.idle_timeout,
        }
    }
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            secret_prefix: SecretPrefix::default(),
            accept_env: None,
            failed_auth_limit: 100,
            flush_interval: Duration::from_secs(1),
            cache_ttl: Duration::from_secs(30),
            key_cache_capacity: cache::DEFAULT_KEY_CAPACITY,
            catalog: Catalog::default_catalog(),
            shutdown_grace: Duration::from_secs(10),
            max_connections: None,
            header_read_timeout: Duration::from_secs(5),
            idle_timeout: Duration::from_secs(60),
            trusted_proxies: TrustedProxies::default(),
            sessions: None,
            github_scanning: None,
            leak_policy: crate::api::LeakAction::Disable,
            offline_grace: feed::DEFAULT_OFFLINE_GRACE,
        }
    }
}

/// Shared state of the service.
pub struct Inner {
    /// Persistence.
    pub store: Arc<dyn KeyStore>,
    /// The verification cache.
    pub cache: KeyCache,
    /// App → org, for checking `x-app-id` without a database read.
    pub apps: AppOrgs,
    /// Batched usage writer.
    pub usage: UsageRecorder,
    /// Settings.
    pub config: ServerConfig,
    /// Time source.
    pub clock: Arc<dyn Clock>,
    /// Failed-auth limiter.
    pub limiter: Limiter,
    /// Session tokens (`serve --jwks …`); `None` when sessions are off. Its JWKS refresher
    /// runs while this lives.
    pub sessions: Option<Arc<session::SessionVerifier>>,
    /// The change feed: what this instance has heard of other instances' changes.
    pub feed: feed::Feed,
    /// Seals list cursors; its secret is read from the database on first use.
    pub cursors: tokio::sync::OnceCell<routes::cursor::Sealer>,
}

/// Cheap-to-clone handle on [`Inner`].
#[derive(Clone)]
pub struct AppState(Arc<Inner>);

impl Deref for AppState {
    type Target = Inner;
    fn deref(&self) -> &Inner {
        &self.0
    }
}

impl AppState {
    /// State on the system clock. Starts the usage flusher, so call inside a tokio runtime.
    pub fn new(store: Arc<dyn KeyStore>, config: ServerConfig) -> AppState {
        AppState::with_clock(store, config, Arc::new(SystemClock))
    }

    /// State on a given clock (tests move a manual one).
    pub fn with_clock(
        store: Arc<dyn KeyStore>,
        config: ServerConfig,
        clock: Arc<dyn Clock>,
    ) -> AppState {
        let usage = UsageRecorder::start(
            Arc::clone(&store),
            Arc::clone(&clock),
            config.flush_interval.min(Duration::from_secs(1)),
        );
        let sessions = config.sessions.as_ref().map(|settings| {
            let v =
                session::SessionVerifier::new(settings, config.catalog.clone(), Arc::clone(&clock));
            // Ends on its own once the verifier is dropped.
            drop(v.spawn_refresher());
            Arc::new(v)
        });
        AppState(Arc::new(Inner {
            sessions,
            cache: KeyCache::new(config.cache_ttl, config.key_cache_capacity),
            apps: AppOrgs::new(100_000),
            limiter: Limiter::new(config.failed_auth_limit),
            feed: feed::Feed::new(clock.now(), config.offline_grace),
            store,
            usage,
            config,
            clock,
            cursors: tokio::sync::OnceCell::new(),
        }))
    }

    /// Fill `buf` from the OS random number generator.
    pub fn random(&self, buf: &mut [u8]) {
        os_random(buf);
    }

    /// Write all batched usage now.
    pub async fn flush_usage(&self) -> Result<(), usage::FlushError> {
        self.usage.flush().await
    }
}

/// Fill `buf` from the OS RNG. The OS RNG does not fail on a running Linux system; if it
/// ever did, issuing predictable secrets would be worse than stopping.
pub fn os_random(buf: &mut [u8]) {
    #[allow(clippy::expect_used)]
    getrandom::fill(buf).expect("the OS random number generator failed");
}

/// The whole HTTP app.
pub fn router(state: AppState) -> Router {
    let (api, openapi) = routes::api_router().split_for_parts();
    let doc = routes::document(&openapi, &state.config.catalog);
    api.merge(routes::misc::doc_router(doc))
        .fallback(routes::misc::no_route)
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            middleware::request_layer,
        ))
        .with_state(state)
}

/// Why `serve` failed.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    /// The HTTP server failed.
    #[error("server error: {0}")]
    Io(#[from] std::io::Error),
    /// Usage could not be written at shutdown; it is lost.
    #[error("could not write batched usage at shutdown, so it is lost: {0}")]
    Flush(usage::FlushError),
}

/// Serve on a bound listener until `shutdown` resolves; then finish in-flight requests (for
/// at most `config.shutdown_grace`; requests still running then are abandoned) and write all
/// batched usage before returning.
pub async fn serve(
    listener: TcpListener,
    state: AppState,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), ServeError> {
    let app = router(state.clone());
    let (signalled, mut on_signal) = tokio::sync::oneshot::channel::<()>();
    let shutdown = async move {
        shutdown.await;
        let _ = signalled.send(());
    };
    let limits = state.config.conn_limits();
    let open_files = conn::open_files().soft;
    if !conn::cap_fits(limits.max_connections, open_files) {
        tracing::warn!(
            max_connections = limits.max_connections,
            open_files_limit = open_files,
            "the connection cap leaves too few file descriptors for the database and answers; \
             accept may fail with \"too many open files\" (it then backs off and sheds idle connections)"
        );
    }
    tracing::info!(
        max_connections = limits.max_connections,
        header_read_timeout_seconds = limits.header_read_timeout.as_secs_f64(),
        idle_timeout_seconds = limits.idle_timeout.as_secs_f64(),
        "connection limits"
    );
    let feed = tokio::spawn(feed::run(state.clone()));
    let server = conn::run(listener, app, limits, shutdown);
    tokio::pin!(server);
    tokio::select! {
        done = &mut server => done?,
        Ok(()) = &mut on_signal => {
            let grace = state.config.shutdown_grace;
            match tokio::time::timeout(grace, &mut server).await {
                Ok(done) => done?,
                Err(_) => tracing::warn!(
                    grace_seconds = grace.as_secs_f64(),
                    "requests still running after the shutdown grace period; abandoning them"
                ),
            }
        }
    }
    feed.abort();
    // Its heartbeats end with it (dropping the feed aborts them): wait for that first.
    let _ = feed.await;
    // Leave the instance list now: an acknowledgement must not wait for this one.
    if let Err(e) = state.store.forget_instance(state.feed.id()).await {
        tracing::warn!(error = %e, "could not leave the instance list; it ages out in 30 s");
    }
    // The last chance to write what is batched: a few tries, for a lock held elsewhere or
    // space being freed right now; then one line says what is lost.
    let mut last = Ok(());
    for attempt in 0..5 {
        if attempt > 0 {
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        last = state.flush_usage().await;
        if last.is_ok() {
            break;
        }
    }
    last.map_err(ServeError::Flush)
}
