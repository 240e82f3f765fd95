//! Clipboard access for the console: copying API key ids and, once, a freshly
//! created secret, and clearing them again afterwards.
//!
//! This module owns the choice between the system clipboard (via `arboard`) and
//! OSC 52 escape sequences written to the terminal (which also works over SSH),
//! the tmux passthrough wrapping of those sequences, a small base64 encoder for
//! them, and compare-then-clear of what it copied.
//!
//! It may use `std` (including `std::process::Command` to ask tmux about
//! `allow-passthrough`), `arboard`, `sha2`, `zeroize` and `thiserror`, nothing
//! else. It never writes to stdout or stderr and never logs: OSC 52 sequences
//! go only to the writer handed to [`Clipboard::new`]. Copied text is never
//! stored; only its SHA-256 digest is remembered, so that a later
//! [`Clipboard::clear`] can tell whether the clipboard still holds our text.

use std::fmt;
use std::io::Write;
use std::process::{Command, Stdio};

use sha2::{Digest as _, Sha256};
use zeroize::Zeroizing;

/// How the console should reach a clipboard (the user's setting).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ClipboardMode {
    /// Over SSH use OSC 52; locally try the system clipboard and fall back to OSC 52.
    #[default]
    Auto,
    /// Always write OSC 52 sequences to the terminal.
    Osc52,
    /// Always use the system clipboard; fail if it is unavailable.
    Native,
    /// Never copy anything.
    Off,
}

impl ClipboardMode {
    /// Parses `"auto"`, `"osc52"`, `"native"` or `"off"` (ASCII case-insensitive,
    /// surrounding whitespace ignored); anything else gives `None`.
    pub fn parse(s: &str) -> Option<Self> {
        let s = s.trim();
        [
            ("auto", Self::Auto),
            ("osc52", Self::Osc52),
            ("native", Self::Native),
            ("off", Self::Off),
        ]
        .into_iter()
        .find(|(name, _)| s.eq_ignore_ascii_case(name))
        .map(|(_, mode)| mode)
    }

    /// The setting's name as accepted by [`ClipboardMode::parse`].
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Auto => "auto",
            Self::Osc52 => "osc52",
            Self::Native => "native",
            Self::Off => "off",
        }
    }
}

impl fmt::Display for ClipboardMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What the process runs inside, as far as clipboard access is concerned.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Environment {
    /// Running in an SSH session (`SSH_CONNECTION` or `SSH_TTY` is set).
    pub ssh: bool,
    /// Running inside tmux (`TMUX` is set).
    pub tmux: bool,
    /// Inside tmux and tmux forwards DCS passthrough (`allow-passthrough` is
    /// `on` or `all`). Always false when `tmux` is false.
    pub tmux_passthrough: bool,
    /// Inside tmux and tmux accepts OSC 52 from programs (`set-clipboard on`): it then
    /// keeps the text in a paste buffer. With `external` or `off` tmux drops the sequence.
    pub tmux_set_clipboard: bool,
}

impl Environment {
    /// Looks at the real process environment. When inside tmux it runs
    /// `tmux show -gv allow-passthrough` and `tmux show -gv set-clipboard`; any failure
    /// counts as "off". Only the global options are consulted, not per-pane ones.
    pub fn detect() -> Self {
        let get = |name: &str| std::env::var_os(name).map(|v| v.to_string_lossy().into_owned());
        let in_tmux = Self::from_vars(get, false).tmux;
        let passthrough = in_tmux && tmux_option_is("allow-passthrough", &["on", "all"]);
        let mut env = Self::from_vars(get, passthrough);
        env.tmux_set_clipboard = in_tmux && tmux_option_is("set-clipboard", &["on"]);
        env
    }

    /// Builds an environment from a variable lookup (`get(name)` returns the
    /// variable's value) and whether tmux allows passthrough. A variable set to
    /// the empty string counts as unset; `tmux_passthrough` is ignored outside tmux.
    pub fn from_vars(get: impl Fn(&str) -> Option<String>, tmux_passthrough: bool) -> Self {
        let set = |name: &str| get(name).is_some_and(|v| !v.is_empty());
        let tmux = set("TMUX");
        Self {
            ssh: set("SSH_CONNECTION") || set("SSH_TTY"),
            tmux,
            tmux_passthrough: tmux && tmux_passthrough,
            tmux_set_clipboard: false,
        }
    }
}

/// Asks the tmux server whether a global option has one of these values; false on any failure.
fn tmux_option_is(option: &str, values: &[&str]) -> bool {
    Command::new("tmux")
        .args(["show", "-gv", option])
        .stdin(Stdio::null())
        .stderr(Stdio::null())
        .output()
        .ok()
        .filter(|out| out.status.success())
        .is_some_and(|out| values.contains(&String::from_utf8_lossy(&out.stdout).trim()))
}

/// tmux's paste buffers as this module needs them; production runs `tmux`, tests use a fake.
trait TmuxBuffers: Send {
    /// Names of the paste buffers.
    fn names(&mut self) -> Result<Vec<String>, String>;
    /// One buffer's content (zeroized when dropped).
    fn content(&mut self, name: &str) -> Result<Zeroizing<Vec<u8>>, String>;
    /// Delete one buffer.
    fn delete(&mut self, name: &str) -> Result<(), String>;
}

/// The `tmux` command of the server this process runs in (`$TMUX`).
struct TmuxCommand;

impl TmuxCommand {
    fn run(args: &[&str]) -> Result<Zeroizing<Vec<u8>>, String> {
        let out = Command::new("tmux")
            .args(args)
            .stdin(Stdio::null())
            .stderr(Stdio::null())
            .output()
            .map_err(|e| e.kind().to_string())?;
        let stdout = Zeroizing::new(out.stdout);
        if out.status.success() {
            Ok(stdout)
        } else {
            Err(format!(
                "tmux {} failed",
                args.first().copied().unwrap_or("")
            ))
        }
    }
}

impl TmuxBuffers for TmuxCommand {
    fn names(&mut self) -> Result<Vec<String>, String> {
        let out = Self::run(&["list-buffers", "-F", "#{buffer_name}"])?;
        Ok(String::from_utf8_lossy(&out)
            .lines()
            .map(str::to_owned)
            .filter(|l| !l.is_empty())
            .collect())
    }

    fn content(&mut self, name: &str) -> Result<Zeroizing<Vec<u8>>, String> {
        Self::run(&["show-buffer", "-b", name])
    }

    fn delete(&mut self, name: &str) -> Result<(), String> {
        Self::run(&["delete-buffer", "-b", name]).map(|_| ())
    }
}

/// How a copy actually reached a clipboard.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    /// The system clipboard of the machine this process runs on.
    Native,
    /// A plain OSC 52 sequence written to the terminal.
    Osc52,
    /// An OSC 52 sequence wrapped in tmux DCS passthrough.
    Osc52TmuxPassthrough,
    /// A plain OSC 52 sequence inside tmux with `set-clipboard on`: tmux keeps the text in
    /// a paste buffer (and passes it on to the terminal when the terminal supports it).
    TmuxBuffer,
}

impl Method {
    /// What the copy did, in words that claim nothing unconfirmed (fits a toast at 80 columns
    /// with a short prefix).
    pub fn copied(self) -> &'static str {
        match self {
            Self::Native => "copied to the system clipboard",
            Self::Osc52 => "sent by OSC 52 (not all terminals accept it)",
            Self::Osc52TmuxPassthrough => "sent by OSC 52 via tmux (not all terminals accept it)",
            Self::TmuxBuffer => "copied into a tmux paste buffer",
        }
    }

    /// What the clear will do: a verb phrase for "… in 30s".
    pub fn clear_phrase(self) -> &'static str {
        match self {
            Self::Native => "clipboard clears",
            Self::Osc52 | Self::Osc52TmuxPassthrough => "overwritten",
            Self::TmuxBuffer => "tmux buffer deleted",
        }
    }
}

impl fmt::Display for Method {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Native => "system clipboard",
            Self::Osc52 => "OSC 52",
            Self::Osc52TmuxPassthrough => "OSC 52 via tmux passthrough",
            Self::TmuxBuffer => "tmux paste buffer",
        })
    }
}

/// What [`Clipboard::copy`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CopyReport {
    /// Where the text went.
    pub method: Method,
    /// Something the user should be told (at most once per [`Clipboard`] for
    /// each kind of warning). Never contains the copied text.
    pub warning: Option<String>,
}

/// What [`Clipboard::clear`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClearOutcome {
    /// The clipboard still held our text and was cleared.
    Cleared,
    /// The clipboard holds something else now (the user copied it), so it was not touched.
    LeftAlone,
    /// The clipboard cannot be read back (OSC 52), so an empty OSC 52 was sent, which
    /// most terminals take as "empty the clipboard"; whether this one did cannot be known.
    Overwritten,
    /// The tmux paste buffers holding our copies were deleted (how many). With
    /// `set-clipboard on` tmux may also have passed the text to the terminal's clipboard,
    /// which cannot be cleared from inside tmux.
    TmuxBuffersDeleted(usize),
    /// No tmux paste buffer holds our copy any more (deleted or pushed out by newer ones).
    TmuxBufferGone,
    /// Nothing of ours is pending.
    NothingToClear,
}

/// Why a copy or clear failed. Messages never contain the copied text.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ClipboardError {
    /// The clipboard mode is `off`.
    #[error("clipboard is turned off")]
    Disabled,
    /// The system clipboard could not be opened, read, written or cleared.
    #[error("system clipboard unavailable: {0}")]
    Native(String),
    /// Writing the OSC 52 sequence to the terminal failed.
    #[error("could not write to the terminal: {0}")]
    Write(String),
    /// Inside tmux with `set-clipboard` not `on` and no passthrough: tmux drops OSC 52, so
    /// nothing would arrive. Nothing was sent.
    #[error("tmux drops OSC 52 here; nothing copied (tmux set -g set-clipboard on)")]
    TmuxDropsOsc52,
    /// Deleting tmux's copy failed.
    #[error("tmux paste buffer: {0}")]
    Tmux(String),
}

/// The one-time warning when tmux keeps a copy (fits 80 columns).
pub const TMUX_WARNING: &str =
    "tmux keeps a copy in a paste buffer; the console deletes it when it clears";

/// Returns the OSC 52 sequence that puts `text` on the terminal's clipboard:
/// `ESC ] 52 ; c ; <base64> BEL`. With `tmux_passthrough` it is wrapped for tmux
/// as `ESC P tmux ; <sequence with every ESC doubled> ESC \`.
///
/// With an empty `text` the payload is empty, which most terminals (xterm,
/// kitty, WezTerm, foot, ...) treat as "clear/overwrite the clipboard".
/// tmux itself ignores an empty OSC 52, so only the passthrough form reaches the
/// outer terminal. The result contains `text` (base64-encoded): treat it as secret.
pub fn osc52_sequence(text: &str, tmux_passthrough: bool) -> String {
    let payload = base64_encode(text.as_bytes());
    let (head, tail) = if tmux_passthrough {
        // The base64 payload and BEL contain no ESC, so only the leading ESC
        // of the inner sequence needs doubling.
        ("\x1bPtmux;\x1b\x1b]52;c;", "\x07\x1b\\")
    } else {
        ("\x1b]52;c;", "\x07")
    };
    let mut seq = String::with_capacity(head.len() + payload.len() + tail.len());
    seq.push_str(head);
    seq.push_str(&payload);
    seq.push_str(tail);
    seq
}

const BASE64_ALPHABET: &[u8; 64] =
    b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/// Standard base64 (RFC 4648 section 4) with `=` padding.
fn base64_encode(input: &[u8]) -> Zeroizing<String> {
    // Exact capacity: the buffer never reallocates, so no stray copy is left behind.
    let mut out = Zeroizing::new(String::with_capacity(input.len().div_ceil(3) * 4));
    let symbol = |n: u32, shift: u32| char::from(BASE64_ALPHABET[((n >> shift) & 0x3f) as usize]);
    for chunk in input.chunks(3) {
        let byte = |i: usize| u32::from(chunk.get(i).copied().unwrap_or(0));
        let n = (byte(0) << 16) | (byte(1) << 8) | byte(2);
        out.push(symbol(n, 18));
        out.push(symbol(n, 12));
        out.push(if chunk.len() > 1 { symbol(n, 6) } else { '=' });
        out.push(if chunk.len() > 2 { symbol(n, 0) } else { '=' });
    }
    out
}

fn fingerprint(text: &str) -> [u8; 32] {
    Sha256::digest(text.as_bytes()).into()
}

/// The system clipboard as this module needs it; production uses arboard,
/// tests use an in-memory fake.
trait NativeBackend: Send {
    fn set_text(&mut self, text: &str) -> Result<(), String>;
    /// `Ok(None)` when the clipboard holds no text (empty, or e.g. an image).
    fn get_text(&mut self) -> Result<Option<Zeroizing<String>>, String>;
    fn clear(&mut self) -> Result<(), String>;
}

type NativeOpener = Box<dyn FnMut() -> Result<Box<dyn NativeBackend>, String> + Send>;

struct Arboard(arboard::Clipboard);

impl Arboard {
    fn open() -> Result<Box<dyn NativeBackend>, String> {
        arboard::Clipboard::new()
            .map(|c| Box::new(Arboard(c)) as Box<dyn NativeBackend>)
            .map_err(|e| e.to_string())
    }
}

/// Asks clipboard-history tools not to record what we set (API keys).
#[cfg(all(
    unix,
    not(any(target_os = "macos", target_os = "android", target_os = "emscripten"))
))]
fn private_set(set: arboard::Set<'_>) -> arboard::Set<'_> {
    use arboard::SetExtLinux as _;
    set.exclude_from_history()
}

/// Asks clipboard-history tools not to record what we set (API keys).
#[cfg(target_os = "macos")]
fn private_set(set: arboard::Set<'_>) -> arboard::Set<'_> {
    use arboard::SetExtApple as _;
    set.exclude_from_history()
}

/// Keeps what we set out of clipboard history and the cloud clipboard.
#[cfg(windows)]
fn private_set(set: arboard::Set<'_>) -> arboard::Set<'_> {
    use arboard::SetExtWindows as _;
    set.exclude_from_monitoring()
}

#[cfg(not(any(
    windows,
    target_os = "macos",
    all(
        unix,
        not(any(target_os = "macos", target_os = "android", target_os = "emscripten"))
    )
)))]
fn private_set(set: arboard::Set<'_>) -> arboard::Set<'_> {
    set
}

impl NativeBackend for Arboard {
    fn set_text(&mut self, text: &str) -> Result<(), String> {
        private_set(self.0.set())
            .text(text)
            .map_err(|e| e.to_string())
    }

    fn get_text(&mut self) -> Result<Option<Zeroizing<String>>, String> {
        match self.0.get_text() {
            Ok(text) => Ok(Some(Zeroizing::new(text))),
            Err(arboard::Error::ContentNotAvailable) => Ok(None),
            Err(e) => Err(e.to_string()),
        }
    }

    fn clear(&mut self) -> Result<(), String> {
        self.0.clear().map_err(|e| e.to_string())
    }
}

enum NativeState {
    Unopened,
    Open(Box<dyn NativeBackend>),
    Failed(String),
}

/// The lazily opened system clipboard.
struct Native {
    opener: NativeOpener,
    state: NativeState,
}

impl Native {
    /// Opens the backend on first use; a failure to open is remembered, not retried.
    fn backend(&mut self) -> Result<&mut dyn NativeBackend, String> {
        if matches!(self.state, NativeState::Unopened) {
            self.state = match (self.opener)() {
                Ok(backend) => NativeState::Open(backend),
                Err(e) => NativeState::Failed(e),
            };
        }
        match &mut self.state {
            NativeState::Open(backend) => Ok(backend.as_mut()),
            NativeState::Failed(e) => Err(e.clone()),
            NativeState::Unopened => Err("not opened".to_owned()),
        }
    }

    fn state_name(&self) -> &'static str {
        match self.state {
            NativeState::Unopened => "unopened",
            NativeState::Open(_) => "open",
            NativeState::Failed(_) => "failed",
        }
    }
}

/// What we last copied: its digest (never the text) and where it went.
struct Pending {
    digest: Zeroizing<[u8; 32]>,
    method: Method,
}

/// Copies text to the clipboard chosen by a [`ClipboardMode`] and clears it again.
///
/// Keep one `Clipboard` for the life of the program: on X11 the system clipboard
/// content is served by this process and may vanish when it exits (unless a
/// clipboard manager takes it over), and the "warn once" state lives here.
/// Only the most recent copy is tracked for [`Clipboard::clear`].
pub struct Clipboard {
    mode: ClipboardMode,
    env: Environment,
    out: Box<dyn Write + Send>,
    native: Native,
    /// Auto mode gave up on the system clipboard and uses OSC 52 from now on.
    auto_use_osc52: bool,
    pending: Option<Pending>,
    tmux_warned: bool,
    tmux: Box<dyn TmuxBuffers>,
    /// Digests of the secrets copied into tmux paste buffers and not yet deleted.
    tmux_secrets: Vec<Zeroizing<[u8; 32]>>,
}

impl fmt::Debug for Clipboard {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Clipboard")
            .field("mode", &self.mode)
            .field("env", &self.env)
            .field("native", &self.native.state_name())
            .field("auto_use_osc52", &self.auto_use_osc52)
            .field("pending", &self.pending.as_ref().map(|p| p.method))
            .field("tmux_warned", &self.tmux_warned)
            .field("tmux_secrets", &self.tmux_secrets.len())
            .finish_non_exhaustive()
    }
}

impl Clipboard {
    /// Creates a clipboard; never fails. `out` receives OSC 52 sequences and
    /// should be the terminal (e.g. `Box::new(std::io::stdout())`); it is flushed
    /// after every sequence. The system clipboard is only opened on first use.
    pub fn new(mode: ClipboardMode, env: Environment, out: Box<dyn Write + Send>) -> Self {
        Self::with_backends(
            mode,
            env,
            out,
            Box::new(Arboard::open),
            Box::new(TmuxCommand),
        )
    }

    fn with_backends(
        mode: ClipboardMode,
        env: Environment,
        out: Box<dyn Write + Send>,
        opener: NativeOpener,
        tmux: Box<dyn TmuxBuffers>,
    ) -> Self {
        Self {
            mode,
            env,
            out,
            native: Native {
                opener,
                state: NativeState::Unopened,
            },
            auto_use_osc52: false,
            pending: None,
            tmux_warned: false,
            tmux,
            tmux_secrets: Vec::new(),
        }
    }

    /// Like [`Clipboard::copy`], for a secret: a copy that lands in a tmux paste buffer is
    /// remembered until [`Clipboard::clear`] deletes that buffer, even after later copies.
    /// The one-time tmux warning goes with the first such secret: only secrets are deleted
    /// from tmux's buffers on clear, so only of them can the warning say so.
    pub fn copy_secret(&mut self, text: &str) -> Result<CopyReport, ClipboardError> {
        let mut report = self.copy(text)?;
        if report.method == Method::TmuxBuffer {
            self.tmux_secrets.push(Zeroizing::new(fingerprint(text)));
            if !self.tmux_warned {
                self.tmux_warned = true;
                report.warning = Some(match report.warning.take() {
                    Some(w) => format!("{w}; {TMUX_WARNING}"),
                    None => TMUX_WARNING.to_owned(),
                });
            }
        }
        Ok(report)
    }

    /// Copies `text` and remembers its SHA-256 digest and the method used.
    ///
    /// `Off` fails with [`ClipboardError::Disabled`]; `Native` uses only the
    /// system clipboard; `Osc52` writes OSC 52 (tmux passthrough form when tmux
    /// allows it); `Auto` uses OSC 52 over SSH and otherwise the system
    /// clipboard, falling back to OSC 52 for good the first time that fails.
    /// On error the previously pending copy (if any) stays pending.
    pub fn copy(&mut self, text: &str) -> Result<CopyReport, ClipboardError> {
        let mut warnings: Vec<String> = Vec::new();
        let method = match self.mode {
            ClipboardMode::Off => return Err(ClipboardError::Disabled),
            ClipboardMode::Native => {
                self.native_set(text).map_err(ClipboardError::Native)?;
                Method::Native
            }
            ClipboardMode::Osc52 => self.osc52_copy(text)?,
            ClipboardMode::Auto if self.env.ssh || self.auto_use_osc52 => self.osc52_copy(text)?,
            ClipboardMode::Auto => match self.native_set(text) {
                Ok(()) => Method::Native,
                Err(e) => {
                    self.auto_use_osc52 = true;
                    let method = self.osc52_copy(text)?;
                    warnings.insert(
                        0,
                        format!(
                            "system clipboard unavailable ({e}); using OSC 52, \
                             which needs terminal support"
                        ),
                    );
                    method
                }
            },
        };
        self.pending = Some(Pending {
            digest: Zeroizing::new(fingerprint(text)),
            method,
        });
        let warning = (!warnings.is_empty()).then(|| warnings.join("; "));
        Ok(CopyReport { method, warning })
    }

    /// Removes what we copied, if it may still be there, then forgets it.
    ///
    /// System clipboard: read it back and clear it only if it still holds our
    /// text ([`ClearOutcome::Cleared`]), else leave the user's newer content alone
    /// ([`ClearOutcome::LeftAlone`]). OSC 52 cannot be read back, so an empty
    /// OSC 52 is sent ([`ClearOutcome::Overwritten`]); this overwrites whatever
    /// the terminal clipboard holds. tmux ignores an empty OSC 52, so inside tmux without
    /// passthrough the paste buffers holding our secrets are found by digest and deleted
    /// ([`ClearOutcome::TmuxBuffersDeleted`]). On error the copy stays pending.
    pub fn clear(&mut self) -> Result<ClearOutcome, ClipboardError> {
        let tmux = self.delete_tmux_secrets();
        let Some(pending) = self.pending.take() else {
            return match tmux {
                Ok(0) => Ok(ClearOutcome::NothingToClear),
                Ok(n) => Ok(ClearOutcome::TmuxBuffersDeleted(n)),
                Err(e) => Err(e),
            };
        };
        let result = match pending.method {
            Method::TmuxBuffer => match tmux {
                Ok(0) => Ok(ClearOutcome::TmuxBufferGone),
                Ok(n) => Ok(ClearOutcome::TmuxBuffersDeleted(n)),
                Err(e) => Err(e),
            },
            Method::Native => self
                .native_clear_if_ours(&pending.digest)
                .map_err(ClipboardError::Native),
            Method::Osc52 => self
                .write_osc52("", false)
                .map(|()| ClearOutcome::Overwritten),
            Method::Osc52TmuxPassthrough => self
                .write_osc52("", true)
                .map(|()| ClearOutcome::Overwritten),
        };
        if result.is_err() {
            self.pending = Some(pending);
        }
        result
    }

    /// True while something we copied may still be on a clipboard (copied and
    /// not yet successfully cleared).
    pub fn has_pending(&self) -> bool {
        self.pending.is_some() || !self.tmux_secrets.is_empty()
    }

    /// Deletes every tmux paste buffer that holds one of our secrets (compared by digest,
    /// so the user's own buffers are left alone); how many were deleted.
    fn delete_tmux_secrets(&mut self) -> Result<usize, ClipboardError> {
        if self.tmux_secrets.is_empty() {
            return Ok(0);
        }
        let names = self.tmux.names().map_err(ClipboardError::Tmux)?;
        let mut deleted = 0;
        for name in names {
            let content = self.tmux.content(&name).map_err(ClipboardError::Tmux)?;
            let digest: [u8; 32] = Sha256::digest(&content[..]).into();
            if self.tmux_secrets.iter().any(|d| **d == digest) {
                self.tmux.delete(&name).map_err(ClipboardError::Tmux)?;
                deleted += 1;
            }
        }
        self.tmux_secrets.clear();
        Ok(deleted)
    }

    fn native_set(&mut self, text: &str) -> Result<(), String> {
        self.native.backend()?.set_text(text)
    }

    fn native_clear_if_ours(&mut self, digest: &[u8; 32]) -> Result<ClearOutcome, String> {
        let backend = self.native.backend()?;
        match backend.get_text()? {
            Some(current) if fingerprint(&current) == *digest => {
                backend.clear()?;
                Ok(ClearOutcome::Cleared)
            }
            _ => Ok(ClearOutcome::LeftAlone),
        }
    }

    /// Sends `text` by OSC 52 in the form the environment needs.
    fn osc52_copy(&mut self, text: &str) -> Result<Method, ClipboardError> {
        let passthrough = self.env.tmux && self.env.tmux_passthrough;
        if self.env.tmux && !passthrough && !self.env.tmux_set_clipboard {
            return Err(ClipboardError::TmuxDropsOsc52);
        }
        self.write_osc52(text, passthrough)?;
        if passthrough {
            return Ok(Method::Osc52TmuxPassthrough);
        }
        if self.env.tmux {
            return Ok(Method::TmuxBuffer);
        }
        Ok(Method::Osc52)
    }

    fn write_osc52(&mut self, text: &str, passthrough: bool) -> Result<(), ClipboardError> {
        let seq = Zeroizing::new(osc52_sequence(text, passthrough));
        self.out
            .write_all(seq.as_bytes())
            .and_then(|()| self.out.flush())
            // Only the error kind: a writer's custom message could echo data.
            .map_err(|e| ClipboardError::Write(e.kind().to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io;
    use std::sync::{Arc, Mutex};

    const SECRET: &str = "kc_live_s3cr3t-VALUE-0123456789";

    #[derive(Clone, Default)]
    struct SharedBuf(Arc<Mutex<Vec<u8>>>);

    impl SharedBuf {
        fn take(&self) -> String {
            String::from_utf8(std::mem::take(&mut *self.0.lock().expect("lock")))
                .expect("should succeed")
        }
    }

    impl Write for SharedBuf {
        fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
            self.0.lock().expect("lock").extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    struct FailingWriter;

    impl Write for FailingWriter {
        fn write(&mut self, _buf: &[u8]) -> io::Result<usize> {
            Err(io::Error::new(io::ErrorKind::BrokenPipe, SECRET))
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    #[derive(Default)]
    struct FakeState {
        content: Option<String>,
        fail_open: bool,
        fail_set: bool,
        opens: usize,
        sets: usize,
    }

    #[derive(Clone, Default)]
    struct Fake(Arc<Mutex<FakeState>>);

    impl Fake {
        fn failing_open() -> Self {
            let fake = Self::default();
            fake.0.lock().expect("lock").fail_open = true;
            fake
        }
        fn state(&self) -> std::sync::MutexGuard<'_, FakeState> {
            self.0.lock().expect("lock")
        }
        fn opener(&self) -> NativeOpener {
            let fake = self.clone();
            Box::new(move || {
                let mut st = fake.0.lock().expect("lock");
                st.opens += 1;
                if st.fail_open {
                    Err("no display".to_owned())
                } else {
                    Ok(Box::new(fake.clone()) as Box<dyn NativeBackend>)
                }
            })
        }
    }

    impl NativeBackend for Fake {
        fn set_text(&mut self, text: &str) -> Result<(), String> {
            let mut st = self.0.lock().expect("lock");
            st.sets += 1;
            if st.fail_set {
                return Err("clipboard occupied".to_owned());
            }
            st.content = Some(text.to_owned());
            Ok(())
        }
        fn get_text(&mut self) -> Result<Option<Zeroizing<String>>, String> {
            Ok(self
                .0
                .lock()
                .expect("lock")
                .content
                .clone()
                .map(Zeroizing::new))
        }
        fn clear(&mut self) -> Result<(), String> {
            self.0.lock().expect("lock").content = None;
            Ok(())
        }
    }

    /// tmux with `set-clipboard on` when inside tmux (the setting that makes OSC 52 work).
    fn env(ssh: bool, tmux: bool, passthrough: bool) -> Environment {
        Environment {
            ssh,
            tmux,
            tmux_passthrough: tmux && passthrough,
            tmux_set_clipboard: tmux,
        }
    }

    /// tmux's paste buffers, in memory: `(name, content)`.
    #[derive(Clone, Default)]
    struct FakeTmux(Arc<Mutex<Vec<(String, String)>>>);

    impl FakeTmux {
        fn push(&self, content: &str) {
            let mut b = self.0.lock().expect("lock");
            let name = format!("buffer{:04}", b.len());
            b.push((name, content.to_owned()));
        }
        fn contents(&self) -> Vec<String> {
            self.0
                .lock()
                .expect("lock")
                .iter()
                .map(|(_, c)| c.clone())
                .collect()
        }
    }

    impl TmuxBuffers for FakeTmux {
        fn names(&mut self) -> Result<Vec<String>, String> {
            Ok(self
                .0
                .lock()
                .expect("lock")
                .iter()
                .map(|(n, _)| n.clone())
                .collect())
        }
        fn content(&mut self, name: &str) -> Result<Zeroizing<Vec<u8>>, String> {
            self.0
                .lock()
                .expect("lock")
                .iter()
                .find(|(n, _)| n == name)
                .map(|(_, c)| Zeroizing::new(c.as_bytes().to_vec()))
                .ok_or_else(|| "no buffer".to_owned())
        }
        fn delete(&mut self, name: &str) -> Result<(), String> {
            self.0.lock().expect("lock").retain(|(n, _)| n != name);
            Ok(())
        }
    }

    fn clipboard(mode: ClipboardMode, env: Environment, fake: &Fake) -> (Clipboard, SharedBuf) {
        clipboard_tmux(mode, env, fake, &FakeTmux::default())
    }

    fn clipboard_tmux(
        mode: ClipboardMode,
        env: Environment,
        fake: &Fake,
        tmux: &FakeTmux,
    ) -> (Clipboard, SharedBuf) {
        let buf = SharedBuf::default();
        let cb = Clipboard::with_backends(
            mode,
            env,
            Box::new(buf.clone()),
            fake.opener(),
            Box::new(tmux.clone()),
        );
        (cb, buf)
    }

    #[test]
    fn inside_tmux_without_set_clipboard_nothing_is_sent_or_claimed() {
        let fake = Fake::default();
        let e = Environment {
            tmux_set_clipboard: false,
            ..env(true, true, false)
        };
        let (mut cb, buf) = clipboard(ClipboardMode::Osc52, e, &fake);
        assert_eq!(cb.copy(SECRET), Err(ClipboardError::TmuxDropsOsc52));
        assert_eq!(buf.take(), "", "the secret must not be written for nothing");
        assert!(!cb.has_pending());
        let msg = ClipboardError::TmuxDropsOsc52.to_string();
        assert!(msg.contains("nothing copied") && msg.len() <= 70, "{msg}");
        // With passthrough the outer terminal gets it whatever set-clipboard says.
        let e = Environment {
            tmux_set_clipboard: false,
            ..env(true, true, true)
        };
        let (mut cb, _buf) = clipboard(ClipboardMode::Osc52, e, &fake);
        assert_eq!(
            cb.copy(SECRET).map(|r| r.method),
            Ok(Method::Osc52TmuxPassthrough)
        );
    }

    #[test]
    fn tmux_paste_buffers_holding_our_secrets_are_deleted_on_clear() {
        let fake = Fake::default();
        let tmux = FakeTmux::default();
        let (mut cb, _buf) =
            clipboard_tmux(ClipboardMode::Osc52, env(true, true, false), &fake, &tmux);
        tmux.push("the user's own buffer");
        // Two secrets and then a key id: tmux (set-clipboard on) keeps each in a buffer.
        for text in ["sk_live_first", "sk_live_second"] {
            let r = cb.copy_secret(text).expect("copy");
            assert_eq!(r.method, Method::TmuxBuffer);
            tmux.push(text);
        }
        cb.copy("pk_live_id").expect("copy");
        tmux.push("pk_live_id");
        assert!(cb.has_pending());
        assert_eq!(cb.clear(), Ok(ClearOutcome::TmuxBuffersDeleted(2)));
        assert_eq!(tmux.contents(), vec!["the user's own buffer", "pk_live_id"]);
        assert!(!cb.has_pending());

        // The buffer was deleted by hand meanwhile: say so, never "cleared".
        cb.copy_secret("sk_live_third").expect("copy");
        assert_eq!(cb.clear(), Ok(ClearOutcome::TmuxBufferGone));
        cb.copy_secret("sk_live_fourth").expect("copy");
        tmux.push("sk_live_fourth");
        assert_eq!(cb.clear(), Ok(ClearOutcome::TmuxBuffersDeleted(1)));
        assert!(!tmux.contents().iter().any(|c| c.starts_with("sk_")));
    }

    #[test]
    fn every_message_fits_a_toast_at_80_columns() {
        for m in [
            Method::Native,
            Method::Osc52,
            Method::Osc52TmuxPassthrough,
            Method::TmuxBuffer,
        ] {
            let line = format!("Secret {}; {} in 30s", m.copied(), m.clear_phrase());
            assert!(line.chars().count() <= 80, "{line}");
        }
        assert!(TMUX_WARNING.chars().count() <= 80);
        assert!(
            !Method::Osc52.copied().contains("copied"),
            "OSC 52 cannot be confirmed"
        );
    }

    #[test]
    fn base64_rfc4648_vectors() {
        let vectors = [
            ("", ""),
            ("f", "Zg=="),
            ("fo", "Zm8="),
            ("foo", "Zm9v"),
            ("foob", "Zm9vYg=="),
            ("fooba", "Zm9vYmE="),
            ("foobar", "Zm9vYmFy"),
        ];
        for (input, expected) in vectors {
            assert_eq!(
                base64_encode(input.as_bytes()).as_str(),
                expected,
                "{input:?}"
            );
        }
    }

    #[test]
    fn base64_full_alphabet_and_binary() {
        assert_eq!(base64_encode(&[0xfb, 0xff]).as_str(), "+/8=");
        assert_eq!(base64_encode(&[0x00, 0x00, 0x00]).as_str(), "AAAA");
        assert_eq!(base64_encode(&[0xff, 0xff, 0xff]).as_str(), "////");
        // Every 6-bit value in order: 0x00 0x10 0x83 ... encodes to the alphabet.
        let mut bytes = Vec::new();
        for group in (0u32..64).collect::<Vec<_>>().chunks(4) {
            let n = (group[0] << 18) | (group[1] << 12) | (group[2] << 6) | group[3];
            bytes.extend_from_slice(&[(n >> 16) as u8, (n >> 8) as u8, n as u8]);
        }
        assert_eq!(base64_encode(&bytes).as_bytes(), BASE64_ALPHABET.as_slice());
        assert_eq!(base64_encode("é€".as_bytes()).as_str(), "w6nigqw=");
    }

    #[test]
    fn osc52_plain_is_byte_exact() {
        assert_eq!(
            osc52_sequence("foobar", false).as_bytes(),
            b"\x1b]52;c;Zm9vYmFy\x07"
        );
        assert_eq!(osc52_sequence("", false).as_bytes(), b"\x1b]52;c;\x07");
    }

    #[test]
    fn osc52_tmux_passthrough_is_byte_exact() {
        assert_eq!(
            osc52_sequence("foobar", true).as_bytes(),
            b"\x1bPtmux;\x1b\x1b]52;c;Zm9vYmFy\x07\x1b\\"
        );
        assert_eq!(
            osc52_sequence("", true).as_bytes(),
            b"\x1bPtmux;\x1b\x1b]52;c;\x07\x1b\\"
        );
        // Equals the generic rule: plain sequence with every ESC doubled, wrapped.
        let plain = osc52_sequence("foobar", false);
        let wrapped = format!("\x1bPtmux;{}\x1b\\", plain.replace('\x1b', "\x1b\x1b"));
        assert_eq!(osc52_sequence("foobar", true), wrapped);
    }

    #[test]
    fn mode_parse() {
        assert_eq!(ClipboardMode::parse("auto"), Some(ClipboardMode::Auto));
        assert_eq!(ClipboardMode::parse("osc52"), Some(ClipboardMode::Osc52));
        assert_eq!(ClipboardMode::parse("native"), Some(ClipboardMode::Native));
        assert_eq!(ClipboardMode::parse("off"), Some(ClipboardMode::Off));
        assert_eq!(ClipboardMode::parse(" OSC52 "), Some(ClipboardMode::Osc52));
        assert_eq!(ClipboardMode::parse("osc 52"), None);
        assert_eq!(ClipboardMode::parse(""), None);
        for mode in [
            ClipboardMode::Auto,
            ClipboardMode::Osc52,
            ClipboardMode::Native,
            ClipboardMode::Off,
        ] {
            assert_eq!(ClipboardMode::parse(&mode.to_string()), Some(mode));
        }
    }

    #[test]
    fn environment_from_vars() {
        let from_vars_env = |ssh, tmux, passthrough| Environment {
            tmux_set_clipboard: false,
            ..env(ssh, tmux, passthrough)
        };
        let vars = |pairs: &'static [(&'static str, &'static str)]| {
            move |name: &str| {
                pairs
                    .iter()
                    .find(|(k, _)| *k == name)
                    .map(|(_, v)| (*v).to_owned())
            }
        };
        assert_eq!(
            Environment::from_vars(vars(&[]), true),
            from_vars_env(false, false, false)
        );
        assert_eq!(
            Environment::from_vars(vars(&[("SSH_CONNECTION", "1.2.3.4 5 6.7.8.9 22")]), false),
            from_vars_env(true, false, false)
        );
        assert_eq!(
            Environment::from_vars(vars(&[("SSH_TTY", "/dev/pts/3")]), false),
            from_vars_env(true, false, false)
        );
        assert_eq!(
            Environment::from_vars(vars(&[("TMUX", "/tmp/tmux-0/default,1,0")]), true),
            from_vars_env(false, true, true)
        );
        assert_eq!(
            Environment::from_vars(vars(&[("TMUX", "/tmp/tmux-0/default,1,0")]), false),
            from_vars_env(false, true, false)
        );
        assert_eq!(
            Environment::from_vars(vars(&[("TMUX", ""), ("SSH_TTY", "")]), true),
            from_vars_env(false, false, false)
        );
    }

    #[test]
    fn method_display() {
        assert_eq!(Method::Native.to_string(), "system clipboard");
        assert_eq!(Method::Osc52.to_string(), "OSC 52");
        assert_eq!(
            Method::Osc52TmuxPassthrough.to_string(),
            "OSC 52 via tmux passthrough"
        );
    }

    #[test]
    fn method_choice_table_with_native_unavailable() {
        for mode in [
            ClipboardMode::Auto,
            ClipboardMode::Osc52,
            ClipboardMode::Native,
            ClipboardMode::Off,
        ] {
            for ssh in [false, true] {
                for tmux in [false, true] {
                    for passthrough in [false, true] {
                        let e = env(ssh, tmux, passthrough);
                        let case = format!("{mode} ssh={ssh} tmux={tmux} pt={passthrough}");
                        let fake = Fake::failing_open();
                        let (mut cb, buf) = clipboard(mode, e, &fake);
                        let result = cb.copy_secret("foobar");
                        let osc_method = if tmux && passthrough {
                            Method::Osc52TmuxPassthrough
                        } else if tmux {
                            Method::TmuxBuffer
                        } else {
                            Method::Osc52
                        };
                        match mode {
                            ClipboardMode::Off => {
                                assert_eq!(result, Err(ClipboardError::Disabled), "{case}");
                                assert_eq!(fake.state().opens, 0, "{case}");
                            }
                            ClipboardMode::Native => {
                                assert!(matches!(result, Err(ClipboardError::Native(_))), "{case}");
                                assert_eq!(fake.state().opens, 1, "{case}");
                            }
                            ClipboardMode::Osc52 | ClipboardMode::Auto => {
                                let report = result.expect("should succeed");
                                assert_eq!(report.method, osc_method, "{case}");
                                let tried_native = mode == ClipboardMode::Auto && !ssh;
                                assert_eq!(fake.state().opens, usize::from(tried_native), "{case}");
                                let warning = report.warning.unwrap_or_default();
                                assert_eq!(
                                    warning.contains("paste buffer"),
                                    tmux && !passthrough,
                                    "{case}"
                                );
                                assert_eq!(
                                    warning.contains("system clipboard unavailable"),
                                    tried_native,
                                    "{case}"
                                );
                            }
                        }
                        let sends_osc52 =
                            matches!(mode, ClipboardMode::Auto | ClipboardMode::Osc52);
                        let expected_out = if sends_osc52 {
                            osc52_sequence("foobar", tmux && passthrough)
                        } else {
                            String::new()
                        };
                        assert_eq!(buf.take(), expected_out, "{case}");
                        assert_eq!(cb.has_pending(), sends_osc52, "{case}");
                    }
                }
            }
        }
    }

    #[test]
    fn method_choice_with_native_available() {
        for (mode, ssh, expected) in [
            (ClipboardMode::Auto, false, Method::Native),
            (ClipboardMode::Auto, true, Method::Osc52),
            (ClipboardMode::Native, false, Method::Native),
            (ClipboardMode::Native, true, Method::Native),
            (ClipboardMode::Osc52, false, Method::Osc52),
        ] {
            let fake = Fake::default();
            let (mut cb, buf) = clipboard(mode, env(ssh, false, false), &fake);
            let report = cb.copy("foobar").expect("should succeed");
            assert_eq!(report.method, expected, "{mode} ssh={ssh}");
            assert_eq!(report.warning, None);
            let native = expected == Method::Native;
            assert_eq!(fake.state().content.is_some(), native);
            assert_eq!(buf.take().is_empty(), native);
        }
    }

    #[test]
    fn native_is_opened_lazily_and_once() {
        let fake = Fake::default();
        let (mut cb, _buf) = clipboard(ClipboardMode::Native, env(false, false, false), &fake);
        assert_eq!(fake.state().opens, 0);
        cb.copy("a").expect("should succeed");
        cb.copy("b").expect("should succeed");
        assert_eq!(fake.state().opens, 1);
        assert_eq!(fake.state().sets, 2);
    }

    #[test]
    fn tmux_warning_appears_once() {
        let fake = Fake::default();
        let (mut cb, buf) = clipboard(ClipboardMode::Osc52, env(false, true, false), &fake);
        let first = cb.copy_secret("one").expect("should succeed");
        assert_eq!(first.method, Method::TmuxBuffer);
        assert_eq!(first.warning.as_deref(), Some(TMUX_WARNING));
        let second = cb.copy_secret("two").expect("should succeed");
        assert_eq!(second.method, Method::TmuxBuffer);
        assert_eq!(second.warning, None);
        assert_eq!(
            buf.take(),
            format!(
                "{}{}",
                osc52_sequence("one", false),
                osc52_sequence("two", false)
            )
        );

        // Auto over SSH in tmux behaves the same.
        let (mut cb, _buf) = clipboard(ClipboardMode::Auto, env(true, true, false), &fake);
        assert!(
            cb.copy_secret("one")
                .expect("should succeed")
                .warning
                .is_some()
        );
        assert!(
            cb.copy_secret("two")
                .expect("should succeed")
                .warning
                .is_none()
        );

        // A key id or a cURL command is not deleted from tmux on clear: no word about it,
        // and the one warning is kept for the first secret.
        let (mut cb, _buf) = clipboard(ClipboardMode::Osc52, env(false, true, false), &fake);
        let id = cb.copy("pk_live_x").expect("should succeed");
        assert_eq!((id.method, id.warning), (Method::TmuxBuffer, None));
        assert_eq!(
            cb.copy_secret("one")
                .expect("should succeed")
                .warning
                .as_deref(),
            Some(TMUX_WARNING)
        );

        // With passthrough there is nothing to warn about.
        let (mut cb, _buf) = clipboard(ClipboardMode::Osc52, env(false, true, true), &fake);
        assert_eq!(cb.copy_secret("one").expect("should succeed").warning, None);
    }

    #[test]
    fn auto_falls_back_to_osc52_when_native_open_fails() {
        let fake = Fake::failing_open();
        let (mut cb, buf) = clipboard(ClipboardMode::Auto, env(false, false, false), &fake);
        let first = cb.copy("foobar").expect("should succeed");
        assert_eq!(first.method, Method::Osc52);
        assert!(
            first
                .warning
                .expect("should succeed")
                .contains("system clipboard unavailable")
        );
        assert_eq!(buf.take(), osc52_sequence("foobar", false));
        let second = cb.copy("foobar").expect("should succeed");
        assert_eq!(second.method, Method::Osc52);
        assert_eq!(second.warning, None);
        assert_eq!(fake.state().opens, 1, "arboard must not be retried");
    }

    #[test]
    fn auto_falls_back_to_osc52_when_native_set_fails() {
        let fake = Fake::default();
        fake.state().fail_set = true;
        let (mut cb, buf) = clipboard(ClipboardMode::Auto, env(false, false, false), &fake);
        assert_eq!(
            cb.copy("one").expect("should succeed").method,
            Method::Osc52
        );
        assert_eq!(
            cb.copy("two").expect("should succeed").method,
            Method::Osc52
        );
        assert_eq!(fake.state().sets, 1, "arboard must not be retried");
        assert_eq!(
            buf.take(),
            format!(
                "{}{}",
                osc52_sequence("one", false),
                osc52_sequence("two", false)
            )
        );
        assert_eq!(cb.clear(), Ok(ClearOutcome::Overwritten));
        assert_eq!(buf.take(), osc52_sequence("", false));
    }

    #[test]
    fn native_clear_when_unchanged() {
        let fake = Fake::default();
        let (mut cb, _buf) = clipboard(ClipboardMode::Auto, env(false, false, false), &fake);
        assert!(!cb.has_pending());
        cb.copy(SECRET).expect("should succeed");
        assert!(cb.has_pending());
        assert_eq!(fake.state().content.as_deref(), Some(SECRET));
        assert_eq!(cb.clear(), Ok(ClearOutcome::Cleared));
        assert_eq!(fake.state().content, None);
        assert!(!cb.has_pending());
        assert_eq!(cb.clear(), Ok(ClearOutcome::NothingToClear));
    }

    #[test]
    fn native_clear_leaves_changed_content_alone() {
        let fake = Fake::default();
        let (mut cb, _buf) = clipboard(ClipboardMode::Native, env(false, false, false), &fake);
        cb.copy(SECRET).expect("should succeed");
        fake.state().content = Some("something the user copied".to_owned());
        assert_eq!(cb.clear(), Ok(ClearOutcome::LeftAlone));
        assert_eq!(
            fake.state().content.as_deref(),
            Some("something the user copied")
        );
        assert!(!cb.has_pending());

        // Empty / non-text clipboard: nothing of ours is there either.
        cb.copy(SECRET).expect("should succeed");
        fake.state().content = None;
        assert_eq!(cb.clear(), Ok(ClearOutcome::LeftAlone));
    }

    #[test]
    fn clear_compares_against_the_latest_copy() {
        let fake = Fake::default();
        let (mut cb, _buf) = clipboard(ClipboardMode::Native, env(false, false, false), &fake);
        cb.copy("first").expect("should succeed");
        cb.copy("second").expect("should succeed");
        fake.state().content = Some("first".to_owned());
        assert_eq!(cb.clear(), Ok(ClearOutcome::LeftAlone));
        assert_eq!(fake.state().content.as_deref(), Some("first"));
    }

    #[test]
    fn osc52_clear_writes_empty_sequence() {
        for passthrough in [false, true] {
            let fake = Fake::default();
            let (mut cb, buf) = clipboard(
                ClipboardMode::Osc52,
                env(true, passthrough, passthrough),
                &fake,
            );
            cb.copy(SECRET).expect("should succeed");
            buf.take();
            assert_eq!(cb.clear(), Ok(ClearOutcome::Overwritten));
            assert_eq!(buf.take(), osc52_sequence("", passthrough));
            assert!(!cb.has_pending());
            assert_eq!(cb.clear(), Ok(ClearOutcome::NothingToClear));
            assert_eq!(buf.take(), "");
        }
    }

    #[test]
    fn nothing_to_clear() {
        let fake = Fake::default();
        for mode in [ClipboardMode::Auto, ClipboardMode::Off] {
            let (mut cb, buf) = clipboard(mode, env(false, false, false), &fake);
            assert_eq!(cb.clear(), Ok(ClearOutcome::NothingToClear));
            assert_eq!(buf.take(), "");
        }
        assert_eq!(fake.state().opens, 0);
    }

    #[test]
    fn write_failure_keeps_state_and_hides_text() {
        let fake = Fake::default();
        let mut cb = Clipboard::with_backends(
            ClipboardMode::Osc52,
            env(true, false, false),
            Box::new(FailingWriter),
            fake.opener(),
            Box::new(FakeTmux::default()),
        );
        let err = cb.copy(SECRET).expect_err("should fail");
        assert!(matches!(err, ClipboardError::Write(_)));
        assert!(!err.to_string().contains(SECRET));
        assert!(!format!("{err:?}").contains(SECRET));
        assert!(!cb.has_pending());
    }

    #[test]
    fn clear_failure_keeps_pending() {
        let buf = SharedBuf::default();
        let mut cb = Clipboard::with_backends(
            ClipboardMode::Osc52,
            env(true, false, false),
            Box::new(buf),
            Fake::default().opener(),
            Box::new(FakeTmux::default()),
        );
        cb.copy(SECRET).expect("should succeed");
        cb.out = Box::new(FailingWriter);
        assert!(matches!(cb.clear(), Err(ClipboardError::Write(_))));
        assert!(cb.has_pending());
    }

    #[test]
    fn debug_never_shows_copied_text() {
        let encoded = base64_encode(SECRET.as_bytes());
        let digest: String = fingerprint(SECRET)
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        for mode in [
            ClipboardMode::Auto,
            ClipboardMode::Osc52,
            ClipboardMode::Native,
        ] {
            let fake = Fake::default();
            let (mut cb, _buf) = clipboard(mode, env(false, true, false), &fake);
            let report = cb.copy(SECRET).expect("should succeed");
            for shown in [format!("{cb:?}"), format!("{cb:#?}"), format!("{report:?}")] {
                assert!(!shown.contains(SECRET), "{shown}");
                assert!(!shown.contains(encoded.as_str()), "{shown}");
                assert!(!shown.contains(&digest), "{shown}");
            }
            assert!(format!("{cb:?}").contains("pending: Some("));
        }
    }

    #[test]
    fn error_display_never_shows_copied_text() {
        let fake = Fake::failing_open();
        let (mut native, _b1) = clipboard(ClipboardMode::Native, env(false, false, false), &fake);
        let (mut off, _b2) = clipboard(ClipboardMode::Off, env(false, false, false), &fake);
        let fake_set = Fake::default();
        fake_set.state().fail_set = true;
        let (mut set_fails, _b3) =
            clipboard(ClipboardMode::Native, env(false, false, false), &fake_set);
        for err in [
            native.copy(SECRET).expect_err("should fail"),
            off.copy(SECRET).expect_err("should fail"),
            set_fails.copy(SECRET).expect_err("should fail"),
        ] {
            let shown = format!("{err} {err:?}");
            assert!(!shown.contains(SECRET), "{shown}");
            assert!(!shown.contains(base64_encode(SECRET.as_bytes()).as_str()));
        }
        assert_eq!(
            ClipboardError::Disabled.to_string(),
            "clipboard is turned off"
        );
    }
}
