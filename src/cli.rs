//! Command line: clap types for every subcommand and the scriptable commands themselves.
//! Exit codes (API.md §6): 0 success, 1 runtime failure, 2 usage error; every failure is one
//! line on stderr that says what to do.

use std::net::SocketAddr;
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand, ValueEnum};

use crate::domain::key::{Env, SecretPrefix};
use crate::server::clock::{Clock, SystemClock};
use crate::server::{AppState, ServerConfig, bootstrap, serve};
use crate::storage::{self, Retention, StoreError};

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
    /// The console's configuration file.
    Config {
        /// What to do.
        #[command(subcommand)]
        command: ConfigCommand,
    },
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
    /// `sqlite://<path>` (created if missing).
    #[arg(long, env = "KEYCONSOLE_DATABASE_URL", value_name = "URL")]
    pub database: String,
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
}

/// `keyconsole org …`
#[derive(Debug, Subcommand)]
pub enum OrgCommand {
    /// Create an organization and its owner key (scopes `*`); prints the secret once.
    Create(OrgCreateArgs),
}

/// `keyconsole org create`
#[derive(Debug, Args)]
pub struct OrgCreateArgs {
    /// Organization name.
    pub name: String,
    /// `sqlite://<path>` (created if missing).
    #[arg(long, env = "KEYCONSOLE_DATABASE_URL", value_name = "URL")]
    pub database: String,
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
            eprintln!("keyconsole: {}", one_line_clap_error(&e.to_string()));
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
        StoreError::Open(m) => CliError::Usage(format!(
            "cannot open the database: {m}; check the --database URL (sqlite://<path>) and that its directory exists and is writable"
        )),
        other => CliError::Runtime(format!("database error: {other}")),
    }
}

fn prefix(s: &str) -> Result<SecretPrefix, CliError> {
    SecretPrefix::new(s).map_err(|e| CliError::Usage(format!("--secret-prefix: {e}")))
}

/// Run `serve` until SIGTERM or ctrl-c; exits 0 after flushing usage.
pub async fn run_serve(args: ServeArgs) -> Result<(), CliError> {
    let config = ServerConfig {
        secret_prefix: prefix(&args.secret_prefix)?,
        accept_env: args.accept_env.map(Env::from),
        failed_auth_limit: args.failed_auth_limit,
        ..ServerConfig::default()
    };
    let retention = Retention {
        auth_events_per_org: args.auth_event_retention.max(1),
        ..Retention::default()
    };
    let store = storage::open(&args.database, retention)
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
    let state = AppState::new(store, config);
    let shutdown = shutdown_signal();
    // Scripts wait for this line: print it whatever the log filter says.
    eprintln!("keyconsole serve: listening on http://{addr}");
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
    let prefix = prefix(&args.secret_prefix)?;
    let store = storage::open(&args.database, Retention::default())
        .await
        .map_err(store_error)?;
    let created = bootstrap::create_org_with_owner(
        &store,
        name,
        "Owner",
        args.env.into(),
        &prefix,
        SystemClock.now(),
    )
    .await
    .map_err(store_error)?;
    if args.json {
        let text =
            serde_json::to_string_pretty(&created).map_err(|e| CliError::Runtime(e.to_string()))?;
        println!("{text}");
    } else {
        println!(
            "Created organization {} ({})",
            created.org.name, created.org.id
        );
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

/// Dispatch a parsed command line.
pub async fn run(cli: Cli) -> Result<(), CliError> {
    match cli.command {
        Some(Command::Serve(a)) => run_serve(a).await,
        Some(Command::Org {
            command: OrgCommand::Create(a),
        }) => run_org_create(a).await,
        Some(Command::Config {
            command: ConfigCommand::Path,
        }) => {
            let p = crate::config::config_path().map_err(|e| CliError::Usage(e.to_string()))?;
            println!("{}", p.display());
            Ok(())
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

/// Where logs go: `serve` to stderr; the console to a file in the data dir (never the
/// terminal it draws on); other commands to stderr, warnings only.
pub fn init_logging(cli: &Cli) {
    use tracing_subscriber::EnvFilter;
    let filter = |default: &str| {
        EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default))
    };
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr())
        && std::env::var_os("NO_COLOR").is_none();
    match &cli.command {
        Some(Command::Serve(_)) => {
            let _ = tracing_subscriber::fmt()
                .with_env_filter(filter("info"))
                .with_writer(std::io::stderr)
                .with_ansi(ansi)
                .with_target(false)
                .try_init();
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
}
