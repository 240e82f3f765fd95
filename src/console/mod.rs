//! Launching the console: pick the target (the embedded local service, `--url` with
//! `KEYCONSOLE_TOKEN`, or a profile), start the embedded service when needed, and hand a
//! `client::Client` to `tui`. This is the one place that wires the server and the console
//! together; the console itself only ever speaks HTTP.
//!
//! **The console's own credential for the embedded service** is never written anywhere: at
//! every start the console's key is re-keyed with a fresh secret that lives only in this
//! process's memory (zeroized on exit). The state file `embedded.json` (mode 0600, in the data
//! dir) records only the org id and the console key's public id.

pub mod demo;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use chrono::Utc;
use serde::{Deserialize, Serialize};
use tokio::sync::oneshot;

use crate::cli::CliError;
use crate::client::Client;
use crate::config::{self, Config};
use crate::domain::key::{Env, Secret, SecretPrefix};
use crate::server::{AppState, ServerConfig, bootstrap, os_random, serve};
use crate::storage::{self, IfMissing, KeyStore, Retention};
use crate::tui::app::{Session, Settings};
use crate::tui::clipboard::ClipboardMode;
use crate::tui::event_loop::{self, Options, Resolver, Target};
use crate::tui::keymap::Keymap;
use crate::tui::theme::Theme;

/// Name of the console's own key in the embedded org.
pub const CONSOLE_KEY_NAME: &str = "keyconsole (this console)";
/// Name of the demo organization.
pub const DEMO_ORG_NAME: &str = "Demo organization (sample data)";
/// Name of the organization `--fresh` creates.
pub const LOCAL_ORG_NAME: &str = "Local organization";

/// How the console was asked to start.
#[derive(Debug, Clone, Default)]
pub struct ConsoleArgs {
    /// `--url`.
    pub url: Option<String>,
    /// `--profile`.
    pub profile: Option<String>,
    /// `--fresh`: move the embedded database aside and start empty.
    pub fresh: bool,
    /// `--mouse`.
    pub mouse: bool,
}

#[derive(Debug, Serialize, Deserialize)]
struct EmbeddedState {
    org_id: String,
    console_key_id: String,
    demo: bool,
}

/// The embedded service, running in this process on loopback.
pub struct Embedded {
    /// Base URL.
    pub url: String,
    /// The console's token (in memory only).
    pub token: Secret,
    /// The org holds demo data.
    pub demo: bool,
    /// Where its database lives.
    pub db_path: PathBuf,
    /// Stops the server (dropping it also stops it).
    pub shutdown: Option<oneshot::Sender<()>>,
    /// The server task; awaited on exit so usage is flushed.
    pub handle: Option<tokio::task::JoinHandle<Result<(), crate::server::ServeError>>>,
}

fn usage(msg: impl Into<String>) -> CliError {
    CliError::Usage(msg.into())
}

fn runtime(msg: impl Into<String>) -> CliError {
    CliError::Runtime(msg.into())
}

#[cfg(unix)]
fn restrict(path: &Path, mode: u32) {
    use std::os::unix::fs::PermissionsExt;
    let _ = std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode));
}

#[cfg(not(unix))]
fn restrict(_path: &Path, _mode: u32) {}

/// Create the data dir (0700).
pub fn ensure_data_dir(dir: &Path) -> Result<(), CliError> {
    std::fs::create_dir_all(dir).map_err(|e| {
        usage(format!(
            "cannot create the data directory {}: {e}; set KEYCONSOLE_DATA_DIR to a writable directory",
            dir.display()
        ))
    })?;
    restrict(dir, 0o700);
    Ok(())
}

fn write_state(path: &Path, state: &EmbeddedState) -> Result<(), CliError> {
    let text = serde_json::to_string_pretty(state).map_err(|e| runtime(e.to_string()))?;
    std::fs::write(path, text)
        .map_err(|e| runtime(format!("cannot write {}: {e}", path.display())))?;
    restrict(path, 0o600);
    Ok(())
}

/// Add a fresh key with scopes `*` for the console to an existing org; returns its secret.
async fn add_console_key(
    store: &Arc<dyn KeyStore>,
    org_id: &str,
) -> Result<(String, Secret), CliError> {
    let (rec, secret, audit) = bootstrap::owner_key(
        org_id,
        CONSOLE_KEY_NAME,
        Env::Live,
        &SecretPrefix::default(),
        Utc::now(),
    );
    store
        .insert_key(&rec, &audit)
        .await
        .map_err(|e| runtime(format!("cannot create the console's key: {e}")))?;
    Ok((rec.id, secret))
}

/// Enable the console's own key again and drop its expiry, audited as `system:console start`.
async fn revive_console_key(
    store: &Arc<dyn KeyStore>,
    key: &crate::domain::record::KeyRecord,
    now: chrono::DateTime<Utc>,
) -> Result<(), CliError> {
    let mut next = key.clone();
    next.enabled = true;
    next.expires_at = None;
    next.version = key.version + 1;
    next.updated_at = now;
    let audit = crate::storage::NewAudit {
        id: format!(
            "aud_{}",
            crate::domain::key::random_base62(20, &mut os_random)
        ),
        org_id: key.org_id.clone(),
        at: now,
        actor: crate::api::Actor::system(crate::api::system_actor::CONSOLE_START),
        action: if key.enabled {
            "key.updated"
        } else {
            "key.enabled"
        }
        .to_owned(),
        key_id: Some(key.id.clone()),
        changes: serde_json::json!({
            "enabled": {"from": key.enabled, "to": true},
            "expires_at": {"from": key.expires_at, "to": null},
        }),
    };
    let written = store
        .update_key(&next, key.version, &[audit])
        .await
        .map_err(|e| runtime(format!("cannot enable the console's key again: {e}")))?;
    if !written {
        return Err(runtime(
            "the console's key changed while starting; start again".to_owned(),
        ));
    }
    tracing::info!(key = %key.id, "the console's own key was disabled or expired: enabled again");
    Ok(())
}

fn move_aside(db: &Path) -> Result<Option<PathBuf>, CliError> {
    if !db.exists() {
        return Ok(None);
    }
    let stamp = Utc::now().format("%Y%m%d-%H%M%S");
    let backup = db.with_extension(format!("db.{stamp}.bak"));
    std::fs::rename(db, &backup)
        .map_err(|e| runtime(format!("cannot move {} aside: {e}", db.display())))?;
    for suffix in ["-wal", "-shm"] {
        let side = PathBuf::from(format!("{}{suffix}", db.display()));
        if side.exists() {
            let _ = std::fs::rename(
                &side,
                PathBuf::from(format!("{}{suffix}", backup.display())),
            );
        }
    }
    Ok(Some(backup))
}

/// Start the embedded service on 127.0.0.1:0 with a SQLite file in `data_dir`.
pub async fn start_embedded(data_dir: &Path, fresh: bool) -> Result<Embedded, CliError> {
    ensure_data_dir(data_dir)?;
    let db_path = data_dir.join("keyconsole.db");
    let state_path = data_dir.join("embedded.json");
    if fresh {
        if let Some(b) = move_aside(&db_path)? {
            tracing::info!(backup = %b.display(), "--fresh: previous local database moved aside");
        }
        let _ = std::fs::remove_file(&state_path);
    }
    let url = format!("sqlite://{}", db_path.display());
    let store = storage::open(&url, Retention::default(), IfMissing::Create)
        .await
        .map_err(|e| {
            usage(format!(
                "cannot open the local database {}: {e}",
                db_path.display()
            ))
        })?;
    restrict(&db_path, 0o600);
    let state: Option<EmbeddedState> = std::fs::read_to_string(&state_path)
        .ok()
        .and_then(|t| serde_json::from_str(&t).ok());
    let org_ok = match &state {
        Some(s) => store.get_org(&s.org_id).await.ok().flatten().is_some(),
        None => false,
    };
    let now = Utc::now();
    let (token, demo, seed) = match state.filter(|_| org_ok) {
        Some(s) => {
            let current = store
                .key_by_id(&s.console_key_id)
                .await
                .ok()
                .flatten()
                .filter(|k| k.org_id == s.org_id);
            let token = match current {
                Some(k) => {
                    // Disabled or expired by hand (the console warned): enable it again
                    // rather than leave a second, dead "this console" key behind.
                    if !k.enabled || k.is_expired(now) {
                        revive_console_key(&store, &k, now).await?;
                    }
                    let secret =
                        Secret::generate(&SecretPrefix::default(), Env::Live, &mut os_random);
                    store
                        .set_secret(&s.console_key_id, &secret.hash(), &secret.hint(), now)
                        .await
                        .map_err(|e| runtime(format!("cannot re-key the console's key: {e}")))?;
                    secret
                }
                None => {
                    // Deleted by hand: give the console a new key.
                    let (id, secret) = add_console_key(&store, &s.org_id).await?;
                    write_state(
                        &state_path,
                        &EmbeddedState {
                            org_id: s.org_id.clone(),
                            console_key_id: id,
                            demo: s.demo,
                        },
                    )?;
                    secret
                }
            };
            (token, s.demo, false)
        }
        None => {
            let demo = !fresh;
            let created = bootstrap::create_org_with_owner(
                &store,
                if demo { DEMO_ORG_NAME } else { LOCAL_ORG_NAME },
                CONSOLE_KEY_NAME,
                Env::Live,
                &SecretPrefix::default(),
                now,
            )
            .await
            .map_err(|e| runtime(format!("cannot create the local organization: {e}")))?;
            write_state(
                &state_path,
                &EmbeddedState {
                    org_id: created.org.id.clone(),
                    console_key_id: created.key.id.clone(),
                    demo,
                },
            )?;
            (created.secret, demo, demo)
        }
    };
    let config = ServerConfig {
        // Loopback only, and the console's own tests of bad credentials must not lock it out.
        failed_auth_limit: 0,
        ..ServerConfig::default()
    };
    let state = AppState::new(Arc::clone(&store), config);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .map_err(|e| {
            runtime(format!(
                "cannot start the embedded service on loopback: {e}"
            ))
        })?;
    let addr = listener.local_addr().map_err(|e| runtime(e.to_string()))?;
    let (tx, rx) = oneshot::channel::<()>();
    let handle = tokio::spawn(serve(listener, state, async move {
        let _ = rx.await;
    }));
    let url = format!("http://{addr}");
    tracing::info!(%url, db = %db_path.display(), "embedded key service started");
    if seed {
        let client = Client::new(&url, Some(token.clone())).map_err(|e| runtime(e.to_string()))?;
        demo::seed(&store, &client)
            .await
            .map_err(|e| runtime(format!("cannot create the demo data: {e}")))?;
    }
    Ok(Embedded {
        url,
        token,
        demo,
        db_path,
        shutdown: Some(tx),
        handle: Some(handle),
    })
}

impl Embedded {
    /// Stop the server and wait for its final usage flush.
    pub async fn stop(mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(h) = self.handle.take() {
            let _ = tokio::time::timeout(std::time::Duration::from_secs(5), h).await;
        }
    }

    fn target(&self) -> Result<Target, String> {
        Ok(Target {
            client: Client::new(&self.url, Some(self.token.clone())).map_err(|e| e.to_string())?,
            session: Session {
                profile: "local".to_owned(),
                url: self.url.clone(),
                danger: false,
                demo: self.demo,
            },
        })
    }
}

fn profile_target(cfg: &Config, name: &str) -> Result<Target, String> {
    let p = cfg.profile(name).map_err(|e| e.to_string())?;
    let token = config::resolve_token(name, p).map_err(|e| e.to_string())?;
    let mut client = Client::new(&p.url, Some(token)).map_err(|e| e.to_string())?;
    if p.token_command.is_some() {
        // A session JWT from an SSO tool expires: when the server refuses it, the client
        // runs token_command again once and retries (client::renew).
        let (name, p) = (name.to_owned(), p.clone());
        client = client.with_renewal(std::sync::Arc::new(move || {
            config::resolve_token(&name, &p).map_err(|e| e.to_string())
        }));
    }
    Ok(Target {
        client,
        session: Session {
            profile: name.to_owned(),
            url: p.url.clone(),
            danger: p.danger,
            demo: false,
        },
    })
}

/// Run the console.
pub async fn run(args: ConsoleArgs) -> Result<(), CliError> {
    let (_, cfg) = config::load_default().map_err(|e| usage(e.to_string()))?;
    let keymap = Keymap::with_overrides(&cfg.keys).map_err(|e| usage(e.to_string()))?;
    let clipboard = ClipboardMode::parse(&cfg.clipboard.mode).unwrap_or(ClipboardMode::Auto);
    let settings = Settings {
        reveal: std::time::Duration::from_secs(cfg.ui.reveal_seconds),
        clipboard_clear: std::time::Duration::from_secs(cfg.clipboard.clear_after_seconds),
        refresh: std::time::Duration::from_secs(cfg.ui.refresh_seconds),
        ..Settings::default()
    };
    let mut opts = Options {
        settings,
        keymap,
        mouse: args.mouse || cfg.ui.mouse,
        clipboard,
        theme: Theme::new(cfg.theme.palette().unwrap_or_default(), cfg.ui.ascii),
        profiles: cfg.profiles.keys().cloned().collect(),
    };
    let mut embedded: Option<Embedded> = None;
    let target = if let Some(url) = &args.url {
        if args.fresh {
            return Err(usage(
                "--fresh applies to the embedded local service, not to --url",
            ));
        }
        let token = std::env::var("KEYCONSOLE_TOKEN")
            .ok()
            .filter(|t| !t.trim().is_empty())
            .map(|t| Secret::new(t.trim().to_owned()))
            .ok_or_else(|| usage("--url needs a token: export KEYCONSOLE_TOKEN=<secret>"))?;
        let client = Client::new(url, Some(token)).map_err(|e| usage(e.to_string()))?;
        Target {
            client,
            session: Session {
                profile: "url".to_owned(),
                url: url.trim_end_matches('/').to_owned(),
                danger: false,
                demo: false,
            },
        }
    } else if let Some(name) = args.profile.as_ref().or(cfg.default_profile.as_ref()) {
        profile_target(&cfg, name).map_err(usage)?
    } else {
        let dir = config::data_dir().map_err(|e| usage(e.to_string()))?;
        let e = start_embedded(&dir, args.fresh).await?;
        let t = e.target().map_err(runtime)?;
        embedded = Some(e);
        t
    };
    let local: Option<Target> = embedded.as_ref().and_then(|e| e.target().ok());
    let local_parts = local.map(|t| (t.client, t.session));
    if local_parts.is_some() {
        opts.profiles.insert(0, "local".to_owned());
    }
    let resolver: Resolver = Box::new(move |name: &str| {
        if name == "local" {
            return local_parts
                .as_ref()
                .map(|(c, s)| Target { client: c.clone(), session: s.clone() })
                .ok_or_else(|| "the local service is not running in this session (start keyconsole without --url/--profile)".to_owned());
        }
        profile_target(&cfg, name)
    });
    let result = event_loop::run(target, opts, resolver).await;
    if let Some(e) = embedded {
        e.stop().await;
    }
    result.map_err(|e| runtime(format!("terminal error: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_token_command_profile_renews_its_session_and_a_token_env_one_does_not() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("config.toml");
        std::fs::write(
            &path,
            "[profiles.sso]\nurl = \"http://127.0.0.1:9\"\ntoken_command = \"printf a.b.c\"\n\
             [profiles.env]\nurl = \"http://127.0.0.1:9\"\ntoken_env = \"PATH\"\n",
        )
        .expect("write");
        let cfg = config::load(&path).expect("config");
        let renewable = |name: &str| {
            let t = profile_target(&cfg, name).expect("target");
            format!("{:?}", t.client).contains("renewable: true")
        };
        assert!(renewable("sso"));
        assert!(!renewable("env"));
    }
}
