//! The console's configuration file: where it lives, its schema, and how a profile's token
//! is obtained.
//!
//! Owns: locating `config.toml` (`KEYCONSOLE_CONFIG` overrides the platform config dir) and
//! the data dir (`KEYCONSOLE_DATA_DIR` overrides the platform data dir); parsing and
//! validating the TOML (profiles, clipboard, ui, keymap overrides); resolving a profile's
//! token from an environment variable or by running a command.
//!
//! May use: the standard library (filesystem, environment, processes), `serde`/`toml` for
//! the file, `directories` for platform paths, `zeroize` for token bytes, and
//! [`crate::domain::key::Secret`] to hand the token back. Nothing else in the crate.
//!
//! Tokens never live in the file in clear; a resolved token exists only inside a [`Secret`]
//! and never appears in an error, a log line or a `Debug` output produced here.

use std::collections::BTreeMap;
use std::ffi::OsString;
use std::fs;
use std::io::{self, Read};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};
use zeroize::Zeroizing;

use crate::domain::key::Secret;

/// Environment variable naming the config file, overriding the platform location.
pub const CONFIG_ENV: &str = "KEYCONSOLE_CONFIG";
/// Environment variable naming the data dir (database, logs), overriding the platform one.
pub const DATA_DIR_ENV: &str = "KEYCONSOLE_DATA_DIR";
/// File name of the config file inside the platform config dir.
pub const CONFIG_FILE_NAME: &str = "config.toml";
/// The accepted values of `clipboard.mode`.
pub const CLIPBOARD_MODES: [&str; 4] = ["auto", "osc52", "native", "off"];
/// Accepted range of `clipboard.clear_after_seconds`.
pub const CLIPBOARD_CLEAR_RANGE: std::ops::RangeInclusive<u64> = 5..=600;
/// Accepted range of `ui.reveal_seconds`.
pub const REVEAL_RANGE: std::ops::RangeInclusive<u64> = 5..=120;
/// Accepted range of `ui.refresh_seconds` (0 also: never).
pub const REFRESH_RANGE: std::ops::RangeInclusive<u64> = 5..=3_600;
/// How long a `token_command` may run before it is killed.
pub const TOKEN_COMMAND_TIMEOUT: Duration = Duration::from_secs(10);

/// Most bytes of a `token_command`'s stdout that are kept (a token is far shorter).
const MAX_STDOUT: usize = 64 * 1024;
/// Most bytes of a `token_command`'s stderr that are kept (only its first line is shown).
const MAX_STDERR: usize = 16 * 1024;
/// Most characters of the stderr line quoted in an error.
const MAX_STDERR_LINE: usize = 200;
/// How often a running `token_command` is polled.
const POLL_INTERVAL: Duration = Duration::from_millis(10);

/// Everything that can go wrong here. Each message is one line and says what to do.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// No home directory, so no platform location for the config file or the data dir.
    #[error("cannot determine a home directory for the {what}; set {var} to a path")]
    NoHome {
        /// What was being located ("config file" or "data dir").
        what: &'static str,
        /// The environment variable that overrides it.
        var: &'static str,
    },
    /// The config file exists but could not be read.
    #[error(
        "cannot read config file {}: {source}; check its permissions or set KEYCONSOLE_CONFIG to another file",
        .path.display()
    )]
    Read {
        /// The config file.
        path: PathBuf,
        /// The I/O error.
        source: io::Error,
    },
    /// TOML syntax error, unknown key, or a value of the wrong type.
    #[error("config file {}{}: {message}; fix the file", .path.display(), position(.line, .column))]
    Parse {
        /// The config file.
        path: PathBuf,
        /// 1-based line of the problem, when known.
        line: Option<usize>,
        /// 1-based column of the problem, when known.
        column: Option<usize>,
        /// The parser's message, on one line.
        message: String,
    },
    /// A `token` key: a token written in clear in the file.
    #[error(
        "config file {}: `{location}`: tokens never live in the config file in clear; remove it and use token_env (an environment variable's name) or token_command (a command that prints the token)",
        .path.display()
    )]
    TokenInClear {
        /// The config file.
        path: PathBuf,
        /// Dotted key of the offending entry, e.g. `profiles.prod.token`.
        location: String,
    },
    /// A value that parsed but is not acceptable.
    #[error("config file {}: `{field}` {problem}", .path.display())]
    Invalid {
        /// The config file.
        path: PathBuf,
        /// Dotted key of the offending value, e.g. `profiles.prod.url`.
        field: String,
        /// What is wrong and how to fix it.
        problem: String,
    },
    /// A profile name that is not in the config.
    #[error(
        "unknown profile `{name}` (known: {known}); add [profiles.{name}] to the config file or use a known one"
    )]
    UnknownProfile {
        /// The name asked for.
        name: String,
        /// The defined profile names, comma-separated, or `none`.
        known: String,
    },
    /// A profile with both or neither of `token_env` and `token_command`.
    #[error(
        "profile `{profile}` must set exactly one of token_env or token_command; fix the config file"
    )]
    NoTokenSource {
        /// The profile.
        profile: String,
    },
    /// `token_env` names a variable that is not set.
    #[error(
        "profile `{profile}`: environment variable {var} is not set; export it with the token, or change token_env"
    )]
    TokenEnvUnset {
        /// The profile.
        profile: String,
        /// The variable's name.
        var: String,
    },
    /// `token_env` names a variable that is set but empty (or only whitespace).
    #[error(
        "profile `{profile}`: environment variable {var} is empty; export it with the token, or change token_env"
    )]
    TokenEnvEmpty {
        /// The profile.
        profile: String,
        /// The variable's name.
        var: String,
    },
    /// `token_env` names a variable whose value is not valid Unicode.
    #[error(
        "profile `{profile}`: environment variable {var} is not valid UTF-8; export the token as plain text"
    )]
    TokenEnvNotUnicode {
        /// The profile.
        profile: String,
        /// The variable's name.
        var: String,
    },
    /// `token_command` could not be started or waited for.
    #[error(
        "profile `{profile}`: cannot run token_command with sh: {source}; check that sh is on PATH"
    )]
    TokenCommandSpawn {
        /// The profile.
        profile: String,
        /// The I/O error.
        source: io::Error,
    },
    /// `token_command` exited unsuccessfully.
    #[error(
        "profile `{profile}`: token_command failed ({status}): {stderr}; run the command in a shell to see why"
    )]
    TokenCommandFailed {
        /// The profile.
        profile: String,
        /// How it ended, e.g. `exit code 3` or `killed by signal 9`.
        status: String,
        /// First non-empty line of its stderr (never stdout), or `no message on stderr`.
        stderr: String,
    },
    /// `token_command` ran past the timeout and was killed.
    #[error("profile `{profile}`: token_command did not finish within {}s and was killed; it runs without a terminal, so make it non-interactive", .timeout.as_secs_f32())]
    TokenCommandTimeout {
        /// The profile.
        profile: String,
        /// The timeout that elapsed.
        timeout: Duration,
    },
    /// `token_command` succeeded but its output is unusable (empty, not UTF-8, too long).
    #[error("profile `{profile}`: token_command {problem}; it must print only the token on stdout")]
    TokenCommandOutput {
        /// The profile.
        profile: String,
        /// What is wrong with the output (never the output itself).
        problem: &'static str,
    },
}

/// Renders `:line:column` for a parse error, or nothing when unknown.
fn position(line: &Option<usize>, column: &Option<usize>) -> String {
    match (line, column) {
        (Some(l), Some(c)) => format!(", line {l}, column {c}"),
        (Some(l), None) => format!(", line {l}"),
        _ => String::new(),
    }
}

/// The whole config file. Every section is optional; [`Config::default`] is an empty file.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// Profile used when neither `--profile` nor `--url` is given; `None` means the embedded
    /// local service.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub default_profile: Option<String>,
    /// Remote services by name (`[profiles.NAME]`).
    pub profiles: BTreeMap<String, Profile>,
    /// Clipboard behaviour (`[clipboard]`).
    pub clipboard: ClipboardSettings,
    /// Display behaviour (`[ui]`).
    pub ui: UiSettings,
    /// Colours (`[theme]`): named ANSI colours or `#rrggbb`; unset ones are the terminal's.
    pub theme: ThemeSettings,
    /// Keymap overrides: action name to raw key spec, parsed elsewhere (`[keys]`).
    pub keys: BTreeMap<String, String>,
}

/// One remote key service and how to get its token.
/// After [`load`], exactly one of `token_env` and `token_command` is set.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Profile {
    /// Base URL, `http://` or `https://`, without credentials.
    pub url: String,
    /// Name of the environment variable holding the token.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token_env: Option<String>,
    /// Shell command (run with `sh -c`) printing the token on stdout.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token_command: Option<String>,
    /// Production-like: shows a `[PROD]` badge; deletions ask to type the key name.
    #[serde(default)]
    pub danger: bool,
}

/// `[clipboard]`: how copied secrets reach the clipboard and when they are cleared.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ClipboardSettings {
    /// One of [`CLIPBOARD_MODES`]: `auto`, `osc52`, `native` or `off` (default `auto`).
    pub mode: String,
    /// Seconds after which a copied secret is cleared, in [`CLIPBOARD_CLEAR_RANGE`]
    /// (default 30).
    pub clear_after_seconds: u64,
}

impl Default for ClipboardSettings {
    fn default() -> Self {
        ClipboardSettings {
            mode: "auto".to_owned(),
            clear_after_seconds: 30,
        }
    }
}

/// `[ui]`: display behaviour.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct UiSettings {
    /// Seconds a revealed secret stays visible, in [`REVEAL_RANGE`] (default 20).
    pub reveal_seconds: u64,
    /// Whether mouse capture is enabled (default false).
    pub mouse: bool,
    /// How often the key list on screen is loaded again, in [`REFRESH_RANGE`] or 0 for
    /// never (default 30; paused while a form, a dialog or a typed line is open).
    pub refresh_seconds: u64,
    /// Draw with ASCII only (`true`), or never (`false`); unset: ASCII when the locale
    /// (`LC_ALL`, `LC_CTYPE`, `LANG`) does not say UTF-8.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ascii: Option<bool>,
}

/// `[theme]`: the console's colours, each a named ANSI colour (`cyan`, `bright-red`,
/// `dark-gray`, `default`) or `#rrggbb`; checked by `tui::theme::parse_color`.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ThemeSettings {
    /// The active tab, keys in the hint row, focused fields (default `cyan`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub accent: Option<String>,
    /// Good states (default `green`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ok: Option<String>,
    /// Warnings (default `yellow`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub warn: Option<String>,
    /// Errors and the `[PROD]` badge (default `red`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// Secondary text (default `dark-gray`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub dim: Option<String>,
    /// The selected row's background (default: reversed video).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub selection: Option<String>,
}

impl ThemeSettings {
    /// The palette these settings give.
    pub fn palette(&self) -> Result<crate::tui::theme::Palette, (String, String)> {
        crate::tui::theme::Palette::from_settings(self)
    }
}

impl Default for UiSettings {
    fn default() -> Self {
        UiSettings {
            reveal_seconds: 20,
            mouse: false,
            refresh_seconds: 30,
            ascii: None,
        }
    }
}

impl Config {
    /// The profile called `name`; the error lists the defined names.
    pub fn profile(&self, name: &str) -> Result<&Profile, ConfigError> {
        self.profiles
            .get(name)
            .ok_or_else(|| ConfigError::UnknownProfile {
                name: name.to_owned(),
                known: known_profiles(self),
            })
    }
}

/// The defined profile names, comma-separated, or `none`.
fn known_profiles(config: &Config) -> String {
    if config.profiles.is_empty() {
        "none".to_owned()
    } else {
        config
            .profiles
            .keys()
            .map(String::as_str)
            .collect::<Vec<_>>()
            .join(", ")
    }
}

/// The config file's path: `$KEYCONSOLE_CONFIG` if set and non-empty, else
/// `config.toml` in the platform config dir (e.g. `~/.config/keyconsole/` on Linux).
/// The file need not exist.
pub fn config_path() -> Result<PathBuf, ConfigError> {
    config_path_from(std::env::var_os(CONFIG_ENV))
}

/// [`config_path`] with the override given explicitly.
fn config_path_from(over: Option<OsString>) -> Result<PathBuf, ConfigError> {
    if let Some(p) = over.filter(|p| !p.is_empty()) {
        return Ok(PathBuf::from(p));
    }
    project_dirs("config file", CONFIG_ENV).map(|d| d.config_dir().join(CONFIG_FILE_NAME))
}

/// The data dir (embedded database, logs): `$KEYCONSOLE_DATA_DIR` if set and non-empty,
/// else the platform data dir (e.g. `~/.local/share/keyconsole/` on Linux).
/// It is not created here.
pub fn data_dir() -> Result<PathBuf, ConfigError> {
    data_dir_from(std::env::var_os(DATA_DIR_ENV))
}

/// [`data_dir`] with the override given explicitly.
fn data_dir_from(over: Option<OsString>) -> Result<PathBuf, ConfigError> {
    if let Some(p) = over.filter(|p| !p.is_empty()) {
        return Ok(PathBuf::from(p));
    }
    project_dirs("data dir", DATA_DIR_ENV).map(|d| d.data_dir().to_path_buf())
}

/// The platform directories for keyconsole, or [`ConfigError::NoHome`].
fn project_dirs(
    what: &'static str,
    var: &'static str,
) -> Result<directories::ProjectDirs, ConfigError> {
    directories::ProjectDirs::from("", "", "keyconsole").ok_or(ConfigError::NoHome { what, var })
}

/// Load the config from [`config_path`]; returns the path used with the config.
pub fn load_default() -> Result<(PathBuf, Config), ConfigError> {
    let path = config_path()?;
    let config = load(&path)?;
    Ok((path, config))
}

/// Load and validate the config file at `path`. A missing file gives [`Config::default`].
///
/// Errors name the file and, for TOML problems, the line and column; they never quote the
/// file's text. Unknown keys are refused by name, and a `token` key gets
/// [`ConfigError::TokenInClear`].
pub fn load(path: &Path) -> Result<Config, ConfigError> {
    let text = match fs::read_to_string(path) {
        Ok(t) => Zeroizing::new(t),
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Config::default()),
        Err(source) => {
            return Err(ConfigError::Read {
                path: path.to_path_buf(),
                source,
            });
        }
    };
    parse(path, &text)
}

/// Parse and validate config text; `path` is only used in errors.
fn parse(path: &Path, text: &str) -> Result<Config, ConfigError> {
    // Untyped first: syntax errors, then a `token` anywhere, before serde can quote its value.
    let table: toml::Table = toml::from_str(text).map_err(|e| parse_error(path, text, &e))?;
    find_token_in_clear(path, &table, "")?;
    let config: Config = toml::from_str(text).map_err(|e| parse_error(path, text, &e))?;
    validate(path, &config)?;
    Ok(config)
}

/// A [`ConfigError::Parse`] from a toml error, with line and column from its span.
/// Only toml's message is kept: its full `Display` would quote the offending line.
fn parse_error(path: &Path, text: &str, e: &toml::de::Error) -> ConfigError {
    let (line, column) = match e.span() {
        Some(span) => {
            let (l, c) = line_column(text, span.start);
            (Some(l), Some(c))
        }
        None => (None, None),
    };
    let message = e
        .message()
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect::<Vec<_>>()
        .join("; ");
    ConfigError::Parse {
        path: path.to_path_buf(),
        line,
        column,
        message,
    }
}

/// 1-based line and column (in characters) of byte `offset` in `text`.
fn line_column(text: &str, offset: usize) -> (usize, usize) {
    let mut offset = offset.min(text.len());
    while !text.is_char_boundary(offset) {
        offset -= 1;
    }
    let before = &text[..offset];
    let line = before.matches('\n').count() + 1;
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    let column = before[line_start..].chars().count() + 1;
    (line, column)
}

/// Refuse any non-table value under a key named `token` (outside `[keys]`, whose keys are
/// action names).
fn find_token_in_clear(path: &Path, table: &toml::Table, prefix: &str) -> Result<(), ConfigError> {
    for (key, value) in table {
        let location = if prefix.is_empty() {
            key.clone()
        } else {
            format!("{prefix}.{key}")
        };
        match value {
            toml::Value::Table(_) if prefix.is_empty() && key == "keys" => {}
            toml::Value::Table(inner) => find_token_in_clear(path, inner, &location)?,
            _ if key == "token" => {
                return Err(ConfigError::TokenInClear {
                    path: path.to_path_buf(),
                    location,
                });
            }
            _ => {}
        }
    }
    Ok(())
}

/// Semantic checks on a parsed config; the first problem found is returned.
fn validate(path: &Path, config: &Config) -> Result<(), ConfigError> {
    let invalid = |field: String, problem: String| ConfigError::Invalid {
        path: path.to_path_buf(),
        field,
        problem,
    };
    for (name, profile) in &config.profiles {
        if name.trim().is_empty() {
            return Err(invalid(
                "profiles".to_owned(),
                "has a profile with an empty name; give it a name".to_owned(),
            ));
        }
        validate_profile(name, profile)
            .map_err(|(field, problem)| invalid(format!("profiles.{name}.{field}"), problem))?;
    }
    if let Some(name) = &config.default_profile
        && !config.profiles.contains_key(name)
    {
        return Err(invalid(
            "default_profile".to_owned(),
            format!(
                "names profile `{name}`, which is not defined (known: {}); add [profiles.{name}] or fix default_profile",
                known_profiles(config)
            ),
        ));
    }
    if !CLIPBOARD_MODES.contains(&config.clipboard.mode.as_str()) {
        return Err(invalid(
            "clipboard.mode".to_owned(),
            format!(
                "is `{}`; use one of {}",
                config.clipboard.mode,
                CLIPBOARD_MODES.join(", ")
            ),
        ));
    }
    check_range(config.clipboard.clear_after_seconds, &CLIPBOARD_CLEAR_RANGE)
        .map_err(|p| invalid("clipboard.clear_after_seconds".to_owned(), p))?;
    check_range(config.ui.reveal_seconds, &REVEAL_RANGE)
        .map_err(|p| invalid("ui.reveal_seconds".to_owned(), p))?;
    if config.ui.refresh_seconds != 0 {
        check_range(config.ui.refresh_seconds, &REFRESH_RANGE).map_err(|p| {
            invalid(
                "ui.refresh_seconds".to_owned(),
                format!("{p}, or 0 for never"),
            )
        })?;
    }
    config
        .theme
        .palette()
        .map_err(|(field, problem)| invalid(field, problem))?;
    for (action, spec) in &config.keys {
        if action.trim().is_empty() {
            return Err(invalid(
                "keys".to_owned(),
                "has an empty action name; name the action".to_owned(),
            ));
        }
        if spec.trim().is_empty() {
            return Err(invalid(
                format!("keys.{action}"),
                "is empty; give a key spec such as \"ctrl-r\" or remove the line".to_owned(),
            ));
        }
    }
    Ok(())
}

/// Checks one profile; on error returns the field (relative to the profile) and the problem.
fn validate_profile(name: &str, p: &Profile) -> Result<(), (&'static str, String)> {
    // The URL is never quoted back: it might carry credentials.
    let rest = p
        .url
        .strip_prefix("https://")
        .or_else(|| p.url.strip_prefix("http://"));
    let Some(rest) = rest else {
        return Err((
            "url",
            "must start with http:// or https://; fix the URL".to_owned(),
        ));
    };
    let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
    if authority.is_empty() {
        return Err((
            "url",
            "has no host; write e.g. https://keys.example.com".to_owned(),
        ));
    }
    if authority.contains('@') {
        return Err((
            "url",
            "must not contain credentials (user:password@): tokens never live in the config file in clear; use token_env or token_command".to_owned(),
        ));
    }
    match (&p.token_env, &p.token_command) {
        (Some(_), Some(_)) => Err((
            "token_env",
            format!("and token_command are both set; keep exactly one in [profiles.{name}]"),
        )),
        (None, None) => Err((
            "token_env",
            format!(
                "is missing: set exactly one of token_env or token_command in [profiles.{name}]"
            ),
        )),
        (Some(var), None) => {
            if var.is_empty() || var.contains(['=', '\0']) || var.trim() != var {
                Err((
                    "token_env",
                    "must be the name of an environment variable, e.g. PROD_KEYCONSOLE_TOKEN"
                        .to_owned(),
                ))
            } else {
                Ok(())
            }
        }
        (None, Some(cmd)) => {
            if cmd.trim().is_empty() {
                Err((
                    "token_command",
                    "is empty; give a command that prints the token, e.g. \"pass show keyconsole/prod\"".to_owned(),
                ))
            } else {
                Ok(())
            }
        }
    }
}

/// `Err(problem)` when `value` is outside `range`.
fn check_range(value: u64, range: &std::ops::RangeInclusive<u64>) -> Result<(), String> {
    if range.contains(&value) {
        Ok(())
    } else {
        Err(format!(
            "is {value}; use a number of seconds from {} to {}",
            range.start(),
            range.end()
        ))
    }
}

/// Obtain the token of profile `profile_name`.
///
/// `token_env`: the variable's value, trimmed; unset, empty or non-UTF-8 is an error.
/// `token_command`: run with `sh -c`, stdin null, stdout and stderr captured, in its own
/// process group (unix) which is killed after [`TOKEN_COMMAND_TIMEOUT`]; stdout trimmed is
/// the token. A failure quotes the exit status and the first stderr line, never stdout.
/// The command cannot prompt on the terminal: it must be non-interactive.
pub fn resolve_token(profile_name: &str, p: &Profile) -> Result<Secret, ConfigError> {
    resolve_token_with(profile_name, p, TOKEN_COMMAND_TIMEOUT, &|var| {
        std::env::var_os(var)
    })
}

/// [`resolve_token`] with the timeout and the environment lookup given explicitly.
fn resolve_token_with(
    profile_name: &str,
    p: &Profile,
    timeout: Duration,
    getenv: &dyn Fn(&str) -> Option<OsString>,
) -> Result<Secret, ConfigError> {
    match (&p.token_env, &p.token_command) {
        (Some(var), None) => token_from_env(profile_name, var, getenv),
        (None, Some(cmd)) => token_from_command(profile_name, cmd, timeout),
        _ => Err(ConfigError::NoTokenSource {
            profile: profile_name.to_owned(),
        }),
    }
}

/// The token from environment variable `var`.
fn token_from_env(
    profile: &str,
    var: &str,
    getenv: &dyn Fn(&str) -> Option<OsString>,
) -> Result<Secret, ConfigError> {
    let err_unset = || ConfigError::TokenEnvUnset {
        profile: profile.to_owned(),
        var: var.to_owned(),
    };
    if var.is_empty() || var.contains(['=', '\0']) {
        return Err(err_unset());
    }
    let value = getenv(var).ok_or_else(err_unset)?;
    let value = match value.into_string() {
        Ok(s) => Zeroizing::new(s),
        Err(raw) => {
            drop(Zeroizing::new(raw.into_encoded_bytes()));
            return Err(ConfigError::TokenEnvNotUnicode {
                profile: profile.to_owned(),
                var: var.to_owned(),
            });
        }
    };
    let token = value.trim();
    if token.is_empty() {
        return Err(ConfigError::TokenEnvEmpty {
            profile: profile.to_owned(),
            var: var.to_owned(),
        });
    }
    Ok(Secret::new(token.to_owned()))
}

/// Output of one pipe: the bytes kept (at most the cap) and whether more were discarded.
struct Captured {
    bytes: Zeroizing<Vec<u8>>,
    overflow: bool,
}

/// Read `pipe` to its end on a thread, keeping at most `cap` bytes in zeroizing memory
/// (allocated once, so no unzeroed copy is left behind by growth).
fn capture<R: Read + Send + 'static>(mut pipe: R, cap: usize) -> mpsc::Receiver<Captured> {
    let (tx, rx) = mpsc::channel();
    thread::spawn(move || {
        let mut bytes = Zeroizing::new(Vec::with_capacity(cap));
        let mut chunk = Zeroizing::new([0u8; 4096]);
        let mut overflow = false;
        loop {
            match pipe.read(&mut chunk[..]) {
                Ok(0) => break,
                Ok(n) => {
                    let room = cap - bytes.len();
                    if n > room {
                        overflow = true;
                    }
                    bytes.extend_from_slice(&chunk[..n.min(room)]);
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(_) => break,
            }
        }
        // The receiver may be gone after a timeout; nothing to do then.
        let _ = tx.send(Captured { bytes, overflow });
    });
    rx
}

/// Kill the command and everything in its process group, then reap it.
fn kill_tree(child: &mut Child) {
    #[cfg(unix)]
    {
        // `sh -c` may have forked (pipelines, `sleep`); the group takes them all.
        let _ = Command::new("sh")
            .arg("-c")
            .arg(format!("kill -KILL -{}", child.id()))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
    }
    let _ = child.kill();
    let _ = child.wait();
}

/// The token printed by `sh -c command`, within `timeout`.
fn token_from_command(
    profile: &str,
    command: &str,
    timeout: Duration,
) -> Result<Secret, ConfigError> {
    let spawn_err = |source| ConfigError::TokenCommandSpawn {
        profile: profile.to_owned(),
        source,
    };
    let timed_out = || ConfigError::TokenCommandTimeout {
        profile: profile.to_owned(),
        timeout,
    };
    let mut cmd = Command::new("sh");
    cmd.arg("-c")
        .arg(command)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    #[cfg(unix)]
    {
        use std::os::unix::process::CommandExt;
        cmd.process_group(0);
    }
    let deadline = Instant::now() + timeout;
    let mut child = cmd.spawn().map_err(spawn_err)?;
    let pipes = child.stdout.take().zip(child.stderr.take());
    let Some((stdout, stderr)) = pipes else {
        kill_tree(&mut child);
        return Err(spawn_err(io::Error::other("no stdout/stderr pipe")));
    };
    let stdout_rx = capture(stdout, MAX_STDOUT);
    let stderr_rx = capture(stderr, MAX_STDERR);

    let status = loop {
        match child.try_wait() {
            Ok(Some(status)) => break status,
            Ok(None) if Instant::now() >= deadline => {
                kill_tree(&mut child);
                return Err(timed_out());
            }
            Ok(None) => thread::sleep(POLL_INTERVAL),
            Err(e) => {
                kill_tree(&mut child);
                return Err(spawn_err(e));
            }
        }
    };
    // Something the command started may still hold the pipes open: wait only until the deadline.
    let mut recv = |rx: &mpsc::Receiver<Captured>| {
        let left = deadline.saturating_duration_since(Instant::now());
        rx.recv_timeout(left).map_err(|_| {
            kill_tree(&mut child);
            timed_out()
        })
    };
    let out = recv(&stdout_rx)?;
    let err = recv(&stderr_rx)?;

    if !status.success() {
        return Err(ConfigError::TokenCommandFailed {
            profile: profile.to_owned(),
            status: describe_status(status),
            stderr: first_stderr_line(&err.bytes, &out.bytes),
        });
    }
    let output_err = |problem| ConfigError::TokenCommandOutput {
        profile: profile.to_owned(),
        problem,
    };
    if out.overflow {
        return Err(output_err("printed more than 64 KiB"));
    }
    let mut bytes = out.bytes;
    let text = match String::from_utf8(std::mem::take(&mut *bytes)) {
        Ok(s) => Zeroizing::new(s),
        Err(e) => {
            drop(Zeroizing::new(e.into_bytes()));
            return Err(output_err("printed text that is not UTF-8"));
        }
    };
    let token = text.trim();
    if token.is_empty() {
        return Err(output_err("printed nothing"));
    }
    Ok(Secret::new(token.to_owned()))
}

/// `exit code N`, `killed by signal N`, or the platform's wording.
fn describe_status(status: ExitStatus) -> String {
    if let Some(code) = status.code() {
        return format!("exit code {code}");
    }
    #[cfg(unix)]
    {
        use std::os::unix::process::ExitStatusExt;
        if let Some(sig) = status.signal() {
            return format!("killed by signal {sig}");
        }
    }
    status.to_string()
}

/// First non-empty line of `stderr`, shortened, with anything the command printed on
/// stdout masked out in case the command echoed its token to stderr too.
fn first_stderr_line(stderr: &[u8], stdout: &[u8]) -> String {
    let text = String::from_utf8_lossy(stderr);
    let Some(line) = text.lines().map(str::trim).find(|l| !l.is_empty()) else {
        return "no message on stderr".to_owned();
    };
    let mut line: String = line.chars().take(MAX_STDERR_LINE).collect();
    let stdout = Zeroizing::new(String::from_utf8_lossy(stdout).into_owned());
    let mut masks: Vec<&str> = stdout
        .lines()
        .map(str::trim)
        .chain(std::iter::once(stdout.trim()))
        .filter(|s| s.chars().count() >= 4)
        .collect();
    masks.sort_by_key(|s| std::cmp::Reverse(s.len()));
    for mask in masks {
        if line.contains(mask) {
            line = line.replace(mask, "[redacted]");
        }
    }
    line
}

#[cfg(test)]
mod tests {
    use super::*;

    const FULL: &str = r#"
default_profile = "prod"

[profiles.prod]
url = "https://keys.example.com"
token_env = "PROD_KEYCONSOLE_TOKEN"
danger = true

[profiles.staging]
url = "http://localhost:8080/api"
token_command = "pass show keyconsole/staging"

[clipboard]
mode = "osc52"
clear_after_seconds = 45

[ui]
reveal_seconds = 10
mouse = true

[keys]
quit = "q"
refresh = "ctrl-r"
"#;

    /// Write `text` to a fresh config file and load it.
    fn load_text(text: &str) -> (tempfile::TempDir, Result<Config, ConfigError>) {
        let dir = tempfile::tempdir().expect("should succeed");
        let path = dir.path().join("config.toml");
        fs::write(&path, text).expect("should succeed");
        let result = load(&path);
        (dir, result)
    }

    fn load_err(text: &str) -> String {
        let (_dir, result) = load_text(text);
        result.expect_err("should fail").to_string()
    }

    fn cmd_profile(cmd: &str) -> Profile {
        Profile {
            url: "https://k.example".to_owned(),
            token_env: None,
            token_command: Some(cmd.to_owned()),
            danger: false,
        }
    }

    fn env_profile(var: &str) -> Profile {
        Profile {
            url: "https://k.example".to_owned(),
            token_env: Some(var.to_owned()),
            token_command: None,
            danger: false,
        }
    }

    fn no_env(_: &str) -> Option<OsString> {
        None
    }

    #[test]
    fn missing_file_gives_defaults() {
        let dir = tempfile::tempdir().expect("should succeed");
        let config = load(&dir.path().join("nope.toml")).expect("should succeed");
        assert_eq!(config, Config::default());
        assert_eq!(config.default_profile, None);
        assert!(config.profiles.is_empty());
        assert_eq!(config.clipboard.mode, "auto");
        assert_eq!(config.clipboard.clear_after_seconds, 30);
        assert_eq!(config.ui.reveal_seconds, 20);
        assert!(!config.ui.mouse);
        assert!(config.keys.is_empty());
    }

    #[test]
    fn empty_file_gives_defaults() {
        let (_d, result) = load_text("");
        assert_eq!(result.expect("should succeed"), Config::default());
    }

    #[test]
    fn full_example_parses() {
        let (_d, result) = load_text(FULL);
        let c = result.expect("should succeed");
        assert_eq!(c.default_profile.as_deref(), Some("prod"));
        let prod = c.profile("prod").expect("should succeed");
        assert_eq!(prod.url, "https://keys.example.com");
        assert_eq!(prod.token_env.as_deref(), Some("PROD_KEYCONSOLE_TOKEN"));
        assert_eq!(prod.token_command, None);
        assert!(prod.danger);
        let staging = c.profile("staging").expect("should succeed");
        assert_eq!(
            staging.token_command.as_deref(),
            Some("pass show keyconsole/staging")
        );
        assert!(!staging.danger);
        assert_eq!(c.clipboard.mode, "osc52");
        assert_eq!(c.clipboard.clear_after_seconds, 45);
        assert_eq!(c.ui.reveal_seconds, 10);
        assert!(c.ui.mouse);
        assert_eq!(c.keys.get("quit").map(String::as_str), Some("q"));
        assert_eq!(c.keys.get("refresh").map(String::as_str), Some("ctrl-r"));
    }

    #[test]
    fn serializes_back_to_the_same_config() {
        let (_d, result) = load_text(FULL);
        let c = result.expect("should succeed");
        let text = toml::to_string(&c).expect("should succeed");
        let (_d2, again) = load_text(&text);
        assert_eq!(again.expect("should succeed"), c);
    }

    #[test]
    fn partial_sections_keep_other_defaults() {
        let (_d, result) = load_text("[clipboard]\nmode = \"off\"\n[ui]\nmouse = true\n");
        let c = result.expect("should succeed");
        assert_eq!(c.clipboard.clear_after_seconds, 30);
        assert_eq!(c.ui.reveal_seconds, 20);
    }

    #[test]
    fn unknown_profile_lists_known_names() {
        let (_d, result) = load_text(FULL);
        let c = result.expect("should succeed");
        let msg = c.profile("dev").expect_err("should fail").to_string();
        assert!(msg.contains("`dev`"), "{msg}");
        assert!(msg.contains("prod, staging"), "{msg}");
        let msg = Config::default()
            .profile("x")
            .expect_err("should fail")
            .to_string();
        assert!(msg.contains("known: none"), "{msg}");
    }

    #[test]
    fn syntax_error_names_file_line_and_column_on_one_line() {
        let dir = tempfile::tempdir().expect("should succeed");
        let path = dir.path().join("config.toml");
        fs::write(&path, "[ui]\nreveal_seconds = = 3\n").expect("should succeed");
        let err = load(&path).expect_err("should fail");
        let msg = err.to_string();
        assert!(
            matches!(err, ConfigError::Parse { line: Some(2), .. }),
            "{err:?}"
        );
        assert!(msg.contains(&path.display().to_string()), "{msg}");
        assert!(msg.contains("line 2"), "{msg}");
        assert!(!msg.contains('\n'), "{msg}");
    }

    #[test]
    fn unknown_key_is_named() {
        let msg = load_err("[ui]\nreveal_secs = 10\n");
        assert!(msg.contains("reveal_secs"), "{msg}");
        assert!(msg.contains("line 2"), "{msg}");
        let msg = load_err("colour = \"red\"\n");
        assert!(msg.contains("colour"), "{msg}");
        let msg = load_err("[profiles.p]\nurl = \"https://a\"\ntoken_env = \"T\"\ntimeout = 3\n");
        assert!(msg.contains("timeout"), "{msg}");
    }

    #[test]
    fn token_in_clear_gets_specific_message_without_value() {
        let msg = load_err("[profiles.prod]\nurl = \"https://a\"\ntoken = \"sk_live_SECRET123\"\n");
        assert!(msg.contains("profiles.prod.token"), "{msg}");
        assert!(
            msg.contains("never live in the config file in clear"),
            "{msg}"
        );
        assert!(msg.contains("token_env"), "{msg}");
        assert!(msg.contains("token_command"), "{msg}");
        assert!(!msg.contains("SECRET123"), "{msg}");
        // Also at top level and as a bare value under [profiles].
        let msg = load_err("token = \"sk_live_SECRET123\"\n");
        assert!(msg.contains("never live"), "{msg}");
        let msg = load_err("[profiles]\ntoken = \"sk_live_SECRET123\"\n");
        assert!(msg.contains("never live"), "{msg}");
        assert!(!msg.contains("SECRET123"), "{msg}");
    }

    #[test]
    fn keys_section_may_bind_an_action_named_token() {
        let (_d, result) = load_text("[keys]\ntoken = \"t\"\n");
        assert_eq!(result.expect("should succeed").keys["token"], "t");
    }

    #[test]
    fn profile_named_token_is_allowed() {
        let (_d, result) = load_text("[profiles.token]\nurl = \"https://a\"\ntoken_env = \"T\"\n");
        assert!(
            result
                .expect("should succeed")
                .profiles
                .contains_key("token")
        );
    }

    #[test]
    fn bad_url_is_refused() {
        let msg = load_err("[profiles.p]\nurl = \"keys.example.com\"\ntoken_env = \"T\"\n");
        assert!(msg.contains("profiles.p.url"), "{msg}");
        assert!(msg.contains("http://"), "{msg}");
        let msg = load_err("[profiles.p]\nurl = \"https://\"\ntoken_env = \"T\"\n");
        assert!(msg.contains("no host"), "{msg}");
        let msg = load_err("[profiles.p]\nurl = \"https://u:pw123@h\"\ntoken_env = \"T\"\n");
        assert!(msg.contains("credentials"), "{msg}");
        assert!(!msg.contains("pw123"), "{msg}");
    }

    #[test]
    fn missing_url_is_refused() {
        let msg = load_err("[profiles.p]\ntoken_env = \"T\"\n");
        assert!(msg.contains("url"), "{msg}");
    }

    #[test]
    fn both_token_sources_are_refused() {
        let msg = load_err(
            "[profiles.p]\nurl = \"https://a\"\ntoken_env = \"T\"\ntoken_command = \"echo x\"\n",
        );
        assert!(msg.contains("profiles.p"), "{msg}");
        assert!(msg.contains("exactly one"), "{msg}");
    }

    #[test]
    fn no_token_source_is_refused() {
        let msg = load_err("[profiles.p]\nurl = \"https://a\"\n");
        assert!(msg.contains("profiles.p"), "{msg}");
        assert!(
            msg.contains("exactly one of token_env or token_command"),
            "{msg}"
        );
    }

    #[test]
    fn empty_token_sources_are_refused() {
        let msg = load_err("[profiles.p]\nurl = \"https://a\"\ntoken_env = \"\"\n");
        assert!(msg.contains("token_env"), "{msg}");
        let msg = load_err("[profiles.p]\nurl = \"https://a\"\ntoken_command = \"  \"\n");
        assert!(msg.contains("token_command"), "{msg}");
    }

    #[test]
    fn default_profile_must_exist() {
        let msg = load_err(
            "default_profile = \"prd\"\n[profiles.prod]\nurl = \"https://a\"\ntoken_env = \"T\"\n",
        );
        assert!(msg.contains("default_profile"), "{msg}");
        assert!(msg.contains("`prd`"), "{msg}");
        assert!(msg.contains("prod"), "{msg}");
    }

    #[test]
    fn theme_colours_and_ascii_are_read_and_a_bad_colour_names_its_key() {
        let (_d, result) = load_text(
            "[ui]\nascii = true\n[theme]\naccent = \"bright-magenta\"\nselection = \"#303030\"\n",
        );
        let c = result.expect("valid");
        assert_eq!(c.ui.ascii, Some(true));
        let p = c.theme.palette().expect("palette");
        assert_eq!(p.accent, ratatui::style::Color::LightMagenta);
        assert_eq!(
            p.selection,
            Some(ratatui::style::Color::Rgb(0x30, 0x30, 0x30))
        );
        let (_d, result) = load_text("");
        assert_eq!(
            result.expect("empty").ui.ascii,
            None,
            "unset: from the locale"
        );
        let msg = load_err("[theme]\nwarn = \"orange\"\n");
        assert!(
            msg.contains("`theme.warn`") && msg.contains("orange") && msg.contains("#rrggbb"),
            "{msg}"
        );
        let msg = load_err("[theme]\naccent = \"#12\"\n");
        assert!(msg.contains("`theme.accent`"), "{msg}");
        let msg = load_err("[theme]\naccnet = \"red\"\n");
        assert!(msg.contains("accnet"), "an unknown key is named: {msg}");
    }

    #[test]
    fn seconds_out_of_range_are_refused() {
        for (text, field) in [
            (
                "[clipboard]\nclear_after_seconds = 4\n",
                "clipboard.clear_after_seconds",
            ),
            (
                "[clipboard]\nclear_after_seconds = 601\n",
                "clipboard.clear_after_seconds",
            ),
            ("[ui]\nreveal_seconds = 4\n", "ui.reveal_seconds"),
            ("[ui]\nreveal_seconds = 121\n", "ui.reveal_seconds"),
            ("[ui]\nrefresh_seconds = 4\n", "ui.refresh_seconds"),
            ("[ui]\nrefresh_seconds = 3601\n", "ui.refresh_seconds"),
        ] {
            let msg = load_err(text);
            assert!(msg.contains(field), "{msg}");
        }
        for text in [
            "[clipboard]\nclear_after_seconds = 5\n",
            "[clipboard]\nclear_after_seconds = 600\n",
            "[ui]\nreveal_seconds = 5\n",
            "[ui]\nreveal_seconds = 120\n",
            "[ui]\nrefresh_seconds = 0\n",
            "[ui]\nrefresh_seconds = 5\n",
            "[ui]\nrefresh_seconds = 3600\n",
        ] {
            let (_d, result) = load_text(text);
            assert!(result.is_ok(), "{text}");
        }
        let msg = load_err("[ui]\nreveal_seconds = -1\n");
        assert!(msg.contains("config file"), "{msg}");
    }

    #[test]
    fn clipboard_mode_must_be_known() {
        let msg = load_err("[clipboard]\nmode = \"x11\"\n");
        assert!(msg.contains("clipboard.mode"), "{msg}");
        assert!(msg.contains("auto, osc52, native, off"), "{msg}");
        for mode in CLIPBOARD_MODES {
            let (_d, result) = load_text(&format!("[clipboard]\nmode = \"{mode}\"\n"));
            assert!(result.is_ok(), "{mode}");
        }
    }

    #[test]
    fn empty_key_spec_is_refused() {
        let msg = load_err("[keys]\nquit = \"\"\n");
        assert!(msg.contains("keys.quit"), "{msg}");
    }

    #[test]
    fn unreadable_path_is_a_read_error() {
        let dir = tempfile::tempdir().expect("should succeed");
        let err = load(dir.path()).expect_err("should fail");
        assert!(matches!(err, ConfigError::Read { .. }), "{err:?}");
    }

    #[test]
    fn path_overrides() {
        assert_eq!(
            config_path_from(Some(OsString::from("/x/c.toml"))).expect("should succeed"),
            PathBuf::from("/x/c.toml")
        );
        assert_eq!(
            data_dir_from(Some(OsString::from("/x/data"))).expect("should succeed"),
            PathBuf::from("/x/data")
        );
        // Without an override: the platform location, or the NoHome hint.
        match config_path_from(Some(OsString::new())) {
            Ok(p) => assert!(p.ends_with("keyconsole/config.toml"), "{}", p.display()),
            Err(e) => assert!(e.to_string().contains("KEYCONSOLE_CONFIG")),
        }
        match data_dir_from(None) {
            Ok(p) => assert!(p.ends_with("keyconsole"), "{}", p.display()),
            Err(e) => assert!(e.to_string().contains("KEYCONSOLE_DATA_DIR")),
        }
        let e = ConfigError::NoHome {
            what: "data dir",
            var: DATA_DIR_ENV,
        };
        assert!(e.to_string().contains("set KEYCONSOLE_DATA_DIR"));
    }

    #[test]
    fn token_from_env_var() {
        let fake = "sk_live_envTOKEN42";
        let getenv =
            |v: &str| (v == "KC_TEST_TOKEN_9F3A").then(|| OsString::from(format!("  {fake}\n")));
        let p = env_profile("KC_TEST_TOKEN_9F3A");
        let secret =
            resolve_token_with("p", &p, TOKEN_COMMAND_TIMEOUT, &getenv).expect("should succeed");
        assert_eq!(secret.expose(), fake);
        assert!(!format!("{secret:?}").contains(fake));
    }

    #[test]
    fn token_from_real_environment() {
        // The process environment is only read: PATH is always set and non-empty.
        let path = std::env::var("PATH").expect("should succeed");
        let secret = resolve_token("p", &env_profile("PATH")).expect("should succeed");
        assert_eq!(secret.expose(), path.trim());
        // A uniquely named variable that nobody sets.
        let err =
            resolve_token("p", &env_profile("KC_TEST_UNSET_7C1D0E")).expect_err("should fail");
        assert!(matches!(err, ConfigError::TokenEnvUnset { .. }), "{err:?}");
        assert!(err.to_string().contains("KC_TEST_UNSET_7C1D0E"));
    }

    #[test]
    fn token_env_unset_or_empty_names_variable_not_value() {
        let p = env_profile("KC_TEST_TOKEN_B7");
        let err = resolve_token_with("prod", &p, TOKEN_COMMAND_TIMEOUT, &no_env)
            .expect_err("should fail");
        let msg = err.to_string();
        assert!(
            msg.contains("KC_TEST_TOKEN_B7") && msg.contains("`prod`"),
            "{msg}"
        );
        assert!(msg.contains("not set"), "{msg}");
        let blank = |_: &str| Some(OsString::from(" \n"));
        let err =
            resolve_token_with("prod", &p, TOKEN_COMMAND_TIMEOUT, &blank).expect_err("should fail");
        assert!(matches!(err, ConfigError::TokenEnvEmpty { .. }), "{err:?}");
        assert!(err.to_string().contains("KC_TEST_TOKEN_B7"));
    }

    #[cfg(unix)]
    #[test]
    fn token_env_not_unicode() {
        use std::os::unix::ffi::OsStringExt;
        let bad = |_: &str| Some(OsString::from_vec(vec![b's', b'k', 0xff]));
        let p = env_profile("KC_TEST_TOKEN_C8");
        let err =
            resolve_token_with("p", &p, TOKEN_COMMAND_TIMEOUT, &bad).expect_err("should fail");
        assert!(
            matches!(err, ConfigError::TokenEnvNotUnicode { .. }),
            "{err:?}"
        );
    }

    #[test]
    fn token_from_command_is_trimmed() {
        let secret =
            resolve_token("p", &cmd_profile("printf 'sk_live_abc\\n'")).expect("should succeed");
        assert_eq!(secret.expose(), "sk_live_abc");
    }

    #[test]
    fn command_failure_quotes_status_and_stderr_never_stdout() {
        let fake = "sk_live_STDOUTLEAK77";
        let cmd = format!("printf '{fake}\\n'; echo 'gpg: decryption failed' >&2; exit 3");
        let err = resolve_token("prod", &cmd_profile(&cmd)).expect_err("should fail");
        let msg = err.to_string();
        let dbg = format!("{err:?}");
        assert!(
            matches!(err, ConfigError::TokenCommandFailed { .. }),
            "{dbg}"
        );
        assert!(msg.contains("`prod`"), "{msg}");
        assert!(msg.contains("exit code 3"), "{msg}");
        assert!(msg.contains("gpg: decryption failed"), "{msg}");
        assert!(!msg.contains(fake), "{msg}");
        assert!(!dbg.contains(fake), "{dbg}");
    }

    #[test]
    fn command_failure_masks_a_token_echoed_to_stderr() {
        let fake = "sk_live_ECHOED99";
        let cmd = format!("printf '{fake}\\n'; echo 'got {fake}, rejecting' >&2; exit 1");
        let err = resolve_token("p", &cmd_profile(&cmd)).expect_err("should fail");
        let msg = err.to_string();
        assert!(!msg.contains(fake), "{msg}");
        assert!(msg.contains("[redacted]"), "{msg}");
        assert!(!format!("{err:?}").contains(fake));
    }

    #[test]
    fn command_failure_without_stderr() {
        let err = resolve_token("p", &cmd_profile("exit 2")).expect_err("should fail");
        let msg = err.to_string();
        assert!(msg.contains("exit code 2"), "{msg}");
        assert!(msg.contains("no message on stderr"), "{msg}");
    }

    #[test]
    fn command_with_empty_output_is_refused() {
        let err = resolve_token("p", &cmd_profile("printf '\\n  \\n'")).expect_err("should fail");
        assert!(
            matches!(err, ConfigError::TokenCommandOutput { .. }),
            "{err:?}"
        );
        assert!(err.to_string().contains("printed nothing"));
    }

    #[test]
    fn command_stdin_is_null() {
        // `cat` on a null stdin ends at once with no output.
        let err = resolve_token("p", &cmd_profile("cat")).expect_err("should fail");
        assert!(
            matches!(err, ConfigError::TokenCommandOutput { .. }),
            "{err:?}"
        );
    }

    #[test]
    fn command_timeout_kills_it() {
        let start = Instant::now();
        let p = cmd_profile("printf 'sk_live_partial\\n'; sleep 30");
        let err = resolve_token_with("p", &p, Duration::from_millis(200), &no_env)
            .expect_err("should fail");
        assert!(
            matches!(err, ConfigError::TokenCommandTimeout { .. }),
            "{err:?}"
        );
        assert!(
            start.elapsed() < Duration::from_secs(5),
            "{:?}",
            start.elapsed()
        );
        let msg = err.to_string();
        assert!(msg.contains("0.2s"), "{msg}");
        assert!(!msg.contains("sk_live_partial"), "{msg}");
    }

    #[test]
    fn command_timeout_covers_background_children_holding_the_pipe() {
        let start = Instant::now();
        let p = cmd_profile("sleep 30 & printf 'tok\\n'");
        let err = resolve_token_with("p", &p, Duration::from_millis(200), &no_env)
            .expect_err("should fail");
        assert!(
            matches!(err, ConfigError::TokenCommandTimeout { .. }),
            "{err:?}"
        );
        assert!(start.elapsed() < Duration::from_secs(5));
    }

    #[test]
    fn profile_without_exactly_one_source_cannot_resolve() {
        let mut p = env_profile("T");
        p.token_command = Some("echo x".to_owned());
        let err = resolve_token("p", &p).expect_err("should fail");
        assert!(matches!(err, ConfigError::NoTokenSource { .. }), "{err:?}");
    }

    #[test]
    fn no_error_shows_the_token() {
        let fake = "sk_live_NEVERSHOWN_5150";
        let getenv = |_: &str| Some(OsString::from(fake));
        let errors = [
            resolve_token_with(
                "p",
                &cmd_profile(&format!("printf '{fake}'; echo oops >&2; exit 4")),
                TOKEN_COMMAND_TIMEOUT,
                &getenv,
            )
            .expect_err("should fail"),
            resolve_token_with(
                "p",
                &cmd_profile(&format!("printf '{fake}'; sleep 30")),
                Duration::from_millis(200),
                &getenv,
            )
            .expect_err("should fail"),
            {
                let (_d, r) = load_text(&format!(
                    "[profiles.p]\nurl = \"https://a\"\ntoken = \"{fake}\"\n"
                ));
                r.expect_err("should fail")
            },
            {
                let (_d, r) = load_text(&format!(
                    "[profiles.p]\nurl = \"https://a\"\ntoken = {fake}\n"
                ));
                r.expect_err("should fail")
            },
        ];
        for (i, err) in errors.iter().enumerate() {
            let msg = err.to_string();
            let dbg = format!("{err:?}");
            assert!(!msg.contains(fake), "{i}: {msg}");
            assert!(!dbg.contains(fake), "{i}: {dbg}");
        }
        // A successful resolution's Debug is redacted too.
        let s = resolve_token_with("p", &env_profile("X"), TOKEN_COMMAND_TIMEOUT, &getenv)
            .expect("should succeed");
        assert!(!format!("{s:?}").contains(fake));
    }
}
