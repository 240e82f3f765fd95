//! Console state, its vocabulary ([`Action`]) and [`App::update`], which turns an action into
//! new state and side effects ([`Command`]s). No I/O here: commands are data that
//! `tui::tasks` runs, sending past-tense actions (`KeysLoaded`, `KeyCreated`, …) back.

pub mod audit;
pub mod bulk;
pub mod domains;
pub mod filter;
pub mod form;
pub mod hygiene;
pub mod keys;
pub mod layout;
pub mod messages;
pub mod modal;
pub mod palette;
mod refresh;
mod results;
pub mod review;
pub mod scopes;
pub mod session;
pub mod support;
pub mod tester;
pub mod undo;
mod update;
pub mod usage;

pub mod wizard;

use std::time::Duration;

use chrono::{DateTime, Utc};
use tokio::time::Instant;
use tui_input::{Input, InputRequest};

use crate::api::{
    App as ApiApp, AuditEntry, AuthEvent, BucketSize, CreateKeyRequest, CreateKeyResponse,
    KeyObject, KeyUsage, ListKeysQuery, MeResponse, OrgUsage, Page, ScopesResponse,
    UpdateKeyRequest,
};
use crate::client::ClientError;
use crate::domain::key::Secret;
use crate::domain::scope::Catalog;

use audit::AuditTab;
use domains::DomainsTab;
use keys::KeysState;
use modal::Modal;
use scopes::ScopesTab;
use usage::UsageTab;

/// Plain words for a refusal from the server.
pub fn explain(e: &UiError) -> String {
    match e.code.as_deref() {
        Some("insufficient_scope") => format!("Refused (insufficient_scope): {}", e.message),
        Some("conflict") if e.message == crate::domain::decision::LAST_OWNER_MESSAGE => {
            "Refused: this is the organization's last enabled owner key (scopes *); without it \
             nobody could manage keys. Create another owner key first."
                .to_owned()
        }
        Some("version_mismatch") => {
            "Someone changed this key meanwhile. Press Ctrl-r to reload, then retry.".to_owned()
        }
        Some(code) => format!("{} ({code})", e.message),
        None => e.message.clone(),
    }
}

/// Something loaded from the server.
#[derive(Debug, Clone, Default)]
pub enum Loadable<T> {
    /// Not asked for yet.
    #[default]
    Idle,
    /// In flight.
    Loading,
    /// Here.
    Ready(T),
    /// Failed.
    Failed(UiError),
}

impl<T> Loadable<T> {
    /// The value, when ready.
    pub fn ready(&self) -> Option<&T> {
        match self {
            Loadable::Ready(v) => Some(v),
            _ => None,
        }
    }

    /// From a task result.
    pub fn from_result(r: Result<T, UiError>) -> Loadable<T> {
        match r {
            Ok(v) => Loadable::Ready(v),
            Err(e) => Loadable::Failed(e),
        }
    }
}

/// A failed call, in a form the UI can keep and show.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UiError {
    /// One line for a toast or a panel.
    pub message: String,
    /// The server's code, when it sent one.
    pub code: Option<String>,
    /// HTTP status, when there was an answer.
    pub status: Option<u16>,
    /// Request id, for support.
    pub request_id: Option<String>,
    /// Nothing answered at the URL.
    pub unreachable: bool,
}

impl UiError {
    /// A local error.
    pub fn local(message: impl Into<String>) -> UiError {
        UiError {
            message: message.into(),
            code: None,
            status: None,
            request_id: None,
            unreachable: false,
        }
    }
}

impl From<ClientError> for UiError {
    fn from(e: ClientError) -> UiError {
        let (message, code) = match &e {
            ClientError::Api { body, .. } => {
                (body.error.message.clone(), Some(body.error.code.clone()))
            }
            other => (other.to_string(), None),
        };
        UiError {
            message,
            code,
            status: e.status(),
            request_id: e.request_id().map(str::to_owned),
            unreachable: e.is_unreachable(),
        }
    }
}

/// Result of a task.
pub type TaskResult<T> = Result<T, UiError>;

/// The tabs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Tab {
    /// 1: keys.
    Keys,
    /// 2: scopes.
    Scopes,
    /// 3: allowed domains.
    Domains,
    /// 4: usage.
    Usage,
    /// 5: audit log.
    Audit,
    /// 6: access review.
    Review,
}

impl Tab {
    /// All tabs in order.
    pub const ALL: [Tab; 6] = [
        Tab::Keys,
        Tab::Scopes,
        Tab::Domains,
        Tab::Usage,
        Tab::Audit,
        Tab::Review,
    ];

    /// Title.
    pub fn title(self) -> &'static str {
        match self {
            Tab::Keys => "Keys",
            Tab::Scopes => "Scopes",
            Tab::Domains => "Domains",
            Tab::Usage => "Usage",
            Tab::Audit => "Audit",
            Tab::Review => "Review",
        }
    }

    /// Position (0-based).
    pub fn index(self) -> usize {
        Tab::ALL.iter().position(|t| *t == self).unwrap_or(0)
    }
}

/// Where the console is connected.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Session {
    /// Profile name (`local` for the embedded service).
    pub profile: String,
    /// Base URL.
    pub url: String,
    /// A production profile: reversed badge, typed confirmations.
    pub danger: bool,
    /// The embedded service with demo data.
    pub demo: bool,
}

/// Console settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Settings {
    /// How long `v` shows a secret.
    pub reveal: Duration,
    /// When a copied secret is cleared from the clipboard.
    pub clipboard_clear: Duration,
    /// Debounce before a typed filter is sent to the server.
    pub debounce: Duration,
    /// How often the key list on screen is loaded again (zero: never); see
    /// [`App::auto_refresh`].
    pub refresh: Duration,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            reveal: Duration::from_secs(20),
            clipboard_clear: Duration::from_secs(30),
            debounce: Duration::from_millis(250),
            refresh: Duration::from_secs(30),
        }
    }
}

/// Connection state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Conn {
    /// Checking the server and token.
    Connecting,
    /// Working.
    Ready,
    /// The server or token failed; the screen says what to do.
    Failed(UiError),
}

/// A one-line message in the toast row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Toast {
    /// Text (never a secret).
    pub text: String,
    /// An error rather than information.
    pub error: bool,
    /// Hide after this instant.
    pub until: Instant,
}

/// Which line input the crumb row is editing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LineKind {
    /// `/` filter.
    Filter,
    /// `:` command line.
    Command,
}

/// Timers the console sets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TimerKind {
    /// Re-mask a revealed secret.
    RevealHide(u64),
    /// Clear a copied secret from the clipboard.
    ClipboardClear(u64),
    /// Send the typed filter to the server.
    FilterDebounce(u64),
    /// Refresh the rotation monitor.
    Monitor(u64),
    /// Re-mask the bulk reveal.
    BulkHide(u64),
    /// Load the key list on screen again (`Settings::refresh`).
    AutoRefresh(u64),
}

/// What a copy was of.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CopyWhat {
    /// A key id (not secret).
    KeyId(String),
    /// A secret: cleared after the delay and on quit.
    Secret(Secret),
    /// Other text that holds no secret (e.g. a cURL line with `$API_KEY`).
    Text(String),
    /// A reply for a customer about a refused request (`support::customer_reply`).
    Reply(String),
}

/// What a copy did, in words that claim nothing the console cannot confirm.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CopyDone {
    /// What was copied, for the message ("Secret", "Key id pk_…"); never a secret.
    pub what: String,
    /// e.g. "copied to the system clipboard", "sent by OSC 52 (not all terminals accept it)".
    pub how: String,
    /// What the clear will do, for "… in 30s": "clipboard clears", "tmux buffer deleted".
    pub clears: String,
    /// A one-time warning (tmux keeps a copy), if any.
    pub warning: Option<String>,
}

/// The UI's whole vocabulary: what keys mean, and what tasks report back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// Leave the console (warns if something is pending).
    Quit,
    /// Leave at once (Ctrl-c).
    ForceQuit,
    /// Next tab.
    NextTab,
    /// Previous tab.
    PrevTab,
    /// Go to a tab.
    GoTab(Tab),
    /// Move up.
    Up,
    /// Move down.
    Down,
    /// Page up.
    PageUp,
    /// Page down.
    PageDown,
    /// First row.
    Top,
    /// Last row.
    Bottom,
    /// Open details / confirm the focused thing.
    Enter,
    /// Close / go back / clear the filter.
    Back,
    /// Reload the current view (and retry a failed connection).
    Refresh,
    /// Start typing a filter.
    StartFilter,
    /// Open the `:` command line.
    StartCommand,
    /// Show help for what works here.
    Help,
    /// Open the message log (every status message, whole, with its time).
    Messages,
    /// Create a key.
    NewKey,
    /// Edit the selected key.
    EditKey,
    /// Enable or disable the selected key.
    ToggleEnabled,
    /// Delete the selected key.
    DeleteKey,
    /// Copy the selected key's id (never a secret).
    CopyId,
    /// Cycle the sort order.
    CycleSort,
    /// Support lookup: copy a reply for the customer (no secret).
    CopyReply,
    /// Keys tab: reverse the order's direction.
    ReverseSort,
    /// A click on the row at this position of the tab's list (Keys, Audit, Scopes, Usage):
    /// it is selected, and a click on the selected row opens it as Enter does.
    SelectRow(usize),
    /// A click on a row of the Scopes tab's holders pane: it is picked (the pane takes the
    /// focus), and a click on the picked row opens the key as Enter does.
    SelectHolder(usize),
    /// Next focus (forms) / next panel.
    NextField,
    /// Previous focus / previous panel.
    PrevField,
    /// Cycle an option left.
    Left,
    /// Cycle an option right.
    Right,
    /// Toggle the item under the cursor (checklists).
    Toggle,
    /// Save the edit in progress.
    Save,
    /// Reveal the secret for a while.
    Reveal,
    /// Copy the secret shown in the reveal modal.
    CopySecret,
    /// Answer yes in a confirmation.
    Yes,
    /// Answer no in a confirmation.
    No,
    /// Edit the focused text input.
    Edit(InputRequest),
    /// Pasted text (bracketed paste).
    Paste(String),
    /// Scopes tab: edit the selected key's scopes.
    EditScopes,
    /// Scopes tab: which keys hold the scope under the cursor.
    WhoHolds,
    /// Domains tab: add a domain.
    AddDomain,
    /// Domains tab: remove the domain under the cursor.
    RemoveDomain,
    /// Domains tab: focus the Origin checker.
    CheckOrigin,
    /// Usage tab: cycle minute / hour / day.
    CycleBucket,
    /// Audit tab: only the selected key's entries (toggle).
    FilterAuditKey,
    /// Audit tab: cycle the action filter.
    CycleAuditAction,
    /// Audit tab: only entries by the selected row's actor (toggle).
    FilterAuditActor,
    /// Undo a change: the selected Audit entry, or the selected key's latest one (the diff
    /// first, then one confirmation).
    Undo,
    /// Open the rotation wizard (or the monitor of a rotation in progress).
    RotateKey,
    /// Mark the selected key for a bulk action.
    Mark,
    /// Rotate the marked keys.
    BulkRotate,
    /// Write the bulk secrets to a file (0600).
    WriteFile,
    /// Open the request tester on the selected key.
    TestKey,
    /// Tester: send the request.
    Send,
    /// Tester: copy the request as cURL (with `$API_KEY`).
    CopyCurl,
    /// Tester: recall an older request.
    RecallOlder,
    /// Tester: recall a newer request.
    RecallNewer,
    /// The terminal was resized.
    Resize(u16, u16),
    /// The terminal lost focus (secrets are re-masked).
    FocusLost,
    /// Once a second, and after every event: the clocks.
    Tick(DateTime<Utc>, Instant),
    /// A timer fired.
    TimerFired(TimerKind),
    /// The session's JWT was refused and renewing it (`token_command` once more) failed.
    SessionExpired(session::Expired),
    /// `/v1/me` answered.
    MeLoaded(TaskResult<MeResponse>),
    /// A page of keys arrived (`generation` drops stale answers).
    KeysLoaded {
        /// Request generation.
        generation: u64,
        /// Appending a next page rather than replacing.
        append: bool,
        /// The `q=` the page answers.
        query: String,
        /// The page.
        result: TaskResult<Page<KeyObject>>,
    },
    /// The scope catalog arrived.
    CatalogLoaded(TaskResult<ScopesResponse>),
    /// Apps arrived.
    AppsLoaded(TaskResult<Vec<ApiApp>>),
    /// A key was created (the only time its secret is here).
    KeyCreated(TaskResult<CreateKeyResponse>),
    /// A key was updated; `origin` says which view asked.
    KeyUpdated {
        /// Which editor asked.
        origin: EditOrigin,
        /// The new key.
        result: TaskResult<KeyObject>,
    },
    /// What the instances said about a disable, delete or rotate (`client::ack`).
    ChangeApplied {
        /// The key changed.
        key_id: String,
        /// What was done, as the toast says it ("Deleted", "Disabled", "Rotated").
        done: &'static str,
        /// Their answer, or why they could not be asked.
        result: Result<crate::client::ack::Ack, String>,
    },
    /// A key was deleted.
    KeyDeleted {
        /// The key.
        id: String,
        /// Outcome.
        result: TaskResult<()>,
    },
    /// Org usage arrived.
    OrgUsageLoaded(TaskResult<OrgUsage>),
    /// A key's usage arrived.
    KeyUsageLoaded(TaskResult<KeyUsage>),
    /// Stale keys arrived.
    StaleLoaded(TaskResult<Vec<KeyObject>>),
    /// Keys due for rotation arrived.
    OldLoaded(TaskResult<Vec<KeyObject>>),
    /// Recent auth failures arrived.
    FailuresLoaded(TaskResult<Vec<AuthEvent>>),
    /// Holders of a scope arrived.
    HoldersLoaded {
        /// The scope.
        scope: String,
        /// Keys and total.
        result: TaskResult<(Vec<KeyObject>, Option<u64>)>,
    },
    /// Audit entries arrived.
    AuditLoaded {
        /// Request generation.
        generation: u64,
        /// Appending a next page.
        append: bool,
        /// The page.
        result: TaskResult<Page<AuditEntry>>,
    },
    /// A key was rotated (`bulk`: for the bulk modal, else the wizard).
    KeyRotated {
        /// The old key's id.
        id: String,
        /// For the bulk modal.
        bulk: bool,
        /// The rotation.
        result: TaskResult<Box<crate::api::RotateResponse>>,
    },
    /// Usage for the wizard's monitor or the bulk plan.
    RotationUsage {
        /// The key.
        key_id: String,
        /// Last hour per minute.
        result: TaskResult<KeyUsage>,
    },
    /// The tester's request answered (or could not be sent).
    TesterAnswered(Box<Result<tester::TesterResponse, String>>),
    /// The server's decision trace for the tester's failed request.
    Diagnosed(TaskResult<crate::api::VerifyResponse>),
    /// A support lookup answered.
    LookedUp(Box<support::Lookup>),
    /// The bulk secrets file was written (its path) or not (why).
    FileWritten(Result<String, String>),
    /// A clipboard copy finished: how (or why not), and whether it was a secret.
    Copied {
        /// A secret (starts the clear countdown).
        secret: bool,
        /// What happened, or why it failed. Never the copied text.
        result: Result<CopyDone, String>,
    },
    /// The clipboard was cleared (or left alone because it changed).
    ClipboardCleared(Result<String, String>),
    /// Review tab: set the owner of the finding's key.
    SetOwner,
    /// Review tab: narrow the key's scopes to the suggested set (the diff first).
    NarrowScopes,
    /// Rotate (grace chosen in the wizard) or disable a leaked key.
    RespondLeak,
    /// `GET /v1/review` answered.
    ReviewLoaded(TaskResult<crate::api::Review>),
    /// A key's scope usage arrived (for its detail).
    ScopeUsageLoaded {
        /// The key.
        key_id: String,
        /// Outcome.
        result: TaskResult<crate::api::ScopeUsage>,
    },
    /// An undo's audit entry (the key's newest when none was chosen; `None`: it has none)
    /// and the key as it is now.
    UndoReady(Box<TaskResult<(Option<AuditEntry>, KeyObject)>>),
    /// A leaked key's sightings arrived (for its detail).
    SightingsLoaded {
        /// The key.
        key_id: String,
        /// Outcome, newest first.
        result: TaskResult<Vec<crate::api::LeakSighting>>,
    },
}

/// Which editor asked for an update (so its answer lands in the right place).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EditOrigin {
    /// The key form.
    Form,
    /// Enable/disable from the list.
    Toggle,
    /// The Scopes tab checklist.
    Scopes,
    /// The Domains tab.
    Domains,
    /// The rotation wizard's finish step.
    Wizard,
    /// A Review tab action (narrowing scopes).
    Review,
    /// Undoing an audit entry's change.
    Undo,
}

/// Side effects, run by `tui::tasks`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    /// `GET /v1/me`.
    LoadMe,
    /// `GET /v1/keys`.
    LoadKeys {
        /// Generation.
        generation: u64,
        /// Next page rather than first.
        append: bool,
        /// The query.
        query: ListKeysQuery,
        /// The filter line it answers (`filter::KeyFilter`), echoed in `KeysLoaded`.
        filter: String,
    },
    /// `GET /v1/scopes`.
    LoadCatalog,
    /// `GET /v1/apps`.
    LoadApps,
    /// `POST /v1/keys`.
    CreateKey(CreateKeyRequest),
    /// `PATCH /v1/keys/{id}`.
    UpdateKey {
        /// Key id.
        id: String,
        /// Changes.
        req: UpdateKeyRequest,
        /// If-Match.
        version: Option<i64>,
        /// Who asked.
        origin: EditOrigin,
    },
    /// `DELETE /v1/keys/{id}`.
    DeleteKey(String),
    /// `GET /v1/usage`.
    LoadOrgUsage(BucketSize),
    /// `GET /v1/keys/{id}/usage`.
    LoadKeyUsage(String, BucketSize),
    /// Stale keys (`last_used_before`).
    LoadStale,
    /// Keys due for rotation (`created_before`).
    LoadOld,
    /// `GET /v1/auth-events`.
    LoadFailures,
    /// Keys holding a scope.
    LoadHolders(String),
    /// `GET /v1/audit`.
    LoadAudit {
        /// Generation.
        generation: u64,
        /// Next page.
        cursor: Option<String>,
        /// Key filter.
        key_id: Option<String>,
        /// Action filter.
        action: Option<String>,
        /// Actor filter: `key:<pk>`, `user:<sub>` or `system:<what>`.
        actor: Option<String>,
    },
    /// Copy to the clipboard.
    Copy(CopyWhat),
    /// Clear our secret from the clipboard.
    ClearClipboard,
    /// Fire a timer after a delay.
    Timer(TimerKind, Duration),
    /// Switch to another profile.
    SwitchProfile(String),
    /// `POST /v1/keys/{id}/rotate`.
    RotateKey {
        /// Old key.
        id: String,
        /// Grace seconds.
        grace: u32,
        /// For the bulk modal.
        bulk: bool,
    },
    /// Send the tester's request exactly as built.
    SendRequest {
        /// Method.
        method: String,
        /// URL.
        url: String,
        /// Headers (values may hold a secret).
        headers: Vec<(String, Secret)>,
        /// Body.
        body: Option<String>,
    },
    /// `POST /v1/verify` for a failed request's credential.
    Diagnose(crate::api::VerifyRequest),
    /// Find the auth event of a request id (and its key as it is now).
    LookupRequest(String),
    /// Find keys by their secret's last characters and an id prefix.
    LookupHint {
        /// Last 1-4 characters of the secret.
        hint: String,
        /// Start of the public key, if read out.
        prefix: Option<String>,
    },
    /// Last hour of a key's usage per minute, for rotation views.
    LoadRotationUsage(String),
    /// Write the rotated keys' lines to a new file with mode 0600 (`bulk`).
    WriteSecrets {
        /// Path (must not exist).
        path: String,
        /// Lines.
        entries: Vec<bulk::SecretLine>,
    },
    /// `GET /v1/review`.
    LoadReview,
    /// `GET /v1/keys/{id}/scope-usage` (30 days).
    LoadScopeUsage(String),
    /// `GET /v1/keys/{id}/leaks` (newest first).
    LoadSightings(String),
    /// Read a key as it is now, and the audit entry to undo (the key's newest when `None`).
    PrepareUndo {
        /// The key.
        key_id: String,
        /// The entry chosen in the Audit tab.
        entry: Option<Box<AuditEntry>>,
    },
}

/// The item after (or before) `current` in `items`, wrapping around; the first item when
/// `current` is not among them.
pub fn cycle<T: PartialEq + Copy>(items: &[T], current: T, forward: bool) -> T {
    let n = items.len();
    let i = items.iter().position(|x| *x == current).unwrap_or(0);
    items[if forward {
        (i + 1) % n
    } else {
        (i + n - 1) % n
    }]
}

/// Where a list's selection moves on a navigation action (`None` for any other action):
/// `n` rows, `page` rows a page.
pub fn list_move(action: &Action, selected: usize, n: usize, page: usize) -> Option<usize> {
    let last = n.saturating_sub(1);
    Some(match action {
        Action::Up => selected.saturating_sub(1),
        Action::Down => (selected + 1).min(last),
        Action::PageUp => selected.saturating_sub(page),
        Action::PageDown => (selected + page).min(last),
        Action::Top => 0,
        Action::Bottom => last,
        _ => return None,
    })
}

/// Rows of the detail pane when it sits below the table.
pub const DETAIL_ROWS: u16 = 14;

/// Placement of the Keys tab's detail pane.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DetailPane {
    /// Not shown (Enter opens a modal).
    None,
    /// Right of the table.
    Right,
    /// Below the table.
    Below,
}

/// The console.
#[derive(Debug)]
pub struct App {
    /// Connection.
    pub session: Session,
    /// Settings.
    pub settings: Settings,
    /// Connection state.
    pub conn: Conn,
    /// Who we are on the server.
    pub me: Option<MeResponse>,
    /// Current tab.
    pub tab: Tab,
    /// Keys tab.
    pub keys: KeysState,
    /// Scope catalog.
    pub catalog: Option<ScopesResponse>,
    /// The catalog forms validate against (the server's once loaded).
    pub catalog_rules: Catalog,
    /// Apps of the org.
    pub apps: Vec<ApiApp>,
    /// Scopes tab.
    pub scopes: ScopesTab,
    /// Domains tab.
    pub domains: DomainsTab,
    /// Usage tab.
    pub usage: UsageTab,
    /// Audit tab.
    pub audit: AuditTab,
    /// Review tab and the key detail's insights.
    pub review: review::ReviewState,
    /// Modal stack; the last one gets input first.
    pub modals: Vec<Modal>,
    /// The crumb-row line input.
    pub line: Option<(LineKind, Input)>,
    /// Toast row.
    pub toast: Option<Toast>,
    /// The session expired and could not be renewed: the expired screen is up.
    pub expired: Option<session::Expired>,
    /// Every toast, whole, with its time (the last 200).
    pub messages: messages::MessageLog,
    /// The command palette's history.
    pub palette: palette::Palette,
    /// The profiles `:profile` can switch to (the config file's, and `local` when the
    /// embedded service runs), for completion.
    pub profiles: Vec<String>,
    /// The last key deleted (id, name): its acknowledgement arrives after it left the list
    /// and still names it.
    pub last_deleted: Option<(String, String)>,
    /// A copied secret's clear deadline.
    pub clipboard_until: Option<(u64, Instant)>,
    /// What that clear will do ("clipboard clears", "tmux buffer deleted").
    pub clipboard_clears: String,
    /// Wall clock, for relative times.
    pub now: DateTime<Utc>,
    /// Monotonic clock, for countdowns.
    pub mono: Instant,
    /// Terminal size.
    pub size: (u16, u16),
    /// Set when the console should exit.
    pub quit: bool,
    /// Id source for timers.
    pub seq: u64,
    /// The live auto-refresh timer (0: none scheduled).
    pub refresh_timer: u64,
}

impl App {
    /// A console for a session, before it connects.
    pub fn new(session: Session, settings: Settings, now: DateTime<Utc>, mono: Instant) -> App {
        App {
            session,
            settings,
            conn: Conn::Connecting,
            me: None,
            tab: Tab::Keys,
            keys: KeysState::default(),
            catalog: None,
            catalog_rules: Catalog::default_catalog(),
            apps: Vec::new(),
            scopes: ScopesTab::default(),
            domains: DomainsTab::default(),
            usage: UsageTab::default(),
            audit: AuditTab::default(),
            review: review::ReviewState::default(),
            modals: Vec::new(),
            line: None,
            toast: None,
            expired: None,
            messages: messages::MessageLog::default(),
            palette: palette::Palette::default(),
            profiles: Vec::new(),
            last_deleted: None,
            clipboard_until: None,
            clipboard_clears: String::new(),
            now,
            mono,
            size: (80, 24),
            quit: false,
            seq: 0,
            refresh_timer: 0,
        }
    }

    /// Commands to run at start.
    pub fn start(&mut self) -> Vec<Command> {
        vec![Command::LoadMe]
    }

    /// Where the Keys tab's detail pane goes: right of the table on very wide terminals,
    /// below it on tall ones, nowhere (Enter opens it) on small ones.
    pub fn detail_pane(&self) -> DetailPane {
        let (w, h) = self.size;
        if w >= 150 {
            DetailPane::Right
        } else if h >= 34 && w >= 80 {
            DetailPane::Below
        } else {
            DetailPane::None
        }
    }

    /// Whether details show without a modal.
    pub fn wide(&self) -> bool {
        self.detail_pane() != DetailPane::None
    }

    /// A fresh id.
    pub fn next_id(&mut self) -> u64 {
        self.seq += 1;
        self.seq
    }

    /// Show a toast for a few seconds; the message log keeps it.
    pub fn toast(&mut self, text: impl Into<String>, error: bool) {
        let text = text.into();
        self.messages.push(self.now, &text, error);
        self.toast = Some(Toast {
            text,
            error,
            until: self.mono + Duration::from_secs(if error { 8 } else { 4 }),
        });
    }

    /// The key selected in the Keys tab (other tabs act on it).
    pub fn selected_key(&self) -> Option<&KeyObject> {
        self.keys.selected_key()
    }

    /// The caller's environment (default for new keys).
    pub fn my_env(&self) -> crate::domain::key::Env {
        self.me
            .as_ref()
            .and_then(|m| m.key.as_ref())
            .map_or(crate::domain::key::Env::Live, |k| k.env)
    }
}
