//! Command line: clap types for every subcommand and the scriptable commands themselves.
//! Exit codes (API.md §6): 0 success, 1 runtime failure, 2 usage error; every failure is one
//! line on stderr that says what to do.

use std::net::SocketAddr;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use clap::{Args, Parser, Subcommand, ValueEnum};

use crate::api::{
    CreateKeyRequest, KeyObject, LeakAction, ListKeysQuery, OrgCreated, RotateRequest,
    UpdateKeyRequest, VerifyRequest, VerifyResponse,
};
use crate::client::{Client, ClientError};
use crate::domain::key::{Env, Secret, SecretPrefix, is_org_id};
use crate::server::client_addr::{Cidr, ForwardedHeader, TrustedProxies};
use crate::server::clock::{Clock, SystemClock};
use crate::server::github::{self, GithubKeys};
use crate::server::session::{SessionConfigError, SessionFlags, SessionSettings};
use crate::server::{AppState, ServerConfig, bootstrap, serve};
use crate::storage::{self, IfMissing, Retention, StoreError};

pub mod review;
pub mod scan;

/// keyconsole: API keys for your API, and the console to run them.
#[derive(Debug, Parser)]
#[command(name = "keyconsole", version, about, long_about = None)]
pub struct Cli {
    /// Subcommand; none opens the console.
    #[command(subcommand)]
    pub command: Option<Command>,
    /// Connect to this key service instead of the embedded local one (token from
    /// KEYCONSOLE_TOKEN).
    #[arg(long, value_name = "URL")]
    pub url: Option<String>,
    /// Use a profile from the config file (`keyconsole config path` shows where it is).
    #[arg(long, value_name = "NAME")]
    pub profile: Option<String>,
    /// Start the embedded local service empty: the previous local database is moved aside.
    #[arg(long)]
    pub fresh: bool,
    /// Capture the mouse (scroll wheel moves the selection).
    #[arg(long)]
    pub mouse: bool,
}

/// Subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the key service (HTTP API).
    Serve(ServeArgs),
    /// Manage organizations directly in the database.
    Org {
        /// What to do.
        #[command(subcommand)]
        command: OrgCommand,
    },
    /// Work on whole databases.
    Db {
        /// What to do.
        #[command(subcommand)]
        command: DbCommand,
    },
    /// The console's configuration file.
    Config {
        /// What to do.
        #[command(subcommand)]
        command: ConfigCommand,
    },
    /// Manage API keys through the key service (token from KEYCONSOLE_TOKEN or --profile).
    Keys {
        /// Output format: aligned columns, or the API's JSON objects.
        #[arg(
            short = 'o',
            long = "output",
            value_enum,
            default_value = "table",
            global = true
        )]
        output: OutputFormat,
        /// What to do.
        #[command(subcommand)]
        command: KeysCommand,
    },
    /// Ask the key service what it would decide for a credential, step by step
    /// (exit 0 allowed, 1 denied).
    Verify(VerifyArgs),
    /// Check a credential header line offline: no server, no token (exit 0 clean, 1 problems).
    Doctor(DoctorArgs),
    /// Find secrets of our format in files, folders or stdin, offline (exit 0 none, 1 found).
    Scan(scan::ScanArgs),
    /// The organization's access review: leaked, ownerless, stale, rotation-due,
    /// over-privileged, wildcard and never-expiring test keys (exit 0 nothing to act on, 1
    /// findings).
    Review(review::ReviewArgs),
}

/// `keyconsole db …`
#[derive(Debug, Subcommand)]
pub enum DbCommand {
    /// Copy a whole deployment (orgs, apps, keys, usage, auth events, audit, leak sightings,
    /// scope usage) into an empty database: SQLite to PostgreSQL or back. Every secret keeps
    /// working on the copy.
    Copy(DbCopyArgs),
}

/// `keyconsole db copy`
#[derive(Debug, Args)]
pub struct DbCopyArgs {
    /// The database to copy from: `sqlite://<path>` or `postgres://…` (must exist).
    #[arg(long, value_name = "URL")]
    pub from: String,
    /// The empty database to copy into (a missing SQLite file or PostgreSQL database is
    /// created).
    #[arg(long, value_name = "URL")]
    pub to: String,
}

/// `keyconsole config …`
#[derive(Debug, Subcommand)]
pub enum ConfigCommand {
    /// Print where the config file lives (it may not exist yet).
    Path,
}

/// `live` or `test`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum EnvArg {
    /// Production keys.
    Live,
    /// Test keys.
    Test,
}

impl From<EnvArg> for Env {
    fn from(e: EnvArg) -> Env {
        match e {
            EnvArg::Live => Env::Live,
            EnvArg::Test => Env::Test,
        }
    }
}

/// `keyconsole serve`
#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Address to listen on; port 0 picks a free port (the ready line names it).
    #[arg(long, default_value = "127.0.0.1:7878")]
    pub listen: SocketAddr,
    /// `sqlite://<path>` or `postgres://user@host:port/db`: an existing database (see
    /// `--create`).
    #[arg(long, env = "KEYCONSOLE_DATABASE_URL", value_name = "URL")]
    pub database: String,
    /// Create the database if it does not exist (without it, a missing SQLite file is an
    /// error, so a lost data directory never becomes a fresh empty deployment).
    #[arg(long)]
    pub create: bool,
    /// Secret prefix: secrets look like `<prefix>_live_…`.
    #[arg(long, default_value = "sk")]
    pub secret_prefix: String,
    /// Accept only keys of this environment; the other gets `invalid_key`.
    #[arg(long, value_enum)]
    pub accept_env: Option<EnvArg>,
    /// Failed authentications per client address per minute before 429 (0 turns it off).
    #[arg(long, default_value_t = 100)]
    pub failed_auth_limit: u32,
    /// Newest denied-request events kept per organization.
    #[arg(long, default_value_t = 100_000)]
    pub auth_event_retention: u32,
    /// Most connections open at once; at the cap the longest-idle connection is shed, or the
    /// newcomer gets 503 when all are busy (default: the open-files limit less 10%, at least 128).
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..))]
    pub max_connections: Option<u64>,
    /// Time a client has to send a whole request head (`5s`, `1m`).
    #[arg(long, value_name = "DURATION", default_value = "5s", value_parser = positive_duration)]
    pub header_read_timeout: Duration,
    /// Time a keep-alive connection may wait for its next request (`60s`, `2m`).
    #[arg(long, value_name = "DURATION", default_value = "60s", value_parser = positive_duration)]
    pub idle_timeout: Duration,
    /// A reverse proxy's address or network (e.g. 10.0.0.0/8; repeatable): requests from it
    /// are attributed to the client it names in --trusted-proxy-header, for the rate limit,
    /// auth events and logs. Without it the peer address is the client.
    #[arg(long = "trusted-proxy", value_name = "CIDR", num_args = 1.., action = clap::ArgAction::Append)]
    pub trusted_proxy: Vec<Cidr>,
    /// The header the trusted proxies write (only that one is read).
    #[arg(
        long,
        value_enum,
        default_value = "x-forwarded-for",
        requires = "trusted_proxy"
    )]
    pub trusted_proxy_header: ProxyHeaderArg,
    /// Session tokens (JWT).
    #[command(flatten)]
    pub sessions: SessionArgs,
    /// GitHub's secret scanning public keys: a file path or an https URL (GitHub publishes
    /// them at https://api.github.com/meta/public_keys/secret_scanning). Turns on
    /// POST /v1/secret-scanning/github.
    #[arg(long, value_name = "PATH|URL", help_heading = "Leaks")]
    pub github_scanning_keys: Option<String>,
    /// What a leak GitHub reports does to the key: disable it, or only report it.
    #[arg(long, value_enum, default_value = "disable", help_heading = "Leaks")]
    pub leak_policy: LeakPolicyArg,
    /// While the database cannot be reached, keys this instance has cached keep verifying
    /// this long past what it last knew of them (`5m`, `30s`; `0` refuses at once); keys it
    /// has not cached get 503, and /readyz is 503 meanwhile.
    #[arg(long, value_name = "DURATION", default_value = "5m", value_parser = any_duration)]
    pub offline_grace: Duration,
}

/// `--leak-policy`
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LeakPolicyArg {
    /// Disable the key (and record the leak).
    Disable,
    /// Record the leak; the key keeps working.
    Report,
}

fn any_duration(s: &str) -> Result<Duration, String> {
    parse_duration(s)
        .map(Duration::from_secs)
        .ok_or_else(|| "use a duration such as 0, 30s, 5m or 1h".to_owned())
}

fn positive_duration(s: &str) -> Result<Duration, String> {
    match parse_duration(s) {
        Some(secs) if secs > 0 => Ok(Duration::from_secs(secs)),
        _ => Err("use a positive duration such as 5s, 2m or 1h".to_owned()),
    }
}

/// `--trusted-proxy-header`
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ProxyHeaderArg {
    /// `X-Forwarded-For: client, proxy1, …`
    XForwardedFor,
    /// RFC 7239 `Forwarded: for=client, for=proxy1, …`
    Forwarded,
}

impl From<ProxyHeaderArg> for ForwardedHeader {
    fn from(h: ProxyHeaderArg) -> ForwardedHeader {
        match h {
            ProxyHeaderArg::XForwardedFor => ForwardedHeader::XForwardedFor,
            ProxyHeaderArg::Forwarded => ForwardedHeader::Forwarded,
        }
    }
}

/// `serve`'s session flags (API.md §8).
#[derive(Debug, Args)]
#[command(next_help_heading = "Sessions (JWT)")]
pub struct SessionArgs {
    /// The identity provider's JWKS: a file path or an https URL. Turns sessions on.
    #[arg(long, value_name = "PATH|URL")]
    pub jwks: Option<String>,
    /// The exact `iss` session tokens must carry (required with --jwks).
    #[arg(long, value_name = "ISS")]
    pub jwt_issuer: Option<String>,
    /// An audience the tokens' `aud` must contain.
    #[arg(long, value_name = "AUD")]
    pub jwt_audience: Option<String>,
    /// The claim holding the organization id [default: org_id].
    #[arg(long, value_name = "CLAIM")]
    pub jwt_org_claim: Option<String>,
}

impl SessionArgs {
    /// Check the flags and load the JWKS: `None` when sessions are off.
    pub async fn load(&self) -> Result<Option<SessionSettings>, CliError> {
        let flags = SessionFlags {
            jwks: self.jwks.clone(),
            issuer: self.jwt_issuer.clone(),
            audience: self.jwt_audience.clone(),
            org_claim: self.jwt_org_claim.clone(),
        };
        let settings =
            SessionSettings::load(&flags, &SystemClock, crate::server::jwks::FETCH_TIMEOUT)
                .await
                .map_err(|e| match e {
                    SessionConfigError::Usage(m) => CliError::Usage(m),
                    SessionConfigError::Unreachable(m) => CliError::Runtime(m),
                })?;
        if let Some(s) = &settings {
            tracing::info!(
                jwks = %s.source,
                kids = ?s.keys.kids(),
                skipped = ?s.keys.skipped(),
                issuer = %s.policy.issuer,
                audience = ?s.policy.audience,
                org_claim = %s.policy.org_claim,
                "sessions on: Bearer JWTs are accepted"
            );
        }
        Ok(settings)
    }
}

/// `keyconsole org …`
#[derive(Debug, Subcommand)]
pub enum OrgCommand {
    /// Create an organization and its owner key (scopes `*`); prints the secret once.
    Create(OrgCreateArgs),
    /// Break-glass for whoever holds the database: a new owner key (scopes `*`) for an
    /// existing organization, e.g. one whose last owner key is gone; prints the secret once.
    Recover(OrgRecoverArgs),
}

/// `keyconsole org recover`
#[derive(Debug, Args)]
pub struct OrgRecoverArgs {
    /// The organization's id (`org_…`).
    pub org_id: String,
    /// `sqlite://<path>` of the existing database.
    #[arg(long, env = "KEYCONSOLE_DATABASE_URL", value_name = "URL")]
    pub database: String,
    /// The new owner key.
    #[command(flatten)]
    pub owner: OwnerKeyArgs,
}

/// The owner key `org create` and `org recover` make, and how it is printed.
#[derive(Debug, Args)]
pub struct OwnerKeyArgs {
    /// Print the key-create response plus `org` as JSON.
    #[arg(long)]
    pub json: bool,
    /// Environment of the owner key.
    #[arg(long, value_enum, default_value = "live")]
    pub env: EnvArg,
    /// Secret prefix (must match the service's `--secret-prefix`).
    #[arg(long, default_value = "sk")]
    pub secret_prefix: String,
}

/// `keyconsole org create`
#[derive(Debug, Args)]
pub struct OrgCreateArgs {
    /// Organization name.
    pub name: String,
    /// `sqlite://<path>` (created if missing).
    #[arg(long, env = "KEYCONSOLE_DATABASE_URL", value_name = "URL")]
    pub database: String,
    /// The owner key.
    #[command(flatten)]
    pub owner: OwnerKeyArgs,
}

/// A failure with its exit code.
#[derive(Debug, thiserror::Error)]
pub enum CliError {
    /// Exit 2: the invocation or its environment is wrong.
    #[error("{0}")]
    Usage(String),
    /// Exit 1: something failed while running.
    #[error("{0}")]
    Runtime(String),
}

impl CliError {
    /// The process exit code.
    pub fn exit_code(&self) -> ExitCode {
        match self {
            CliError::Usage(_) => ExitCode::from(2),
            CliError::Runtime(_) => ExitCode::from(1),
        }
    }
}

/// Parse arguments; clap's own errors become one line and exit 2 (`--help` and `--version`
/// print as usual and exit 0).
pub fn parse() -> Result<Cli, ExitCode> {
    match Cli::try_parse() {
        Ok(c) => Ok(c),
        Err(e) if !e.use_stderr() => {
            let _ = e.print();
            Err(ExitCode::SUCCESS)
        }
        Err(e) => {
            let line = one_line_clap_error(&e.to_string());
            eprintln!("keyconsole: {}", redact_secret_shapes(&line));
            Err(ExitCode::from(2))
        }
    }
}

/// Fold clap's multi-line error into one line, keeping what it says is wrong and the hint.
pub fn one_line_clap_error(text: &str) -> String {
    let mut parts: Vec<String> = Vec::new();
    let mut help = None;
    for line in text.lines() {
        let l = line.trim();
        if l.is_empty() || l.starts_with("Usage:") {
            continue;
        }
        if l.starts_with("For more information") {
            help = Some(l.trim_end_matches('.').to_owned());
            continue;
        }
        parts.push(l.to_owned());
    }
    let mut out = parts.join(" ");
    if let Some(h) = help {
        out.push_str(" (");
        out.push_str(&h.replace("For more information, try", "try"));
        out.push(')');
    }
    out
}

fn store_error(e: StoreError) -> CliError {
    match e {
        StoreError::Missing(path) => CliError::Usage(format!(
            "the database {path} does not exist; `serve` opens only an existing database: check --database, restore the file, or pass --create to start a new, empty one"
        )),
        StoreError::Open(m) => CliError::Usage(format!(
            "cannot open the database: {m}; check the --database URL (sqlite://<path> or postgres://…) and, for SQLite, that its directory exists and is writable"
        )),
        other => CliError::Runtime(format!("database error: {other}")),
    }
}

fn prefix(s: &str) -> Result<SecretPrefix, CliError> {
    SecretPrefix::new(s).map_err(|e| CliError::Usage(format!("--secret-prefix: {e}")))
}

/// Load `--github-scanning-keys` once; a wrong path, URL or document is a usage error, an
/// unreachable URL a runtime one.
async fn load_github_keys(arg: &str) -> Result<Arc<GithubKeys>, CliError> {
    let clock: Arc<dyn Clock> = Arc::new(SystemClock);
    let now = clock.now();
    match github::load(arg, clock, now).await {
        Ok(keys) => {
            tracing::info!(
                source = %keys.source(),
                keys = ?crate::server::jwks::KeyDocument::ids(keys.current().as_ref()),
                "GitHub secret scanning keys loaded"
            );
            Ok(keys)
        }
        Err(e) if e.is_configuration() => Err(CliError::Usage(format!(
            "--github-scanning-keys: {e}; pass the path of a file with GitHub's published \
             keys ({{\"public_keys\": [...]}}) or their https URL"
        ))),
        Err(e) => Err(CliError::Runtime(format!(
            "--github-scanning-keys: {e}; check the network and the URL, then start again"
        ))),
    }
}

/// Run `serve` until SIGTERM or ctrl-c; exits 0 after flushing usage.
pub async fn run_serve(args: ServeArgs) -> Result<(), CliError> {
    let config = ServerConfig {
        secret_prefix: prefix(&args.secret_prefix)?,
        accept_env: args.accept_env.map(Env::from),
        failed_auth_limit: args.failed_auth_limit,
        max_connections: args
            .max_connections
            .map(|n| usize::try_from(n).unwrap_or(usize::MAX)),
        header_read_timeout: args.header_read_timeout,
        idle_timeout: args.idle_timeout,
        trusted_proxies: TrustedProxies::new(
            args.trusted_proxy.clone(),
            args.trusted_proxy_header.into(),
        ),
        sessions: args.sessions.load().await?,
        github_scanning: match &args.github_scanning_keys {
            Some(arg) => Some(load_github_keys(arg).await?),
            None => None,
        },
        leak_policy: match args.leak_policy {
            LeakPolicyArg::Disable => LeakAction::Disable,
            LeakPolicyArg::Report => LeakAction::Report,
        },
        offline_grace: args.offline_grace,
        ..ServerConfig::default()
    };
    raise_open_files_limit();
    let retention = Retention {
        auth_events_per_org: args.auth_event_retention.max(1),
        ..Retention::default()
    };
    let if_missing = if args.create {
        IfMissing::Create
    } else {
        IfMissing::Refuse
    };
    let store = storage::open(&args.database, retention, if_missing)
        .await
        .map_err(store_error)?;
    let listener = tokio::net::TcpListener::bind(args.listen)
        .await
        .map_err(|e| {
            CliError::Usage(format!(
                "cannot listen on {}: {e}; pick another --listen address (port 0 picks a free one)",
                args.listen
            ))
        })?;
    let addr = listener
        .local_addr()
        .map_err(|e| CliError::Runtime(e.to_string()))?;
    if let Some(notice) = scan::default_prefix_notice(addr, &config.secret_prefix) {
        say(&notice);
    }
    let state = AppState::new(store, config);
    let shutdown = shutdown_signal();
    // Scripts wait for this line: print it whatever the log filter says.
    say(&format!("keyconsole serve: listening on http://{addr}"));
    tracing::info!(
        database = %storage::redact_url(&args.database),
        %addr,
        "keyconsole serve: ready"
    );
    serve(listener, state, shutdown)
        .await
        .map_err(|e| CliError::Runtime(e.to_string()))?;
    tracing::info!("keyconsole serve: stopped; usage flushed");
    Ok(())
}

/// Raise the soft open-files limit to the hard one, so the connection cap (derived from it)
/// is as high as the system allows. A failure is logged; `serve` goes on with the limit it has.
fn raise_open_files_limit() {
    let show = |l: Option<u64>| l.map_or_else(|| "unlimited".to_owned(), |n| n.to_string());
    match crate::server::conn::raise_open_files_limit() {
        Ok((before, after)) if before.soft != after.soft => tracing::info!(
            from = %show(before.soft),
            to = %show(after.soft),
            "raised the open-files limit"
        ),
        Ok((_, now)) => {
            tracing::debug!(limit = %show(now.soft), "open-files limit already at its hard limit")
        }
        Err(e) => tracing::warn!(
            error = %e,
            "could not raise the open-files limit; the connection cap is derived from the current one"
        ),
    }
}

/// A future that resolves on ctrl-c (SIGINT) or SIGTERM, and never otherwise: a signal that
/// cannot be listened for is logged and waited on forever (the other one still works).
///
/// The handlers are installed when this is called, not when the future is first polled, so
/// a signal sent right after the ready line is not lost. Call it inside the runtime.
pub fn shutdown_signal() -> impl std::future::Future<Output = ()> + Send + 'static {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        let listen = |kind: SignalKind, name: &'static str| match signal(kind) {
            Ok(s) => Some(s),
            Err(e) => {
                tracing::warn!(error = %e, "cannot listen for {name}; stop the service with the other signal");
                None
            }
        };
        let int = listen(SignalKind::interrupt(), "ctrl-c");
        let term = listen(SignalKind::terminate(), "SIGTERM");
        async move {
            let wait = |s: Option<tokio::signal::unix::Signal>| async move {
                let received = match s {
                    Some(mut s) => s.recv().await.is_some(),
                    None => false,
                };
                // `recv` gives `None` only if the signal driver is gone: that is no signal.
                if !received {
                    std::future::pending::<()>().await;
                }
            };
            tokio::select! {
                () = wait(int) => {},
                () = wait(term) => {},
            }
        }
    }
    #[cfg(not(unix))]
    {
        async {
            if let Err(e) = tokio::signal::ctrl_c().await {
                tracing::warn!(error = %e, "cannot listen for ctrl-c");
                std::future::pending::<()>().await;
            }
        }
    }
}

/// Run `org create`.
pub async fn run_org_create(args: OrgCreateArgs) -> Result<(), CliError> {
    let name = args.name.trim();
    if name.is_empty() || name.chars().count() > 100 {
        return Err(CliError::Usage(
            "the organization name must be 1-100 characters".to_owned(),
        ));
    }
    let prefix = prefix(&args.owner.secret_prefix)?;
    let store = storage::open(&args.database, Retention::default(), IfMissing::Create)
        .await
        .map_err(store_error)?;
    let created = bootstrap::create_org_with_owner(
        &store,
        name,
        "Owner",
        args.owner.env.into(),
        &prefix,
        SystemClock.now(),
    )
    .await
    .map_err(store_error)?;
    print_owner(&created, args.owner.json, "Created organization")
}

/// Print a new owner key as `org create` and `org recover` do: the JSON body, or a block
/// that says the secret is shown once.
fn print_owner(created: &OrgCreated, json: bool, headline: &str) -> Result<(), CliError> {
    if json {
        let text =
            serde_json::to_string_pretty(created).map_err(|e| CliError::Runtime(e.to_string()))?;
        println!("{text}");
    } else {
        println!("{headline} {} ({})", created.org.name, created.org.id);
        println!("Owner key {} with scopes *", created.key.id);
        println!();
        println!("Secret (shown once; store it now, it cannot be shown again):");
        println!("  {}", created.secret.expose());
        println!();
        println!(
            "Use it as: Authorization: Bearer <secret>  (or export KEYCONSOLE_TOKEN=<secret>)"
        );
    }
    Ok(())
}

/// The file behind a `sqlite:` URL (`None` for an in-memory database).
fn sqlite_file(url: &str) -> Option<std::path::PathBuf> {
    let rest = url
        .strip_prefix("sqlite://")
        .or_else(|| url.strip_prefix("sqlite:"))?;
    let path = rest.split('?').next().unwrap_or(rest);
    (!path.is_empty() && path != ":memory:").then(|| std::path::PathBuf::from(path))
}

/// Run `org recover`: only on an existing database and organization.
pub async fn run_org_recover(args: OrgRecoverArgs) -> Result<(), CliError> {
    if !is_org_id(&args.org_id) {
        return Err(CliError::Usage(
            "the organization id must be `org_` and 16 letters or digits (see `org create`'s output or GET /v1/me)".to_owned(),
        ));
    }
    let prefix = prefix(&args.owner.secret_prefix)?;
    if let Some(path) = sqlite_file(&args.database)
        && !path.exists()
    {
        return Err(CliError::Usage(format!(
            "there is no database at {}; org recover needs the existing database: check --database",
            path.display()
        )));
    }
    let store = storage::open(&args.database, Retention::default(), IfMissing::Refuse)
        .await
        .map_err(store_error)?;
    let recovered = bootstrap::recover_owner(
        &store,
        &args.org_id,
        args.owner.env.into(),
        &prefix,
        SystemClock.now(),
    )
    .await
    .map_err(store_error)?
    .ok_or_else(|| {
        CliError::Runtime(format!(
            "there is no organization {} in this database; check the id and --database",
            args.org_id
        ))
    })?;
    print_owner(&recovered, args.owner.json, "Recovered organization")
}

/// Run `db copy`: progress on stderr when it is a terminal, the counts on stdout.
pub async fn run_db_copy(args: DbCopyArgs) -> Result<(), CliError> {
    use std::io::{IsTerminal, Write};
    if args.from == args.to {
        return Err(CliError::Usage(
            "--from and --to name the same database; give --to a new, empty one".to_owned(),
        ));
    }
    if let Some(path) = sqlite_file(&args.from)
        && !path.exists()
    {
        return Err(CliError::Usage(format!(
            "there is no database at {}; check --from",
            path.display()
        )));
    }
    let tty = std::io::stderr().is_terminal();
    let mut shown = String::new();
    let mut progress = |table: &str, done: u64, total: u64| {
        if tty {
            let line = format!("copying {table}: {done} of {total}");
            eprint!("\r\x1b[2K{line}");
            let _ = std::io::stderr().flush();
            shown = line;
        }
    };
    let r = storage::copy::copy(&args.from, &args.to, &mut progress).await;
    if tty && !shown.is_empty() {
        eprint!("\r\x1b[2K");
    }
    let counts = r.map_err(|e| match e {
        storage::copy::CopyError::NotEmpty(_) => CliError::Usage(e.to_string()),
        storage::copy::CopyError::Store(StoreError::Missing(db)) => {
            CliError::Usage(format!("the database {db} does not exist; check --from"))
        }
        storage::copy::CopyError::Store(StoreError::Open(m)) => CliError::Usage(format!(
            "cannot open a database: {m}; check --from and --to"
        )),
        storage::copy::CopyError::Store(s) => {
            CliError::Runtime(format!("the copy failed and nothing was written: {s}"))
        }
    })?;
    println!(
        "Copied {} to {}:",
        storage::redact_url(&args.from),
        storage::redact_url(&args.to)
    );
    for (table, n) in counts {
        println!("  {table:<15} {n}");
    }
    Ok(())
}

/// Dispatch a parsed command line.
pub async fn run(cli: Cli) -> Result<(), CliError> {
    match cli.command {
        Some(Command::Serve(a)) => run_serve(a).await,
        Some(Command::Org {
            command: OrgCommand::Create(a),
        }) => run_org_create(a).await,
        Some(Command::Org {
            command: OrgCommand::Recover(a),
        }) => run_org_recover(a).await,
        Some(Command::Db {
            command: DbCommand::Copy(a),
        }) => run_db_copy(a).await,
        Some(Command::Config {
            command: ConfigCommand::Path,
        }) => {
            let p = crate::config::config_path().map_err(|e| CliError::Usage(e.to_string()))?;
            println!("{}", p.display());
            Ok(())
        }
        Some(Command::Keys { output, command }) => {
            run_keys(cli.url.as_deref(), cli.profile.as_deref(), output, command).await
        }
        Some(Command::Verify(a)) => run_verify(cli.url.as_deref(), cli.profile.as_deref(), a).await,
        Some(Command::Doctor(a)) => run_doctor(a),
        Some(Command::Scan(a)) => scan::run(cli.url.as_deref(), cli.profile.as_deref(), a).await,
        Some(Command::Review(a)) => {
            review::run(cli.url.as_deref(), cli.profile.as_deref(), a).await
        }
        None => {
            crate::console::run(crate::console::ConsoleArgs {
                url: cli.url,
                profile: cli.profile,
                fresh: cli.fresh,
                mouse: cli.mouse,
            })
            .await
        }
    }
}

/// A line on stderr that may fail quietly (`eprintln!` panics when stderr refuses the
/// write, as a log file on a full disk does: that must not stop `serve`).
pub fn say(line: &str) {
    use std::io::Write as _;
    let _ = writeln!(std::io::stderr(), "{line}");
}

/// Where logs go: `serve` to stderr; the console to a file in the data dir (never the
/// terminal it draws on); other commands to stderr, warnings only.
///
/// For `serve` the lines go through [`crate::server::log_writer`] (a bounded queue and one
/// writer thread); the returned guard writes what is queued when dropped, so `main` holds
/// it until the process exits.
pub fn init_logging(cli: &Cli) -> Option<crate::server::log_writer::LogFlush> {
    use tracing_subscriber::EnvFilter;
    let filter = |default: &str| {
        EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default))
    };
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr())
        && std::env::var_os("NO_COLOR").is_none();
    match &cli.command {
        Some(Command::Serve(_)) => {
            use crate::server::log_writer::{LogQueue, QUEUE_LINES};
            let builder = tracing_subscriber::fmt()
                .with_env_filter(filter("info"))
                .with_ansi(ansi)
                .event_format(crate::server::log_writer::LineFormat { ansi });
            match LogQueue::start(std::io::stderr(), QUEUE_LINES) {
                Some((queue, flush)) => {
                    let _ = builder.with_writer(queue).try_init();
                    return Some(flush);
                }
                None => {
                    let _ = builder.with_writer(std::io::stderr).try_init();
                }
            }
        }
        None => {
            let file = crate::config::data_dir().ok().and_then(|dir| {
                crate::console::ensure_data_dir(&dir).ok()?;
                let path = dir.join("keyconsole.log");
                let f = std::fs::OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(&path)
                    .ok()?;
                #[cfg(unix)]
                {
                    use std::os::unix::fs::PermissionsExt;
                    let _ = std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600));
                }
                Some(f)
            });
            if let Some(f) = file {
                let _ = tracing_subscriber::fmt()
                    .with_env_filter(filter("info"))
                    .with_writer(std::sync::Mutex::new(f))
                    .with_ansi(false)
                    .with_target(false)
                    .try_init();
            }
        }
        Some(_) => {
            let _ = tracing_subscriber::fmt()
                .with_env_filter(filter("warn"))
                .with_writer(std::io::stderr)
                .with_ansi(ansi)
                .with_target(false)
                .try_init();
        }
    }
    None
}

// ---------------------------------------------------------------------------------------
// Commands for scripts: `keys …`, `verify`, `doctor`.
// ---------------------------------------------------------------------------------------

/// Where the scriptable commands connect when neither `--url` nor a profile says otherwise.
pub const DEFAULT_URL: &str = "http://127.0.0.1:7878";

/// How command output is printed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, ValueEnum)]
pub enum OutputFormat {
    /// Aligned columns for people.
    #[default]
    Table,
    /// The API's JSON objects, for scripts.
    Json,
}

/// A key's derived status, as a filter.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum StatusArg {
    /// Works.
    Active,
    /// Turned off by hand.
    Disabled,
    /// Works until a future expiry.
    Expiring,
    /// Past its expiry.
    Expired,
}

impl StatusArg {
    fn as_str(self) -> &'static str {
        match self {
            StatusArg::Active => "active",
            StatusArg::Disabled => "disabled",
            StatusArg::Expiring => "expiring",
            StatusArg::Expired => "expired",
        }
    }
}

/// `keyconsole keys …`
#[derive(Debug, Subcommand)]
pub enum KeysCommand {
    /// List keys, newest first.
    List(KeysListArgs),
    /// Show one key.
    Get {
        /// The key's id (`pk_…`).
        id: String,
    },
    /// Create a key; prints its secret once.
    Create(KeysCreateArgs),
    /// Change a key's name, scopes, allowed domains or expiry.
    Update(KeysUpdateArgs),
    /// Turn a key back on.
    Enable {
        /// The key's id (`pk_…`).
        id: String,
    },
    /// Turn a key off; it is refused until enabled again.
    Disable {
        /// The key's id (`pk_…`).
        id: String,
    },
    /// Delete a key; it stops working at once.
    Delete {
        /// The key's id (`pk_…`).
        id: String,
        /// Do not ask to type the key name (required when stdin is not a terminal).
        #[arg(long)]
        yes: bool,
    },
    /// Replace a key by a new one with the same settings; prints the new secret once.
    Rotate {
        /// The key's id (`pk_…`).
        id: String,
        /// How long the old key keeps working: `0` (default), `3600s`, `30m`, `24h`, `7d`
        /// (at most 30 days).
        #[arg(long, value_name = "DURATION")]
        grace: Option<String>,
    },
}

/// `keyconsole keys list`
#[derive(Debug, Args)]
pub struct KeysListArgs {
    /// Only keys whose name or id contains this text.
    #[arg(long, value_name = "TEXT")]
    pub q: Option<String>,
    /// Only keys with this status.
    #[arg(long, value_enum)]
    pub status: Option<StatusArg>,
    /// Only keys of this environment.
    #[arg(long, value_enum)]
    pub env: Option<EnvArg>,
    /// Only keys bound to this app (`app_…`).
    #[arg(long, value_name = "APP_ID")]
    pub app: Option<String>,
    /// Only keys whose scopes grant this scope (wildcards count).
    #[arg(long, value_name = "SCOPE")]
    pub scope: Option<String>,
    /// Page size, 1-500 (default 50; 500 with --all).
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..=500))]
    pub limit: Option<u32>,
    /// Follow the cursors and list every matching key.
    #[arg(long)]
    pub all: bool,
}

/// `keyconsole keys create`
#[derive(Debug, Args)]
#[command(group(clap::ArgGroup::new("grant").required(true).args(["scope", "preset"])))]
pub struct KeysCreateArgs {
    /// Display name (1-100 characters).
    #[arg(long)]
    pub name: String,
    /// Scopes to grant (repeat, or separate with commas): `runs:read`, `webhooks:*`, `*`.
    #[arg(long, value_name = "SCOPE", value_delimiter = ',', num_args = 1..)]
    pub scope: Vec<String>,
    /// A preset instead of scopes.
    #[arg(long, value_parser = ["full", "read-only"])]
    pub preset: Option<String>,
    /// Allowed Origin hosts for the public key alone (repeat): `example.com`, `*.example.com`.
    #[arg(long, value_name = "HOST", value_delimiter = ',', num_args = 1..)]
    pub domain: Vec<String>,
    /// Bind the key to this app (`app_…`).
    #[arg(long, value_name = "APP_ID")]
    pub app: Option<String>,
    /// Environment (default: the caller's).
    #[arg(long, value_enum)]
    pub env: Option<EnvArg>,
    /// Expiry: an RFC 3339 time, or a duration from now (`30d`, `12h`).
    #[arg(long, value_name = "WHEN")]
    pub expires: Option<String>,
    /// Who owns the key: a team, a person, an address (at most 200 characters).
    #[arg(long, value_name = "TEXT")]
    pub owner: Option<String>,
    /// What the key is for (at most 500 characters).
    #[arg(long, value_name = "TEXT")]
    pub description: Option<String>,
}

/// `keyconsole keys update`
#[derive(Debug, Args)]
pub struct KeysUpdateArgs {
    /// The key's id (`pk_…`).
    pub id: String,
    /// New name.
    #[arg(long)]
    pub name: Option<String>,
    /// New scopes, replacing the list (repeat, or separate with commas).
    #[arg(long, value_name = "SCOPE", value_delimiter = ',', num_args = 1..)]
    pub scope: Vec<String>,
    /// New allowed domains, replacing the list (repeat, or separate with commas).
    #[arg(long, value_name = "HOST", value_delimiter = ',', num_args = 1.., conflicts_with = "clear_domains")]
    pub domain: Vec<String>,
    /// Remove every allowed domain.
    #[arg(long)]
    pub clear_domains: bool,
    /// New expiry: an RFC 3339 time, or a duration from now (`30d`, `12h`).
    #[arg(long, value_name = "WHEN", conflicts_with = "no_expiry")]
    pub expires: Option<String>,
    /// Remove the expiry.
    #[arg(long)]
    pub no_expiry: bool,
    /// New owner (at most 200 characters); `--owner ''` clears it.
    #[arg(long, value_name = "TEXT")]
    pub owner: Option<String>,
    /// New description (at most 500 characters); `--description ''` clears it.
    #[arg(long, value_name = "TEXT")]
    pub description: Option<String>,
    /// Only update if the key is still at this version (`If-Match`).
    #[arg(long, value_name = "VERSION")]
    pub if_version: Option<i64>,
}

/// `keyconsole verify`
#[derive(Debug, Args)]
pub struct VerifyArgs {
    /// The credential as sent after `Bearer `: a secret, `pk_…:<secret>` or a public key;
    /// `-` reads it from stdin (safer: it stays out of the process list).
    #[arg(long, value_name = "CREDENTIAL", allow_hyphen_values = true)]
    pub credential: String,
    /// The request's `Origin`.
    #[arg(long)]
    pub origin: Option<String>,
    /// The request's `x-app-id`.
    #[arg(long, value_name = "APP_ID")]
    pub app: Option<String>,
    /// A scope the request needs (repeat).
    #[arg(long, value_name = "SCOPE", value_delimiter = ',', num_args = 1..)]
    pub scope: Vec<String>,
    /// Output format.
    #[arg(short = 'o', long = "output", value_enum, default_value = "table")]
    pub output: OutputFormat,
}

/// `keyconsole doctor`
#[derive(Debug, Args)]
pub struct DoctorArgs {
    /// The header line as pasted (`Authorization: Bearer …`, `x-api-key: …`, `Bearer …` or
    /// the key alone); `-` reads it from stdin.
    #[arg(required = true, num_args = 1.., value_name = "LINE")]
    pub line: Vec<String>,
    /// The environment the service accepts (`serve --accept-env`).
    #[arg(long, value_enum)]
    pub server_env: Option<EnvArg>,
    /// The service's secret prefix (`serve --secret-prefix`).
    #[arg(long, default_value = "sk")]
    pub secret_prefix: String,
    /// The request's `Origin`, when the key is used from a browser page.
    #[arg(long)]
    pub origin: Option<String>,
    /// For a session JWT: the issuer the service expects (`serve --jwt-issuer`).
    #[arg(long, value_name = "ISS")]
    pub jwt_issuer: Option<String>,
    /// For a session JWT: the audience the service expects (`serve --jwt-audience`).
    #[arg(long, value_name = "AUD")]
    pub jwt_audience: Option<String>,
    /// Output format.
    #[arg(short = 'o', long = "output", value_enum, default_value = "table")]
    pub output: OutputFormat,
}

/// Mask anything shaped like a key (`<prefix>_live_…`, `<prefix>_test_…`) in a message that
/// may quote the command line.
pub fn redact_secret_shapes(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut word = String::new();
    // Public key ids (`pk_…`) are safe to show; only the secret part of a word is masked,
    // so `pk_live_…:sk_live_…` keeps its public half.
    let part = |p: &str, out: &mut String| {
        let cut = ["_live_", "_test_"]
            .iter()
            .filter_map(|m| p.find(m).map(|i| i + m.len()))
            .min();
        match cut {
            Some(i) if i < p.len() && !p.starts_with("pk_") => {
                out.push_str(&p[..i]);
                out.push_str("[redacted]");
            }
            _ => out.push_str(p),
        }
    };
    let flush = |word: &mut String, out: &mut String| {
        for (i, p) in word.split(':').enumerate() {
            if i > 0 {
                out.push(':');
            }
            part(p, out);
        }
        word.clear();
    };
    for c in text.chars() {
        if c.is_ascii_alphanumeric() || matches!(c, '_' | ':' | '-') {
            word.push(c);
        } else {
            flush(&mut word, &mut out);
            out.push(c);
        }
    }
    flush(&mut word, &mut out);
    out
}

/// Read all of stdin and drop one trailing newline (`\n` or `\r\n`).
fn read_stdin_value(what: &str) -> Result<String, CliError> {
    use std::io::Read;
    let mut text = String::new();
    std::io::stdin()
        .read_to_string(&mut text)
        .map_err(|e| CliError::Usage(format!("cannot read {what} from stdin: {e}")))?;
    if text.ends_with('\n') {
        text.pop();
        if text.ends_with('\r') {
            text.pop();
        }
    }
    Ok(text)
}

/// A client for the scriptable commands: `--profile` (its URL and token, `--url` overriding
/// the URL), else `KEYCONSOLE_TOKEN` with `--url` (default [`DEFAULT_URL`]), else the config's
/// `default_profile`.
fn connect(url: Option<&str>, profile: Option<&str>) -> Result<Client, CliError> {
    use crate::config::{load_default, resolve_token};
    let from_profile = |name: &str, cfg: &crate::config::Config| -> Result<Client, CliError> {
        let p = cfg
            .profile(name)
            .map_err(|e| CliError::Usage(e.to_string()))?;
        let token = resolve_token(name, p).map_err(|e| CliError::Usage(e.to_string()))?;
        Client::new(url.unwrap_or(&p.url), Some(token)).map_err(client_error)
    };
    if let Some(name) = profile {
        let (_, cfg) = load_default().map_err(|e| CliError::Usage(e.to_string()))?;
        return from_profile(name, &cfg);
    }
    let env_token = std::env::var("KEYCONSOLE_TOKEN")
        .ok()
        .map(|t| t.trim().to_owned())
        .filter(|t| !t.is_empty());
    if let Some(t) = env_token {
        return Client::new(url.unwrap_or(DEFAULT_URL), Some(Secret::new(t))).map_err(client_error);
    }
    let no_token = || {
        CliError::Usage(
            "no API token: export KEYCONSOLE_TOKEN=<secret> (with --url for a remote service) or pass --profile <name>"
                .to_owned(),
        )
    };
    if url.is_some() {
        return Err(no_token());
    }
    let (_, cfg) = load_default().map_err(|e| CliError::Usage(e.to_string()))?;
    match cfg.default_profile.clone() {
        Some(name) => from_profile(&name, &cfg),
        None => Err(no_token()),
    }
}

/// A client failure as a one-line CLI error: API errors as `<code> (<status>): <message>
/// [<request id>]` (exit 1).
fn client_error(e: ClientError) -> CliError {
    let one_line = |s: String| s.replace(['\n', '\r'], " ");
    match &e {
        ClientError::Api { body, .. } => {
            CliError::Runtime(one_line(format!("{e} [{}]", body.error.request_id)))
        }
        ClientError::BadUrl(_) | ClientError::NoToken => CliError::Usage(one_line(e.to_string())),
        ClientError::Connect { .. } | ClientError::Timeout { .. } => {
            CliError::Runtime(one_line(format!(
                "{e}; check that the key service is running there (keyconsole serve) or pass --url"
            )))
        }
        _ => CliError::Runtime(one_line(e.to_string())),
    }
}

fn print_json<T: serde::Serialize + ?Sized>(v: &T) -> Result<(), CliError> {
    let text = serde_json::to_string_pretty(v).map_err(|e| CliError::Runtime(e.to_string()))?;
    println!("{text}");
    Ok(())
}

/// Rows as aligned columns, two spaces apart; the last column is not padded.
fn render_table(header: &[&str], rows: &[Vec<String>]) -> String {
    let mut widths: Vec<usize> = header.iter().map(|h| h.chars().count()).collect();
    for row in rows {
        for (i, cell) in row.iter().enumerate() {
            if let Some(w) = widths.get_mut(i) {
                *w = (*w).max(cell.chars().count());
            }
        }
    }
    let line = |cells: Vec<&str>| {
        let mut s = String::new();
        let last = cells.len().saturating_sub(1);
        for (i, cell) in cells.iter().enumerate() {
            s.push_str(cell);
            if i < last {
                let pad = widths[i] - cell.chars().count() + 2;
                s.extend(std::iter::repeat_n(' ', pad));
            }
        }
        s.trim_end().to_owned()
    };
    let mut out = line(header.to_vec());
    for row in rows {
        out.push('\n');
        out.push_str(&line(row.iter().map(String::as_str).collect()));
    }
    out
}

fn fmt_time(t: Option<DateTime<Utc>>) -> String {
    t.map_or_else(
        || "-".to_owned(),
        |t| t.format("%Y-%m-%d %H:%M UTC").to_string(),
    )
}

fn fmt_list(v: &[String]) -> String {
    if v.is_empty() {
        "-".to_owned()
    } else {
        v.join(",")
    }
}

fn key_rows(keys: &[KeyObject]) -> String {
    let rows: Vec<Vec<String>> = keys
        .iter()
        .map(|k| {
            vec![
                k.id.clone(),
                k.name.clone(),
                k.env.to_string(),
                k.status.as_str().to_owned(),
                fmt_list(&k.scopes),
                fmt_time(k.expires_at),
                fmt_time(k.last_used_at),
            ]
        })
        .collect();
    render_table(
        &[
            "ID",
            "NAME",
            "ENV",
            "STATUS",
            "SCOPES",
            "EXPIRES",
            "LAST USED",
        ],
        &rows,
    )
}

fn key_detail(k: &KeyObject) -> String {
    let or_dash = |v: &Option<String>| v.clone().unwrap_or_else(|| "-".to_owned());
    let rows: Vec<Vec<String>> = [
        ("id", k.id.clone()),
        ("name", k.name.clone()),
        ("owner", or_dash(&k.owner)),
        ("description", or_dash(&k.description)),
        ("org", k.org_id.clone()),
        ("env", k.env.to_string()),
        ("app", or_dash(&k.app_id)),
        ("status", k.status.as_str().to_owned()),
        ("enabled", k.enabled.to_string()),
        ("scopes", fmt_list(&k.scopes)),
        ("allowed domains", fmt_list(&k.allowed_domains)),
        ("secret hint", k.secret_hint.clone()),
        ("created", fmt_time(Some(k.created_at))),
        ("updated", fmt_time(Some(k.updated_at))),
        ("expires", fmt_time(k.expires_at)),
        ("last used", fmt_time(k.last_used_at)),
        ("rotated from", or_dash(&k.rotated_from)),
        ("rotated to", or_dash(&k.rotated_to)),
        ("leaked", fmt_time(k.leaked_at)),
        ("version", k.version.to_string()),
    ]
    .into_iter()
    .map(|(a, b)| vec![a.to_owned(), b])
    .collect();
    let table = render_table(&["FIELD", "VALUE"], &rows);
    // Drop the header line: a detail view reads better without it.
    table.lines().skip(1).collect::<Vec<_>>().join("\n")
}

/// `30d`, `12h`, `30m`, `3600s`, `2w` or `0` as seconds.
pub fn parse_duration(s: &str) -> Option<u64> {
    let s = s.trim();
    if s == "0" {
        return Some(0);
    }
    let unit_at = s.find(|c: char| !c.is_ascii_digit())?;
    let (n, unit) = s.split_at(unit_at);
    let n: u64 = n.parse().ok()?;
    let mult = match unit {
        "s" => 1,
        "m" => 60,
        "h" => 3600,
        "d" => 86_400,
        "w" => 604_800,
        _ => return None,
    };
    n.checked_mul(mult)
}

/// An RFC 3339 time, or a duration from `now`.
pub fn parse_when(s: &str, now: DateTime<Utc>) -> Result<DateTime<Utc>, CliError> {
    if let Ok(t) = DateTime::parse_from_rfc3339(s.trim()) {
        return Ok(t.with_timezone(&Utc));
    }
    parse_duration(s)
        .and_then(|secs| i64::try_from(secs).ok())
        .and_then(chrono::TimeDelta::try_seconds)
        .and_then(|d| now.checked_add_signed(d))
        .ok_or_else(|| {
            CliError::Usage(
                "--expires: use an RFC 3339 time (2030-01-31T00:00:00Z) or a duration from now (30d, 12h, 45m)"
                    .to_owned(),
            )
        })
}

fn print_secret_block(title: &str, secret: &Secret, key_id: &str) {
    println!();
    println!("{title} (shown once; store it now, it cannot be shown again):");
    println!("  {}", secret.expose());
    println!();
    println!(
        "Send it as `Authorization: Bearer <secret>` or `x-api-key: <secret>` (or the pair `{key_id}:<secret>`)."
    );
}

/// Run `keyconsole keys …`.
pub async fn run_keys(
    url: Option<&str>,
    profile: Option<&str>,
    output: OutputFormat,
    command: KeysCommand,
) -> Result<(), CliError> {
    let json = output == OutputFormat::Json;
    // Refuse an unconfirmable deletion before touching the network.
    if let KeysCommand::Delete { yes: false, id } = &command
        && !std::io::IsTerminal::is_terminal(&std::io::stdin())
    {
        return Err(CliError::Usage(format!(
            "refusing to delete {} without confirmation: stdin is not a terminal; pass --yes",
            redact_secret_shapes(id)
        )));
    }
    let client = connect(url, profile)?;
    match command {
        KeysCommand::List(a) => keys_list(&client, a, json).await,
        KeysCommand::Get { id } => {
            let k = client.get_key(&id).await.map_err(client_error)?;
            if json {
                print_json(&k)
            } else {
                println!("{}", key_detail(&k));
                Ok(())
            }
        }
        KeysCommand::Create(a) => keys_create(&client, a, json).await,
        KeysCommand::Update(a) => keys_update(&client, a, json).await,
        KeysCommand::Enable { id } => keys_set_enabled(&client, &id, true, json).await,
        KeysCommand::Disable { id } => keys_set_enabled(&client, &id, false, json).await,
        KeysCommand::Delete { id, yes } => keys_delete(&client, &id, yes, json).await,
        KeysCommand::Rotate { id, grace } => keys_rotate(&client, &id, grace, json).await,
    }
}

async fn keys_list(client: &Client, a: KeysListArgs, json: bool) -> Result<(), CliError> {
    let mut query = ListKeysQuery {
        limit: a.limit.or(a.all.then_some(crate::api::MAX_LIMIT)),
        q: a.q,
        status: a.status.map(|s| s.as_str().to_owned()),
        env: a.env.map(|e| Env::from(e).as_str().to_owned()),
        app_id: a.app,
        scope: a.scope,
        ..ListKeysQuery::default()
    };
    let mut page = client.list_keys(&query).await.map_err(client_error)?;
    if a.all {
        let mut seen = std::collections::HashSet::new();
        while let Some(cursor) = page.next_cursor.take() {
            if !seen.insert(cursor.clone()) {
                return Err(CliError::Runtime(
                    "the service returned the same cursor twice; stopping".to_owned(),
                ));
            }
            query.cursor = Some(cursor);
            let next = client.list_keys(&query).await.map_err(client_error)?;
            page.data.extend(next.data);
            page.next_cursor = next.next_cursor;
        }
    }
    if json {
        return print_json(&page);
    }
    println!("{}", key_rows(&page.data));
    if page.next_cursor.is_some() {
        let total = page.total.map(|t| format!(" of {t}")).unwrap_or_default();
        eprintln!(
            "keyconsole: showing {}{total} keys; pass --all to list them all",
            page.data.len()
        );
    }
    Ok(())
}

async fn keys_create(client: &Client, a: KeysCreateArgs, json: bool) -> Result<(), CliError> {
    let expires_at = a
        .expires
        .as_deref()
        .map(|s| parse_when(s, Utc::now()))
        .transpose()?;
    let req = CreateKeyRequest {
        name: a.name,
        scopes: (!a.scope.is_empty()).then_some(a.scope),
        preset: a.preset,
        allowed_domains: (!a.domain.is_empty()).then_some(a.domain),
        app_id: a.app,
        env: a.env.map(Env::from),
        expires_at,
        owner: a.owner,
        description: a.description,
    };
    let created = client.create_key(&req).await.map_err(client_error)?;
    if json {
        return print_json(&created);
    }
    let k = &created.key;
    println!(
        "Created key {} \"{}\" ({}; scopes {})",
        k.id,
        k.name,
        k.env,
        fmt_list(&k.scopes)
    );
    print_secret_block("Secret", &created.secret, &k.id);
    Ok(())
}

async fn keys_update(client: &Client, a: KeysUpdateArgs, json: bool) -> Result<(), CliError> {
    let expires_at = if a.no_expiry {
        Some(None)
    } else {
        a.expires
            .as_deref()
            .map(|s| parse_when(s, Utc::now()))
            .transpose()?
            .map(Some)
    };
    let req = UpdateKeyRequest {
        name: a.name,
        scopes: (!a.scope.is_empty()).then_some(a.scope),
        allowed_domains: if a.clear_domains {
            Some(Vec::new())
        } else {
            (!a.domain.is_empty()).then_some(a.domain)
        },
        enabled: None,
        expires_at,
        // An empty value clears it, as the API does.
        owner: a.owner.map(|o| (!o.trim().is_empty()).then_some(o)),
        description: a.description.map(|d| (!d.trim().is_empty()).then_some(d)),
    };
    if req == UpdateKeyRequest::default() {
        return Err(CliError::Usage(
            "nothing to update: pass --name, --scope, --domain, --clear-domains, --expires, \
             --no-expiry, --owner or --description"
                .to_owned(),
        ));
    }
    let k = client
        .update_key(&a.id, &req, a.if_version)
        .await
        .map_err(client_error)?;
    if json {
        print_json(&k)
    } else {
        println!("Updated key {} (version {})", k.id, k.version);
        println!("{}", key_detail(&k));
        Ok(())
    }
}

async fn keys_set_enabled(
    client: &Client,
    id: &str,
    enabled: bool,
    json: bool,
) -> Result<(), CliError> {
    let req = UpdateKeyRequest {
        enabled: Some(enabled),
        ..UpdateKeyRequest::default()
    };
    let (k, change) = client
        .update_key_change(id, &req, None)
        .await
        .map_err(client_error)?;
    let started = std::time::Instant::now();
    if json {
        print_json(&k)
    } else {
        println!(
            "{} key {} \"{}\" (status {})",
            if enabled { "Enabled" } else { "Disabled" },
            k.id,
            k.name,
            k.status.as_str()
        );
        print_ack(client, change, started).await;
        Ok(())
    }
}

/// After a disable, delete or rotate: which live instances have applied the change (API.md
/// §7), asked for up to two seconds. A failure to ask is said, never an error: the change is
/// made.
async fn print_ack(client: &Client, change: Option<i64>, started: std::time::Instant) {
    let Some(change) = change else {
        println!("The change's number is unknown, so its spread to the instances is not checked.");
        return;
    };
    let ack =
        crate::client::ack::wait_applied(client, change, started, crate::client::ack::ACK_TIMEOUT)
            .await
            .map_err(|e| e.to_string());
    println!("Change {change}: {}.", crate::client::ack::describe(&ack));
}

async fn keys_delete(client: &Client, id: &str, yes: bool, json: bool) -> Result<(), CliError> {
    if !yes {
        let k = client.get_key(id).await.map_err(client_error)?;
        eprint!(
            "Delete key {} \"{}\"? It stops working at once. Type the key name to confirm: ",
            k.id, k.name
        );
        let answer = tokio::task::spawn_blocking(|| {
            let mut line = String::new();
            std::io::stdin().read_line(&mut line).map(|_| line)
        })
        .await
        .map_err(|e| CliError::Runtime(e.to_string()))?
        .map_err(|e| CliError::Runtime(format!("cannot read the confirmation: {e}")))?;
        if answer.trim_end_matches(['\n', '\r']) != k.name {
            return Err(CliError::Runtime(
                "the name did not match; nothing was deleted".to_owned(),
            ));
        }
    }
    let change = client.delete_key_change(id).await.map_err(client_error)?;
    let started = std::time::Instant::now();
    if json {
        print_json(&serde_json::json!({"id": id, "deleted": true}))
    } else {
        println!("Deleted key {id}");
        print_ack(client, change, started).await;
        Ok(())
    }
}

async fn keys_rotate(
    client: &Client,
    id: &str,
    grace: Option<String>,
    json: bool,
) -> Result<(), CliError> {
    let grace = match grace.as_deref() {
        None => None,
        Some(g) => {
            let secs = parse_duration(g)
                .and_then(|s| u32::try_from(s).ok())
                .filter(|s| *s <= crate::api::MAX_GRACE_SECONDS)
                .ok_or_else(|| {
                    CliError::Usage(
                        "--grace: use 0 or a duration such as 3600s, 30m, 24h or 7d, at most 30d"
                            .to_owned(),
                    )
                })?;
            Some(secs)
        }
    };
    let req = RotateRequest {
        grace_period_seconds: grace,
    };
    let (r, change) = client
        .rotate_key_change(id, &req)
        .await
        .map_err(client_error)?;
    let started = std::time::Instant::now();
    if json {
        return print_json(&r);
    }
    println!(
        "Rotated key {} -> {} \"{}\"",
        r.previous.id, r.key.id, r.key.name
    );
    match r.previous.expires_at {
        Some(t) if t > Utc::now() => {
            println!("The old key keeps working until {}.", fmt_time(Some(t)))
        }
        _ => println!("The old key has stopped working."),
    }
    print_ack(client, change, started).await;
    print_secret_block("New secret", &r.secret, &r.key.id);
    Ok(())
}

/// Run `keyconsole verify`.
pub async fn run_verify(
    url: Option<&str>,
    profile: Option<&str>,
    a: VerifyArgs,
) -> Result<(), CliError> {
    let credential = if a.credential == "-" {
        read_stdin_value("the credential")?
    } else {
        a.credential
    };
    let credential = Secret::new(credential);
    if credential.expose().is_empty() {
        return Err(CliError::Usage(
            "--credential is empty: pass the credential, or - to read it from stdin".to_owned(),
        ));
    }
    let client = connect(url, profile)?;
    let req = VerifyRequest {
        credential: credential.clone(),
        origin: a.origin,
        app_id: a.app,
        required_scopes: (!a.scope.is_empty()).then_some(a.scope),
    };
    // Only a foreign proxy would echo the body back; never let it reach stderr.
    let scrub = |m: String| m.replace(credential.expose(), "[redacted]");
    let resp = client
        .verify(&req)
        .await
        .map_err(|e| match client_error(e) {
            CliError::Runtime(m) => CliError::Runtime(scrub(m)),
            CliError::Usage(m) => CliError::Usage(scrub(m)),
        })?;
    if a.output == OutputFormat::Json {
        print_json(&resp)?;
    } else {
        print_verify(&resp);
    }
    if resp.valid {
        Ok(())
    } else {
        Err(CliError::Runtime(format!(
            "denied: {} ({})",
            resp.code.as_deref().unwrap_or("unknown"),
            resp.status
        )))
    }
}

fn print_verify(r: &VerifyResponse) {
    if r.valid {
        println!("allowed ({})", r.status);
    } else {
        println!(
            "denied: {} ({}): {}",
            r.code.as_deref().unwrap_or("unknown"),
            r.status,
            r.message.as_deref().unwrap_or("")
        );
    }
    if let Some(k) = &r.key {
        println!(
            "key: {} \"{}\" ({}, {})",
            k.id,
            k.name,
            k.env,
            k.status.as_str()
        );
    }
    let width = r
        .trace
        .iter()
        .map(|t| t.step.chars().count())
        .max()
        .unwrap_or(0);
    for t in &r.trace {
        println!(
            "  {} {:width$}  {}",
            if t.ok { "✓" } else { "✗" },
            t.step,
            t.detail
        );
    }
}

/// `doctor` on a session JWT: the offline JWT lint (nothing is verified or sent).
fn doctor_jwt(token: &str, a: &DoctorArgs) -> Result<(), CliError> {
    use crate::domain::jwt_lint::{JwtLintContext, SIGNATURE_NOTE, lint_jwt};
    let ctx = JwtLintContext {
        issuer: a.jwt_issuer.clone(),
        audience: a.jwt_audience.clone(),
        ..JwtLintContext::at(chrono::Utc::now())
    };
    let report = lint_jwt(token, &ctx);
    if a.output == OutputFormat::Json {
        let claims = |lines: &[crate::domain::jwt_lint::ClaimLine]| -> Vec<serde_json::Value> {
            lines
                .iter()
                .map(|c| serde_json::json!({"name": c.name, "value": c.value, "note": c.note}))
                .collect()
        };
        let findings: Vec<serde_json::Value> = report
            .findings
            .iter()
            .map(|f| {
                serde_json::json!({"rule": f.rule, "severity": f.severity.as_str(),
                                   "message": f.message, "fix": f.fix})
            })
            .collect();
        print_json(&serde_json::json!({
            "ok": report.findings.is_empty(),
            "signature": SIGNATURE_NOTE,
            "header": claims(&report.header),
            "claims": claims(&report.claims),
            "findings": findings,
        }))?;
    } else {
        for l in report.lines() {
            println!("{l}");
        }
    }
    // As for keys: exit 0 with warnings only, 1 with an error (documented in README).
    let n = report
        .findings
        .iter()
        .filter(|f| f.severity == crate::domain::lint::Severity::Error)
        .count();
    if n == 0 {
        Ok(())
    } else {
        Err(CliError::Runtime(format!(
            "doctor found {n} error{} in the JWT",
            if n == 1 { "" } else { "s" }
        )))
    }
}

/// Run `keyconsole doctor`: offline, no server and no token.
pub fn run_doctor(a: DoctorArgs) -> Result<(), CliError> {
    use crate::domain::lint::{LintContext, Severity, lint_line};
    let line = if a.line.len() == 1 && a.line[0] == "-" {
        read_stdin_value("the header line")?
    } else {
        a.line.join(" ")
    };
    if let Some(token) = line.split_whitespace().last()
        && crate::domain::jwt::looks_like_jwt(token)
    {
        return doctor_jwt(token, &a);
    }
    let ctx = LintContext {
        secret_prefix: prefix(&a.secret_prefix)?,
        server_env: a.server_env.map(Env::from),
        needs_secret: true,
        origin: a.origin,
    };
    let findings = lint_line(&line, &ctx);
    if a.output == OutputFormat::Json {
        let list: Vec<serde_json::Value> = findings
            .iter()
            .map(|f| {
                serde_json::json!({
                    "rule": f.rule,
                    "severity": f.severity.as_str(),
                    "message": f.message,
                    "fix": f.fix,
                })
            })
            .collect();
        print_json(&serde_json::json!({"ok": findings.is_empty(), "findings": list}))?;
    } else if findings.is_empty() {
        println!("no problems found");
    } else {
        for f in &findings {
            let mark = match f.severity {
                Severity::Error => "✗",
                Severity::Warning => "⚠",
            };
            println!("{mark} {}: {} — {}", f.rule, f.message, f.fix);
        }
    }
    // Exit 0 with warnings only, 1 with an error (documented in README).
    let n = findings
        .iter()
        .filter(|f| f.severity == Severity::Error)
        .count();
    if n == 0 {
        Ok(())
    } else {
        Err(CliError::Runtime(format!(
            "doctor found {n} error{}",
            if n == 1 { "" } else { "s" }
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(parse_duration("0"), Some(0));
        assert_eq!(parse_duration("3600s"), Some(3600));
        assert_eq!(parse_duration("30m"), Some(1800));
        assert_eq!(parse_duration("24h"), Some(86_400));
        assert_eq!(parse_duration("7d"), Some(604_800));
        assert_eq!(parse_duration("2w"), Some(1_209_600));
        for bad in ["", "h", "12", "1.5h", "-1h", "12x", "tomorrow"] {
            assert_eq!(parse_duration(bad), None, "{bad}");
        }
        let now = Utc::now();
        let t = parse_when("12h", now).expect("duration");
        assert_eq!((t - now).num_seconds(), 43_200);
        let t = parse_when("2030-01-31T00:00:00Z", now).expect("rfc 3339");
        assert_eq!(t.to_rfc3339(), "2030-01-31T00:00:00+00:00");
        assert!(parse_when("soon", now).is_err());
    }

    #[test]
    fn secret_shapes_are_redacted() {
        let s = "unexpected argument 'sk_live_Ab3dEf6hIj9kLm2nOp5qRs8tUv1wXy4z1NV2lF' found";
        let r = redact_secret_shapes(s);
        assert_eq!(r, "unexpected argument 'sk_live_[redacted]' found");
        let pair = "x pk_test_abc:org_test_def y";
        assert_eq!(
            redact_secret_shapes(pair),
            "x pk_test_abc:org_test_[redacted] y"
        );
        // Issue 12, defect 11: public key ids are safe to show.
        let id = "no key pk_live_000000000000000000000001 here";
        assert_eq!(redact_secret_shapes(id), id);
        assert_eq!(redact_secret_shapes("no secrets here"), "no secrets here");
    }

    #[test]
    fn tables_are_aligned() {
        let t = render_table(
            &["A", "BB"],
            &[
                vec!["xxx".to_owned(), "1".to_owned()],
                vec!["y".to_owned(), "22".to_owned()],
            ],
        );
        assert_eq!(t, "A    BB\nxxx  1\ny    22");
    }
}
