//! `App::update`: one action in, new state and commands out. Order of dispatch: results and
//! clocks (always), then the top modal, then the crumb-row input, then the connection screen,
//! then global keys, then the current tab.

use std::collections::BTreeSet;

use tui_input::{Input, InputRequest};

use super::form::{FormMode, KeyForm, ScopeChoice};
use super::keys::PAGE;
use super::modal::{Confirm, Modal, Pending, Reveal, ScopePicker, checklist_rows};
use super::support::Lookup;
use super::tabs::{AUDIT_ACTIONS, DomainsFocus, Loadable, ScopeEdit, UsagePanel, UsageRow};
use super::{Action, App, Command, Conn, CopyWhat, EditOrigin, LineKind, Tab, TimerKind, UiError};
use crate::api::{BucketSize, ListKeysQuery, UpdateKeyRequest};
use crate::domain::host_pattern::HostPattern;
use crate::domain::scope::{Catalog, CatalogEntry};

/// What a change does to a key, one line per field: `scopes: + a  − b`, `name: A → B`.
pub fn change_lines(key: &crate::api::KeyObject, req: &UpdateKeyRequest) -> Vec<String> {
    let set_diff = |label: &str, from: &[String], to: &[String]| {
        let added: Vec<String> = to
            .iter()
            .filter(|x| !from.contains(x))
            .map(|x| format!("+ {x}"))
            .collect();
        let removed: Vec<String> = from
            .iter()
            .filter(|x| !to.contains(x))
            .map(|x| format!("− {x}"))
            .collect();
        let all: Vec<String> = added.into_iter().chain(removed).collect();
        format!(
            "{label}: {}",
            if all.is_empty() {
                "unchanged".to_owned()
            } else {
                all.join("  ")
            }
        )
    };
    let opt = |v: &Option<String>| v.clone().unwrap_or_else(|| "none".to_owned());
    let time = |t: &Option<chrono::DateTime<chrono::Utc>>| {
        t.map_or_else(
            || "never".to_owned(),
            |t| t.format("%Y-%m-%d %H:%M UTC").to_string(),
        )
    };
    let mut out = Vec::new();
    if let Some(n) = &req.name {
        out.push(format!("name: {} → {n}", key.name));
    }
    if let Some(s) = &req.scopes {
        out.push(set_diff("scopes", &key.scopes, s));
    }
    if let Some(d) = &req.allowed_domains {
        out.push(set_diff("allowed domains", &key.allowed_domains, d));
    }
    if let Some(e) = req.enabled {
        out.push(format!("enabled: {} → {e}", key.enabled));
    }
    if let Some(e) = &req.expires_at {
        out.push(format!("expires: {} → {}", time(&key.expires_at), time(e)));
    }
    if let Some(o) = &req.owner {
        out.push(format!("owner: {} → {}", opt(&key.owner), opt(o)));
    }
    if let Some(d) = &req.description {
        out.push(format!(
            "description: {} → {}",
            opt(&key.description),
            opt(d)
        ));
    }
    out
}

/// The warning on disabling or deleting the key the console is signed in with.
fn own_key_warning() -> [String; 2] {
    [
        "This is the key this console uses: you will lose access at once,".to_owned(),
        "and nothing here can undo it. Type its name to go on.".to_owned(),
    ]
}

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

impl App {
    /// Apply one action.
    pub fn update(&mut self, action: Action) -> Vec<Command> {
        let changed = super::review::changes_keys(&action);
        let sources = matches!(
            action,
            Action::KeysLoaded { .. } | Action::CatalogLoaded(_) | Action::FailuresLoaded(_)
        );
        let mut cmds = self.dispatch(action);
        cmds.extend(self.review_follow(changed));
        self.palette_follow(sources);
        cmds
    }

    fn dispatch(&mut self, action: Action) -> Vec<Command> {
        let action = match self.update_always(action) {
            Ok(cmds) => return cmds,
            Err(other) => other,
        };
        if self.expired.is_some() && action.is_user_input() {
            return self.update_expired(action);
        }
        if !self.modals.is_empty() {
            return self.update_modal(action);
        }
        if self.line.is_some() {
            return self.update_line(action);
        }
        if let Conn::Failed(_) | Conn::Connecting = self.conn {
            return match action {
                Action::Refresh => {
                    self.conn = Conn::Connecting;
                    vec![Command::LoadMe]
                }
                Action::Quit | Action::ForceQuit => {
                    self.quit = true;
                    Vec::new()
                }
                Action::StartCommand => {
                    self.line = Some((LineKind::Command, Input::default()));
                    Vec::new()
                }
                Action::Help => self.open_help(),
                Action::Messages => self.open_messages(),
                _ => Vec::new(),
            };
        }
        match action {
            Action::Quit | Action::ForceQuit => {
                self.quit = true;
                Vec::new()
            }
            Action::NextTab => self.go_tab(Tab::ALL[(self.tab.index() + 1) % Tab::ALL.len()]),
            Action::PrevTab => {
                self.go_tab(Tab::ALL[(self.tab.index() + Tab::ALL.len() - 1) % Tab::ALL.len()])
            }
            Action::GoTab(t) => self.go_tab(t),
            Action::Help => self.open_help(),
            Action::Messages => self.open_messages(),
            Action::StartCommand => {
                self.line = Some((LineKind::Command, Input::default()));
                Vec::new()
            }
            Action::Refresh => self.refresh(),
            other => match self.tab {
                Tab::Keys => self.update_keys(other),
                Tab::Scopes => self.update_scopes(other),
                Tab::Domains => self.update_domains(other),
                Tab::Usage => self.update_usage(other),
                Tab::Audit => self.update_audit(other),
                Tab::Review => self.update_review(other),
            },
        }
    }

    fn open_help(&mut self) -> Vec<Command> {
        self.modals.push(Modal::Help {
            filter: Input::default(),
            scroll: 0,
        });
        Vec::new()
    }

    /// Results, clocks and sizes: handled whatever has focus.
    /// Results, clocks and sizes, handled whatever has focus. Takes the action by value (a
    /// page of keys or a secret is moved into place, not copied) and gives back any other.
    // The action passes through once per event; boxing it would allocate on every keystroke.
    #[allow(clippy::result_large_err)]
    fn update_always(&mut self, action: Action) -> Result<Vec<Command>, Action> {
        let cmds = match action {
            Action::Tick(now, mono) => {
                self.now = now;
                self.mono = mono;
                if self.toast.as_ref().is_some_and(|t| t.until <= mono) {
                    self.toast = None;
                }
                for m in &mut self.modals {
                    if let Modal::Reveal(r) = m
                        && r.shown_until.is_some_and(|(_, until)| until <= mono)
                    {
                        r.shown_until = None;
                    }
                }
                Vec::new()
            }
            Action::Resize(w, h) => {
                self.size = (w, h);
                let h = self.table_height();
                self.keys.scroll_into_view(h);
                Vec::new()
            }
            Action::FocusLost => {
                for m in &mut self.modals {
                    if let Modal::Reveal(r) = m {
                        r.shown_until = None;
                    }
                }
                Vec::new()
            }
            Action::TimerFired(kind) => self.timer(kind),
            Action::SessionExpired(e) => {
                self.expired = Some(e);
                Vec::new()
            }
            Action::MeLoaded(r) => match r {
                Ok(me) => {
                    self.me = Some(me);
                    self.conn = Conn::Ready;
                    let mut cmds = vec![Command::LoadCatalog, Command::LoadApps];
                    cmds.extend(self.load_keys(false));
                    cmds.extend(self.start_refresh());
                    cmds
                }
                // An expired session has its own screen, over whatever was open.
                Err(e) if self.expired.is_some() && e.status == Some(401) => Vec::new(),
                Err(e) => {
                    self.conn = Conn::Failed(e);
                    Vec::new()
                }
            },
            Action::KeysLoaded {
                generation,
                append,
                query,
                result,
            } => {
                if generation == self.keys.generation {
                    self.keys.loading = false;
                    let refreshing = std::mem::take(&mut self.keys.refreshing);
                    match result {
                        Ok(page) => {
                            if append {
                                self.keys.rows.extend(page.data);
                            } else {
                                self.keys.rows = page.data;
                                self.keys.answered_sort = Some(self.keys.asked_sort);
                                self.keys.loaded_at = Some(self.now);
                                if !refreshing {
                                    self.keys.offset = 0;
                                }
                            }
                            self.keys.refresh_failed = false;
                            self.keys.total = page.total;
                            self.keys.next_cursor = page.next_cursor;
                            self.keys.query = query;
                            self.keys.error = None;
                            self.keys.rebuild_view();
                            if refreshing {
                                let h = self.table_height();
                                self.keys.scroll_into_view(h);
                            }
                        }
                        // A background refresh that failed keeps the rows and says so in
                        // the crumb row ("updated 2m ago · refresh failed").
                        Err(_) if refreshing => self.keys.refresh_failed = true,
                        Err(e) => {
                            self.toast(format!("Loading keys failed: {}", e.message), true);
                            self.keys.error = Some(e);
                        }
                    }
                }
                Vec::new()
            }
            Action::CatalogLoaded(r) => {
                match r {
                    Ok(c) => {
                        // Validate forms against the server's catalog, not the built-in one.
                        self.catalog_rules = Catalog::from_entries(
                            c.scopes
                                .iter()
                                .map(|s| CatalogEntry {
                                    name: s.name.clone(),
                                    description: s.description.clone(),
                                })
                                .collect(),
                        );
                        self.catalog = Some(c);
                    }
                    Err(e) => self.toast(format!("Loading scopes failed: {}", e.message), true),
                }
                Vec::new()
            }
            Action::AppsLoaded(r) => {
                if let Ok(a) = r {
                    self.apps = a;
                }
                Vec::new()
            }
            Action::KeyCreated(r) => self.key_created(r),
            Action::KeyUpdated { origin, result } => self.key_updated(origin, result),
            Action::ChangeApplied {
                key_id,
                done,
                result,
            } => {
                // Its own toast naming the key: it may arrive after another change's.
                let name = self.keys.get(&key_id).map(|k| k.name.clone()).or_else(|| {
                    self.last_deleted
                        .as_ref()
                        .filter(|(id, _)| *id == key_id)
                        .map(|(_, n)| n.clone())
                });
                let label = name.map_or_else(|| key_id.clone(), |n| format!("{n} ({key_id})"));
                self.toast(
                    format!("{done} {label}: {}", crate::client::ack::describe(&result)),
                    result.is_err(),
                );
                Vec::new()
            }
            Action::KeyDeleted { id, result } => {
                match result {
                    Ok(()) => {
                        let name = self
                            .keys
                            .get(&id)
                            .map(|k| k.name.clone())
                            .unwrap_or_default();
                        self.keys.remove(&id);
                        self.toast(format!("Deleted {name} ({id})"), false);
                        self.last_deleted = Some((id, name));
                    }
                    Err(e) => self.toast(format!("Delete failed: {}", explain(&e)), true),
                }
                Vec::new()
            }
            Action::OrgUsageLoaded(r) => {
                self.usage.org = Loadable::from_result(r);
                Vec::new()
            }
            Action::KeyUsageLoaded(r) => {
                self.usage.key = Loadable::from_result(r);
                Vec::new()
            }
            Action::StaleLoaded(r) => {
                self.usage.stale = Loadable::from_result(r);
                Vec::new()
            }
            Action::OldLoaded(r) => {
                self.usage.old = Loadable::from_result(r);
                Vec::new()
            }
            Action::FailuresLoaded(r) => {
                self.usage.failures = Loadable::from_result(r);
                Vec::new()
            }
            Action::HoldersLoaded { scope, result } => {
                if self
                    .scopes
                    .holders
                    .as_ref()
                    .is_some_and(|(s, _)| *s == scope)
                {
                    self.scopes.holders = Some((scope, Loadable::from_result(result)));
                    let n = self.scopes.holder_keys().len();
                    self.scopes.holder = self.scopes.holder.filter(|_| n > 0).map(|i| i.min(n - 1));
                }
                Vec::new()
            }
            Action::AuditLoaded {
                generation,
                append,
                result,
            } => {
                if generation == self.audit.generation {
                    self.audit.loading = false;
                    self.audit.loaded = true;
                    match result {
                        Ok(page) => {
                            if append {
                                self.audit.rows.extend(page.data);
                            } else {
                                self.audit.rows = page.data;
                                self.audit.selected = 0;
                                self.audit.offset = 0;
                            }
                            self.audit.next_cursor = page.next_cursor;
                            self.audit.error = None;
                        }
                        Err(e) => self.audit.error = Some(e),
                    }
                }
                Vec::new()
            }
            Action::Copied { secret, result } => {
                match result {
                    Ok(done) => {
                        if secret {
                            let id = self.next_id();
                            let after = self.settings.clipboard_clear;
                            self.clipboard_until = Some((id, self.mono + after));
                            self.clipboard_clears = done.clears.clone();
                            for m in &mut self.modals {
                                if let Modal::Reveal(r) = m {
                                    r.copied = Some(match &done.warning {
                                        Some(w) => format!("{}. {w}", done.how),
                                        None => done.how.clone(),
                                    });
                                }
                            }
                            self.toast(
                                format!(
                                    "{} {}; {} in {}s",
                                    done.what,
                                    done.how,
                                    done.clears,
                                    after.as_secs()
                                ),
                                false,
                            );
                            return Ok(vec![Command::Timer(TimerKind::ClipboardClear(id), after)]);
                        }
                        let text = match &done.warning {
                            Some(w) => format!("{} {}: {w}", done.what, done.how),
                            None => format!("{} {}", done.what, done.how),
                        };
                        if let Some(t) = self.tester_mut() {
                            t.note = Some(text.clone());
                        }
                        self.toast(text, false);
                    }
                    Err(e) => {
                        if let Some(t) = self.tester_mut() {
                            t.note = Some(format!("Copy failed: {e}"));
                        }
                        self.toast(format!("Copy failed: {e}"), true);
                    }
                }
                Vec::new()
            }
            Action::KeyRotated { id, bulk, result } => {
                self.key_rotated(&id, bulk, result.map(|r| *r))
            }
            Action::RotationUsage { key_id, result } => self.rotation_usage(&key_id, result),
            Action::TesterAnswered(r) => self.tester_answered(*r),
            Action::Diagnosed(r) => {
                if let Some(t) = self.tester_mut() {
                    t.diagnosis = Loadable::from_result(r);
                }
                Vec::new()
            }
            Action::LookedUp(l) => {
                for m in &mut self.modals {
                    if let Modal::Lookup(cur) = m
                        && matches!(cur.as_ref(), Lookup::Loading(_))
                    {
                        *cur = l;
                        break;
                    }
                }
                Vec::new()
            }
            Action::FileWritten(r) => {
                self.file_written(&r);
                Vec::new()
            }
            Action::ClipboardCleared(r) => {
                match r {
                    Ok(m) => self.toast(m, false),
                    Err(e) => self.toast(format!("Clearing the clipboard failed: {e}"), true),
                }
                Vec::new()
            }
            Action::UndoReady(r) => self.undo_ready(*r),
            a @ (Action::ReviewLoaded(_)
            | Action::ScopeUsageLoaded { .. }
            | Action::SightingsLoaded { .. }) => self.review_result(a),
            other => return Err(other),
        };
        Ok(cmds)
    }

    fn timer(&mut self, kind: TimerKind) -> Vec<Command> {
        match kind {
            TimerKind::RevealHide(id) => {
                for m in &mut self.modals {
                    if let Modal::Reveal(r) = m
                        && r.shown_until.is_some_and(|(i, _)| i == id)
                    {
                        r.shown_until = None;
                    }
                }
                Vec::new()
            }
            TimerKind::ClipboardClear(id) => {
                if self.clipboard_until.is_some_and(|(i, _)| i == id) {
                    self.clipboard_until = None;
                    vec![Command::ClearClipboard]
                } else {
                    Vec::new()
                }
            }
            TimerKind::Monitor(generation) => self.monitor_fired(generation),
            TimerKind::BulkHide(id) => {
                self.bulk_hide(id);
                Vec::new()
            }
            TimerKind::AutoRefresh(id) => self.auto_refresh(id),
            TimerKind::FilterDebounce(id) => {
                if self.seq == id && self.keys.filter != self.keys.query {
                    self.load_keys(false)
                } else {
                    Vec::new()
                }
            }
        }
    }

    /// Ask for the first page (or the next one) of keys for the current filter.
    pub fn load_keys(&mut self, append: bool) -> Vec<Command> {
        if !append {
            self.keys.generation += 1;
        }
        self.keys.loading = true;
        if !append {
            self.keys.asked_sort = (self.keys.sort, self.keys.reversed);
        }
        let filter = self.keys.filter.trim().to_owned();
        vec![Command::LoadKeys {
            generation: self.keys.generation,
            append,
            query: super::filter::KeyFilter::parse(&filter).apply(ListKeysQuery {
                limit: Some(PAGE),
                cursor: if append {
                    self.keys.next_cursor.clone()
                } else {
                    None
                },
                sort: Some(self.keys.sort.param(self.keys.reversed).to_owned()),
                ..ListKeysQuery::default()
            }),
            filter,
        }]
    }

    fn go_tab(&mut self, tab: Tab) -> Vec<Command> {
        self.tab = tab;
        match tab {
            Tab::Usage => self.load_usage(false),
            Tab::Audit if !self.audit.loaded && !self.audit.loading => self.load_audit(false),
            Tab::Review => self.enter_review(),
            Tab::Domains => {
                self.domains.cursor = 0;
                self.domains.refused = None;
                Vec::new()
            }
            _ => Vec::new(),
        }
    }

    fn refresh(&mut self) -> Vec<Command> {
        match self.tab {
            Tab::Keys | Tab::Domains => {
                let mut c = self.load_keys(false);
                c.push(Command::LoadApps);
                c
            }
            Tab::Scopes => {
                let mut c = vec![Command::LoadCatalog];
                c.extend(self.load_keys(false));
                if let Some((scope, _)) = &self.scopes.holders {
                    c.push(Command::LoadHolders(scope.clone()));
                }
                c
            }
            Tab::Usage => self.load_usage(true),
            Tab::Audit => self.load_audit(false),
            Tab::Review => self.load_review(),
        }
    }

    fn load_usage(&mut self, force: bool) -> Vec<Command> {
        let bucket = self.usage.bucket();
        let mut c = vec![Command::LoadOrgUsage(bucket)];
        self.usage.org = Loadable::Loading;
        let selected = self.selected_key().map(|k| k.id.clone());
        let stale_key = self
            .usage
            .key
            .ready()
            .is_none_or(|u| Some(&u.key_id) != selected.as_ref());
        if let Some(id) = selected
            && (force || stale_key || matches!(self.usage.key, Loadable::Idle))
        {
            self.usage.key = Loadable::Loading;
            c.push(Command::LoadKeyUsage(id, bucket));
        }
        if force || matches!(self.usage.stale, Loadable::Idle) {
            self.usage.stale = Loadable::Loading;
            c.push(Command::LoadStale);
        }
        if force || matches!(self.usage.old, Loadable::Idle) {
            self.usage.old = Loadable::Loading;
            c.push(Command::LoadOld);
        }
        if force || matches!(self.usage.failures, Loadable::Idle) {
            self.usage.failures = Loadable::Loading;
            c.push(Command::LoadFailures);
        }
        c
    }

    pub(super) fn load_audit(&mut self, append: bool) -> Vec<Command> {
        if !append {
            self.audit.generation += 1;
        }
        self.audit.loading = true;
        vec![Command::LoadAudit {
            generation: self.audit.generation,
            cursor: if append {
                self.audit.next_cursor.clone()
            } else {
                None
            },
            key_id: self.audit.key_filter.clone(),
            action: self
                .audit
                .action_filter
                .map(|i| AUDIT_ACTIONS[i].to_owned()),
            actor: self.audit.actor_filter.as_ref().map(|f| f.param.clone()),
        }]
    }

    fn key_created(&mut self, r: Result<crate::api::CreateKeyResponse, UiError>) -> Vec<Command> {
        match r {
            Ok(resp) => {
                if matches!(self.modals.last(), Some(Modal::Form(_))) {
                    self.modals.pop();
                }
                self.keys.insert_front(resp.key.clone());
                self.keys.selected = 0;
                self.keys.offset = 0;
                self.modals.push(Modal::Reveal(Box::new(Reveal {
                    title: "Key created".to_owned(),
                    key_id: resp.key.id.clone(),
                    key_name: resp.key.name.clone(),
                    secret: resp.secret,
                    shown_until: None,
                    copied: None,
                })));
                Vec::new()
            }
            Err(e) => {
                if let Some(Modal::Form(f)) = self.modals.last_mut() {
                    f.submitting = false;
                    f.server_error = Some(explain(&e));
                } else {
                    self.toast(format!("Create failed: {}", explain(&e)), true);
                }
                Vec::new()
            }
        }
    }

    fn key_updated(
        &mut self,
        origin: EditOrigin,
        r: Result<crate::api::KeyObject, UiError>,
    ) -> Vec<Command> {
        match r {
            Ok(k) if origin == EditOrigin::Wizard => {
                self.keys.replace(k.clone());
                self.keys.rebuild_view();
                self.wizard_finished(Ok(k));
            }
            Err(e) if origin == EditOrigin::Wizard => self.wizard_finished(Err(e)),
            r if origin == EditOrigin::Undo => return self.undo_done(r),
            r if origin == EditOrigin::Review => {
                if let Ok(k) = &r {
                    self.keys.replace(k.clone());
                    self.keys.rebuild_view();
                }
                self.review_key_updated(r);
            }
            Ok(k) => {
                let name = k.name.clone();
                let enabled = k.enabled;
                self.keys.replace(k);
                self.keys.rebuild_view();
                match origin {
                    EditOrigin::Form => {
                        if matches!(self.modals.last(), Some(Modal::Form(_))) {
                            self.modals.pop();
                        }
                        self.toast(format!("Saved {name}"), false);
                    }
                    EditOrigin::Toggle => {
                        self.toast(
                            format!("{} {name}", if enabled { "Enabled" } else { "Disabled" }),
                            false,
                        );
                    }
                    EditOrigin::Scopes => {
                        self.scopes.edit = None;
                        self.toast(format!("Scopes of {name} saved"), false);
                    }
                    EditOrigin::Domains => {
                        self.domains.saving = false;
                        self.domains.refused = None;
                        self.toast(format!("Allowed domains of {name} saved"), false);
                    }
                    EditOrigin::Wizard | EditOrigin::Review | EditOrigin::Undo => {}
                }
            }
            Err(e) => {
                let text = explain(&e);
                match origin {
                    EditOrigin::Form => {
                        if let Some(Modal::Form(f)) = self.modals.last_mut() {
                            f.submitting = false;
                            f.server_error = Some(text);
                        } else {
                            self.toast(text, true);
                        }
                    }
                    EditOrigin::Toggle => self.toast(text, true),
                    EditOrigin::Scopes => {
                        if let Some(ed) = &mut self.scopes.edit {
                            ed.saving = false;
                            ed.refused = Some(text);
                        }
                    }
                    EditOrigin::Domains => {
                        self.domains.saving = false;
                        self.domains.refused = Some(text);
                    }
                    EditOrigin::Wizard | EditOrigin::Review | EditOrigin::Undo => {}
                }
            }
        }
        Vec::new()
    }

    // ----- modals -----

    fn update_modal(&mut self, action: Action) -> Vec<Command> {
        let Some(top) = self.modals.last_mut() else {
            return Vec::new();
        };
        match top {
            Modal::Help { filter, scroll } => match action {
                Action::Back | Action::Help | Action::Quit => {
                    self.modals.pop();
                }
                Action::Edit(req) => {
                    filter.handle(req);
                    *scroll = 0;
                }
                Action::Paste(t) => {
                    for c in t.chars().filter(|c| !c.is_control()) {
                        filter.handle(InputRequest::InsertChar(c));
                    }
                }
                Action::Up => *scroll = scroll.saturating_sub(1),
                Action::Down => *scroll += 1,
                Action::PageDown => *scroll += 10,
                Action::PageUp => *scroll = scroll.saturating_sub(10),
                Action::ForceQuit => self.quit = true,
                _ => {}
            },
            Modal::Detail(_) => match action {
                Action::Back | Action::Enter | Action::Quit => {
                    self.modals.pop();
                }
                Action::ForceQuit => self.quit = true,
                _ => {}
            },
            Modal::Confirm(c) => match action {
                Action::Back | Action::No => {
                    let pending = c.pending.clone();
                    self.modals.pop();
                    if let Pending::Apply { origin, .. } = pending {
                        self.change_cancelled(origin);
                    }
                }
                Action::Edit(req) if c.type_to_confirm.is_some() => {
                    c.typed.handle(req);
                    c.mismatch = None;
                }
                Action::Paste(t) if c.type_to_confirm.is_some() => {
                    for ch in t.chars().filter(|ch| !ch.is_control()) {
                        c.typed.handle(InputRequest::InsertChar(ch));
                    }
                    c.mismatch = None;
                }
                Action::Yes | Action::Enter if c.ready() => {
                    let pending = c.pending.clone();
                    self.modals.pop();
                    return self.confirmed(pending);
                }
                Action::Yes | Action::Enter => {
                    if let Some(want) = &c.type_to_confirm {
                        c.mismatch = Some(if c.typed.value().trim().is_empty() {
                            format!("Nothing done: type {want} first (case does not matter).")
                        } else {
                            format!(
                                "Nothing done: \"{}\" is not {want} (case does not matter).",
                                c.typed.value().trim()
                            )
                        });
                    }
                }
                Action::ForceQuit => self.quit = true,
                _ => {}
            },
            Modal::Reveal(r) => match action {
                Action::Reveal => {
                    if r.shown_until.is_some() {
                        r.shown_until = None;
                    } else {
                        self.seq += 1;
                        let id = self.seq;
                        r.shown_until = Some((id, self.mono + self.settings.reveal));
                        return vec![Command::Timer(
                            TimerKind::RevealHide(id),
                            self.settings.reveal,
                        )];
                    }
                }
                Action::CopySecret => {
                    return vec![Command::Copy(CopyWhat::Secret(r.secret.clone()))];
                }
                Action::Enter => {
                    self.modals.pop();
                    self.toast("Secret closed. It cannot be shown again.", false);
                    return self.after_wizard_reveal();
                }
                Action::Help => return self.open_help(),
                Action::Back | Action::Quit | Action::ForceQuit => {
                    self.modals.push(Modal::Confirm(Confirm {
                        title: "Close without storing the secret?".to_owned(),
                        body: vec![
                            "The secret is shown only once and cannot be shown again.".to_owned(),
                            "If you have not stored it, rotate the key to get a new one."
                                .to_owned(),
                        ],
                        pending: if action == Action::Back {
                            Pending::DiscardSecret
                        } else {
                            Pending::QuitWithSecret
                        },
                        type_to_confirm: None,
                        typed: Input::default(),
                        mismatch: None,
                    }));
                }
                _ => {}
            },
            Modal::ScopePicker(p) => {
                let rows = self
                    .catalog
                    .as_ref()
                    .map(|c| checklist_rows(&c.scopes))
                    .unwrap_or_default();
                match action {
                    Action::Up => p.cursor = p.cursor.saturating_sub(1),
                    Action::Down => p.cursor = (p.cursor + 1).min(rows.len().saturating_sub(1)),
                    Action::Toggle => {
                        if let Some((name, _)) = rows.get(p.cursor)
                            && !p.checked.remove(name)
                        {
                            p.checked.insert(name.clone());
                        }
                    }
                    Action::Enter | Action::Save => {
                        let checked = p.checked.clone();
                        self.modals.pop();
                        if let Some(Modal::Form(f)) = self.modals.last_mut() {
                            f.set_custom_scopes(checked);
                            f.validate(&self.catalog_rules, self.now);
                        }
                    }
                    Action::Back => {
                        self.modals.pop();
                    }
                    Action::ForceQuit => self.quit = true,
                    _ => {}
                }
            }
            Modal::Form(_) => return self.update_form(action),
            Modal::Wizard(_) => return self.update_wizard(action),
            Modal::Tester(_) => return self.update_tester(action),
            Modal::Lookup(l) => match (l.as_mut(), action) {
                (Lookup::Hint { keys, cursor, .. }, Action::Up) => {
                    *cursor = cursor.saturating_sub(1);
                    let _ = keys;
                }
                (Lookup::Hint { keys, cursor, .. }, Action::Down) => {
                    *cursor = (*cursor + 1).min(keys.len().saturating_sub(1));
                }
                (Lookup::Hint { keys, cursor, .. }, Action::Enter) => {
                    let id = keys.get(*cursor).map(|k| k.id.clone());
                    self.modals.pop();
                    if let Some(id) = id {
                        self.tab = Tab::Keys;
                        self.keys.filter = id;
                        self.keys.rebuild_view();
                        return self.load_keys(false);
                    }
                }
                (
                    Lookup::Request {
                        event: Some(e),
                        key,
                        ..
                    },
                    Action::CopyReply,
                ) => {
                    let reply = super::support::customer_reply(e, key.as_ref());
                    return vec![Command::Copy(CopyWhat::Reply(reply))];
                }
                (Lookup::Request { key: Some(k), .. }, Action::Enter) => {
                    // Open the key: select it in the Keys tab (details show for it).
                    let id = k.id.clone();
                    self.modals.pop();
                    self.tab = Tab::Keys;
                    self.keys.filter = id.clone();
                    self.keys.rebuild_view();
                    if !self.wide() {
                        self.modals.push(Modal::Detail(id));
                    }
                    return self.load_keys(false);
                }
                (_, Action::ForceQuit) => self.quit = true,
                (_, Action::Back | Action::Enter | Action::Quit) => {
                    self.modals.pop();
                }
                _ => {}
            },
            Modal::Bulk(_) => return self.update_bulk(action),
            Modal::Leak(_) => return self.update_leak_choice(action),
            Modal::Messages { .. } => return self.update_messages(action),
        }
        Vec::new()
    }

    fn update_form(&mut self, action: Action) -> Vec<Command> {
        let now = self.now;
        let napps = self.apps.len();
        let Some(Modal::Form(f)) = self.modals.last_mut() else {
            return Vec::new();
        };
        use super::form::Field;
        match action {
            Action::Back => {
                self.modals.pop();
            }
            Action::ForceQuit => self.quit = true,
            Action::NextField | Action::Down => f.step(true),
            Action::PrevField | Action::Up => f.step(false),
            Action::Left | Action::Right => {
                let fwd = action == Action::Right;
                if f.input_mut().is_some() {
                    f.edit_text(
                        if fwd {
                            InputRequest::GoToNextChar
                        } else {
                            InputRequest::GoToPrevChar
                        },
                        &self.catalog_rules,
                        now,
                    );
                } else {
                    f.cycle(fwd, napps);
                    f.validate(&self.catalog_rules, now);
                }
            }
            Action::Toggle => {
                f.cycle(true, napps);
                f.validate(&self.catalog_rules, now);
            }
            Action::Edit(req) => f.edit_text(req, &self.catalog_rules, now),
            Action::Paste(t) => {
                for c in t.chars().filter(|c| !c.is_control()) {
                    f.edit_text(InputRequest::InsertChar(c), &self.catalog_rules, now);
                }
            }
            Action::Enter if f.focus == Field::Scopes => {
                let checked = match &f.scopes {
                    ScopeChoice::Custom(s) => s.clone(),
                    ScopeChoice::Preset(p) => self
                        .catalog_rules
                        .preset(p)
                        .unwrap_or_default()
                        .into_iter()
                        .collect(),
                };
                self.modals
                    .push(Modal::ScopePicker(ScopePicker { cursor: 0, checked }));
            }
            Action::Enter | Action::Save if f.focus == Field::Submit || action == Action::Save => {
                return self.submit_form();
            }
            Action::Enter => f.step(true),
            _ => {}
        }
        Vec::new()
    }

    fn submit_form(&mut self) -> Vec<Command> {
        let now = self.now;
        let Some(Modal::Form(f)) = self.modals.last_mut() else {
            return Vec::new();
        };
        if f.submitting {
            return Vec::new();
        }
        if !f.validate(&self.catalog_rules, now) {
            if let Some((field, _)) = f.errors.first() {
                f.focus = *field;
            }
            return Vec::new();
        }
        f.server_error = None;
        match f.mode.clone() {
            FormMode::Create => {
                f.submitting = true;
                vec![Command::CreateKey(f.create_request(&self.apps, now))]
            }
            FormMode::Edit { id, version } => {
                let loaded = self.keys.get(&id).or_else(|| self.review.key(&id));
                let Some(original) = loaded.cloned() else {
                    f.server_error =
                        Some("This key is no longer loaded; press Esc and reload.".to_owned());
                    return Vec::new();
                };
                let req = f.update_request(&original, &self.catalog_rules, now);
                if req == UpdateKeyRequest::default() {
                    self.modals.pop();
                    self.toast("Nothing changed", false);
                    return Vec::new();
                }
                f.submitting = true;
                self.change_key(&original, version, req, EditOrigin::Form)
            }
        }
    }

    fn confirmed(&mut self, pending: Pending) -> Vec<Command> {
        match pending {
            Pending::Apply {
                id,
                version,
                req,
                origin,
            } => vec![Command::UpdateKey {
                id,
                req: *req,
                version: Some(version),
                origin,
            }],
            Pending::Delete { id, .. } => vec![Command::DeleteKey(id)],
            Pending::Disable { id, version, .. } => vec![Command::UpdateKey {
                id,
                req: UpdateKeyRequest {
                    enabled: Some(false),
                    ..UpdateKeyRequest::default()
                },
                version: Some(version),
                origin: EditOrigin::Toggle,
            }],
            Pending::DiscardSecret => {
                if matches!(self.modals.last(), Some(Modal::Reveal(_))) {
                    self.modals.pop();
                }
                self.toast(
                    "Secret discarded. Rotate the key if it was not stored.",
                    false,
                );
                self.after_wizard_reveal()
            }
            Pending::QuitWithSecret => {
                self.modals.clear();
                self.quit = true;
                Vec::new()
            }
            p @ Pending::Narrow { .. } => self.review_confirmed(p),
            other => self.rotation_confirmed(&other),
        }
    }

    /// Send a change to a key; on a danger profile first show what changes and ask for the
    /// key's name (every change, not only disable and delete).
    fn change_key(
        &mut self,
        key: &crate::api::KeyObject,
        version: i64,
        req: UpdateKeyRequest,
        origin: EditOrigin,
    ) -> Vec<Command> {
        if !self.session.danger {
            return vec![Command::UpdateKey {
                id: key.id.clone(),
                req,
                version: Some(version),
                origin,
            }];
        }
        let mut body = vec![format!(
            "{} ({}) on profile {}:",
            key.name, key.id, self.session.profile
        )];
        body.extend(
            change_lines(key, &req)
                .into_iter()
                .map(|l| format!("  {l}")),
        );
        self.modals.push(Modal::Confirm(Confirm {
            title: format!("Change {}?", key.name),
            body,
            pending: Pending::Apply {
                id: key.id.clone(),
                version,
                req: Box::new(req),
                origin,
            },
            type_to_confirm: Some(key.name.clone()),
            typed: Input::default(),
            mismatch: None,
        }));
        Vec::new()
    }

    /// A cancelled change: let its editor take input again.
    fn change_cancelled(&mut self, origin: EditOrigin) {
        match origin {
            EditOrigin::Form => {
                if let Some(Modal::Form(f)) = self.modals.last_mut() {
                    f.submitting = false;
                }
            }
            EditOrigin::Scopes => {
                if let Some(ed) = &mut self.scopes.edit {
                    ed.saving = false;
                }
            }
            EditOrigin::Domains => self.domains.saving = false,
            EditOrigin::Toggle | EditOrigin::Wizard | EditOrigin::Review | EditOrigin::Undo => {}
        }
        self.toast("Cancelled: nothing was changed", false);
    }

    /// Disable a key, asking first (the name typed on a danger profile, and for the key
    /// this console uses): from the Keys list, the Review tab and the leak response alike.
    pub(super) fn ask_disable(&mut self, k: &crate::api::KeyObject) {
        if !k.enabled {
            self.toast(format!("{} is already disabled", k.name), false);
            return;
        }
        let own = self.is_own_key(&k.id);
        let mut body = vec![
            format!("{} stops working at once for every client using it.", k.id),
            k.last_used_at.map_or_else(
                || "It has never been used.".to_owned(),
                |t| format!("Last used {}.", crate::tui::views::ago(t, self.now)),
            ),
        ];
        if own {
            body.extend(own_key_warning());
        } else {
            body.push("You can enable it again with Space in the Keys tab.".to_owned());
        }
        let pending = Pending::Disable {
            id: k.id.clone(),
            name: k.name.clone(),
            version: k.version,
        };
        self.confirm_destructive(pending, format!("Disable {}?", k.name), body, &k.name, own);
    }

    /// Whether this is the key the console itself is signed in with.
    pub fn is_own_key(&self, id: &str) -> bool {
        self.me
            .as_ref()
            .and_then(|m| m.key.as_ref())
            .is_some_and(|k| k.id == id)
    }

    /// A confirmation; the name must be typed on a danger profile and whenever `always_type`
    /// (the console's own key).
    pub(super) fn confirm_destructive(
        &mut self,
        pending: Pending,
        title: String,
        body: Vec<String>,
        name: &str,
        always_type: bool,
    ) {
        self.modals.push(Modal::Confirm(Confirm {
            title,
            body,
            pending,
            type_to_confirm: (self.session.danger || always_type).then(|| name.to_owned()),
            typed: Input::default(),
            mismatch: None,
        }));
    }

    // ----- crumb-row input -----

    fn update_line(&mut self, action: Action) -> Vec<Command> {
        let Some((kind, input)) = &mut self.line else {
            return Vec::new();
        };
        let kind = *kind;
        match action {
            Action::Edit(req) => {
                input.handle(req);
            }
            Action::Paste(t) => {
                for c in t.chars().filter(|c| !c.is_control()) {
                    input.handle(InputRequest::InsertChar(c));
                }
            }
            Action::Back => {
                self.line = None;
                if kind == LineKind::Filter {
                    self.keys.filter.clear();
                    self.keys.rebuild_view();
                    if !self.keys.query.is_empty() {
                        return self.load_keys(false);
                    }
                }
                return Vec::new();
            }
            Action::Enter => {
                let text = input.value().trim().to_owned();
                self.line = None;
                return match kind {
                    LineKind::Filter => Vec::new(),
                    LineKind::Command => self.run_command(&text),
                };
            }
            Action::ForceQuit => {
                self.quit = true;
                return Vec::new();
            }
            // The palette: earlier commands, and completion.
            Action::Up | Action::Down if kind == LineKind::Command => {
                self.palette_recall(action == Action::Up);
                return Vec::new();
            }
            Action::NextField if kind == LineKind::Command => {
                self.palette_complete();
                return Vec::new();
            }
            Action::Up | Action::Down if kind == LineKind::Filter => {
                let h = self.table_height();
                self.keys
                    .move_by(if action == Action::Up { -1 } else { 1 }, h);
                return Vec::new();
            }
            _ => return Vec::new(),
        }
        if kind == LineKind::Filter {
            let value = self
                .line
                .as_ref()
                .map(|(_, i)| i.value().to_owned())
                .unwrap_or_default();
            if value != self.keys.filter {
                self.keys.filter = value;
                self.keys.rebuild_view();
                self.keys.offset = 0;
                let id = self.next_id();
                return vec![Command::Timer(
                    TimerKind::FilterDebounce(id),
                    self.settings.debounce,
                )];
            }
        }
        Vec::new()
    }

    /// Run a `:` command.
    pub fn run_command(&mut self, text: &str) -> Vec<Command> {
        self.palette_remember(text);
        let mut words = text.split_whitespace();
        let cmd = words.next().unwrap_or("");
        let arg = words.next();
        let tab = |t: Tab| Some(t);
        let target = match cmd {
            "keys" | "1" => tab(Tab::Keys),
            "scopes" | "2" => tab(Tab::Scopes),
            "domains" | "3" => tab(Tab::Domains),
            "usage" | "4" => tab(Tab::Usage),
            "audit" | "5" => tab(Tab::Audit),
            "review" | "6" => tab(Tab::Review),
            _ => None,
        };
        if let Some(t) = target {
            return self.go_tab(t);
        }
        match (cmd, arg) {
            ("", _) => Vec::new(),
            ("q" | "quit" | "q!", _) => self.update(Action::Quit),
            ("help" | "h", _) => self.open_help(),
            ("messages" | "mes", _) => self.open_messages(),
            ("refresh" | "r", _) => self.refresh(),
            ("profile", Some(name)) => vec![Command::SwitchProfile(name.to_owned())],
            ("scope", Some(scope)) => self.keys_holding(scope),
            ("request", Some(id)) => {
                if !id.starts_with("req_") {
                    self.toast("A request id looks like req_… (from the x-request-id header or the error body)", true);
                    return Vec::new();
                }
                self.modals
                    .push(Modal::Lookup(Box::new(Lookup::Loading(format!(
                        "request {id}"
                    )))));
                vec![Command::LookupRequest(id.to_owned())]
            }
            ("hint", None) => {
                self.toast(
                    "Usage: :hint <last 1-4 characters of the secret> [start of the public key]",
                    true,
                );
                Vec::new()
            }
            ("hint", Some(hint)) => {
                let prefix = text.split_whitespace().nth(2).map(str::to_owned);
                let hint = hint.trim_start_matches('…').to_owned();
                if hint.is_empty()
                    || hint.len() > 4
                    || !hint.chars().all(|c| c.is_ascii_alphanumeric())
                {
                    self.toast("Usage: :hint <last 1-4 characters of the secret> [start of the public key]", true);
                    return Vec::new();
                }
                self.modals
                    .push(Modal::Lookup(Box::new(Lookup::Loading(format!(
                        "keys ending …{hint}"
                    )))));
                vec![Command::LookupHint { hint, prefix }]
            }
            ("test", _) => {
                let base = self.session.url.clone();
                let pk = arg
                    .map(str::to_owned)
                    .or_else(|| self.selected_key().map(|k| k.id.clone()));
                self.modals
                    .push(Modal::Tester(Box::new(super::tester::Tester::new(
                        &base,
                        pk.as_deref(),
                    ))));
                Vec::new()
            }
            ("rotate", id) => {
                self.tab = Tab::Keys;
                self.open_rotation(id)
            }
            ("profile", None) => {
                let p = self.session.profile.clone();
                self.toast(
                    format!(
                        "Profile: {p} ({}). Use :profile NAME to switch.",
                        self.session.url
                    ),
                    false,
                );
                Vec::new()
            }
            ("new", _) => {
                self.tab = Tab::Keys;
                self.update_keys(Action::NewKey)
            }
            // Any action of the screen by its name (what help lists and [keys] remaps).
            (name, None) if let Some(cmds) = self.run_binding(name) => cmds,
            (other, _) => {
                self.toast(
                    format!("Unknown command `{other}`: try :keys :usage :review :rotate ID :request REQ_ID :hint LAST4 :profile NAME :scope SCOPE :messages :q, or an action's name from help (Tab completes)"),
                    true,
                );
                Vec::new()
            }
        }
    }

    /// The Keys tab filtered to the keys holding `scope` (a `scope:` filter the server
    /// answers; wildcards count).
    fn keys_holding(&mut self, scope: &str) -> Vec<Command> {
        self.tab = Tab::Keys;
        self.keys.filter = format!("scope:{scope}");
        self.keys.rebuild_view();
        self.keys.offset = 0;
        self.load_keys(false)
    }

    // ----- tabs -----

    fn update_keys(&mut self, action: Action) -> Vec<Command> {
        let h = self.table_height();
        match action {
            Action::Up => self.keys.move_by(-1, h),
            Action::Down => self.keys.move_by(1, h),
            Action::PageUp => self.keys.move_by(-(h as isize), h),
            Action::PageDown => self.keys.move_by(h as isize, h),
            Action::Top => self.keys.jump(false, h),
            Action::Bottom => self.keys.jump(true, h),
            Action::SelectRow(pos) if pos != self.keys.selected => {
                self.keys.selected = pos.min(self.keys.shown().saturating_sub(1));
                self.keys.scroll_into_view(h);
            }
            Action::Enter | Action::SelectRow(_) => {
                if let Some(k) = self.selected_key()
                    && !self.wide()
                {
                    let id = k.id.clone();
                    self.modals.push(Modal::Detail(id));
                }
            }
            Action::Back if !self.keys.filter.is_empty() => {
                self.keys.filter.clear();
                self.keys.rebuild_view();
                if !self.keys.query.is_empty() {
                    return self.load_keys(false);
                }
            }
            // A new `/` starts a new filter (k9s): the old one is replaced, not appended to.
            Action::StartFilter => {
                self.line = Some((LineKind::Filter, Input::default()));
            }
            // Asked of the server, so every page and cursor follows it; the loaded rows are
            // re-sorted at once meanwhile.
            Action::CycleSort | Action::ReverseSort => {
                if action == Action::CycleSort {
                    self.keys.sort = self.keys.sort.next();
                    self.keys.reversed = false;
                } else {
                    self.keys.reversed = !self.keys.reversed;
                }
                self.keys.rebuild_view();
                self.keys.scroll_into_view(h);
                return self.load_keys(false);
            }
            Action::NewKey => {
                let mut f = KeyForm::create(self.my_env());
                f.errors.clear();
                self.modals.push(Modal::Form(Box::new(f)));
            }
            Action::EditKey => {
                if let Some(k) = self.selected_key() {
                    let f = KeyForm::edit(k);
                    self.modals.push(Modal::Form(Box::new(f)));
                }
            }
            Action::ToggleEnabled => {
                if let Some(k) = self.selected_key().cloned() {
                    if k.enabled {
                        self.ask_disable(&k);
                    } else {
                        let req = UpdateKeyRequest {
                            enabled: Some(true),
                            ..UpdateKeyRequest::default()
                        };
                        return self.change_key(&k, k.version, req, EditOrigin::Toggle);
                    }
                }
            }
            Action::DeleteKey => {
                if let Some(k) = self.selected_key().cloned() {
                    let own = self.is_own_key(&k.id);
                    let used = k.last_used_at.map_or_else(
                        || "It has never been used.".to_owned(),
                        |t| format!("Last used {}.", crate::tui::views::ago(t, self.now)),
                    );
                    let mut body = vec![
                        format!("{} stops working at once. This cannot be undone.", k.id),
                        used,
                    ];
                    if own {
                        body.extend(own_key_warning());
                    }
                    self.confirm_destructive(
                        Pending::Delete {
                            id: k.id.clone(),
                            name: k.name.clone(),
                        },
                        format!("Delete {}?", k.name),
                        body,
                        &k.name,
                        own,
                    );
                }
            }
            Action::CopyId => {
                if let Some(k) = self.selected_key() {
                    return vec![Command::Copy(CopyWhat::KeyId(k.id.clone()))];
                }
            }
            Action::RotateKey => return self.open_rotation(None),
            Action::TestKey => {
                let pk = self.selected_key().map(|k| k.id.clone());
                let base = self.session.url.clone();
                self.modals
                    .push(Modal::Tester(Box::new(super::tester::Tester::new(
                        &base,
                        pk.as_deref(),
                    ))));
            }
            Action::Mark => {
                if let Some(id) = self.selected_key().map(|k| k.id.clone()) {
                    if !self.keys.marked.remove(&id) {
                        self.keys.marked.insert(id);
                    }
                    self.keys.move_by(1, h);
                }
            }
            Action::BulkRotate => return self.open_bulk(),
            Action::Undo => return self.ask_undo(),
            Action::RespondLeak => self.respond_leak_selected(),
            _ => {}
        }
        if self.keys.wants_more(h) {
            return self.load_keys(true);
        }
        Vec::new()
    }

    fn update_scopes(&mut self, action: Action) -> Vec<Command> {
        let rows = self
            .catalog
            .as_ref()
            .map(|c| checklist_rows(&c.scopes))
            .unwrap_or_default();
        // The holders pane has the focus: move in it, Enter opens the key, ← or Esc leave.
        if let Some(i) = self.scopes.holder
            && !matches!(action, Action::SelectRow(_))
        {
            let n = self.scopes.holder_keys().len();
            let page = self.holders_height();
            match &action {
                Action::Enter => {
                    return match self.scopes.holder_keys().get(i).map(|k| k.id.clone()) {
                        Some(id) => self.open_key(&id),
                        None => Vec::new(),
                    };
                }
                Action::Left | Action::Back => {
                    self.scopes.holder = None;
                    return Vec::new();
                }
                nav => {
                    if let Some(to) = super::list_move(nav, i, n, page) {
                        self.scopes.holder = Some(to);
                        return Vec::new();
                    }
                }
            }
        }
        // A click selects a catalog row; a click on the selected row does what Enter does.
        if matches!(action, Action::SelectRow(_)) {
            self.scopes.holder = None;
        }
        let action = match action {
            Action::SelectRow(pos) if pos != self.scopes.cursor && pos < rows.len() => {
                self.scopes.cursor = pos;
                return Vec::new();
            }
            Action::SelectRow(_) => Action::Enter,
            other => other,
        };
        match action {
            Action::Right if self.scopes.edit.is_none() => {
                if self.scopes.holder_keys().is_empty() {
                    self.toast(
                        "Press w first: the keys that hold the scope show on the right",
                        false,
                    );
                } else {
                    self.scopes.holder = Some(0);
                }
            }
            Action::Up => self.scopes.cursor = self.scopes.cursor.saturating_sub(1),
            Action::Down => {
                self.scopes.cursor = (self.scopes.cursor + 1).min(rows.len().saturating_sub(1));
            }
            Action::Top => self.scopes.cursor = 0,
            Action::Bottom => self.scopes.cursor = rows.len().saturating_sub(1),
            // Enter on the catalog: the keys that hold the scope, in the Keys tab (a
            // `scope:` filter the server answers), where each can be opened.
            Action::Enter if self.scopes.edit.is_none() => {
                if let Some((name, _)) = rows.get(self.scopes.cursor) {
                    let name = name.clone();
                    return self.keys_holding(&name);
                }
            }
            Action::EditScopes if self.scopes.edit.is_none() => {
                if let Some(k) = self.selected_key() {
                    let set: BTreeSet<String> = k.scopes.iter().cloned().collect();
                    self.scopes.edit = Some(ScopeEdit {
                        key_id: k.id.clone(),
                        key_name: k.name.clone(),
                        version: k.version,
                        original: set.clone(),
                        checked: set,
                        saving: false,
                        refused: None,
                    });
                } else {
                    self.toast("Select a key in the Keys tab first", true);
                }
            }
            Action::Toggle | Action::Enter => {
                if let (Some(ed), Some((name, _))) =
                    (&mut self.scopes.edit, rows.get(self.scopes.cursor))
                    && !ed.saving
                {
                    if !ed.checked.remove(name) {
                        ed.checked.insert(name.clone());
                    }
                    ed.refused = None;
                }
            }
            Action::Save => {
                if let Some(ed) = &mut self.scopes.edit {
                    if ed.checked == ed.original {
                        self.scopes.edit = None;
                        self.toast("Nothing changed", false);
                        return Vec::new();
                    }
                    ed.saving = true;
                    let (id, version) = (ed.key_id.clone(), ed.version);
                    let req = UpdateKeyRequest {
                        scopes: Some(ed.checked.iter().cloned().collect()),
                        ..UpdateKeyRequest::default()
                    };
                    let key = self.keys.get(&id).cloned();
                    return match key {
                        Some(k) => self.change_key(&k, version, req, EditOrigin::Scopes),
                        // A danger profile shows every change before it is sent; without the
                        // key there is no diff to show, so nothing is sent.
                        None if self.session.danger => {
                            if let Some(ed) = &mut self.scopes.edit {
                                ed.saving = false;
                                ed.refused = Some(
                                    "This key is no longer loaded; press Esc and reload."
                                        .to_owned(),
                                );
                            }
                            Vec::new()
                        }
                        None => vec![Command::UpdateKey {
                            id,
                            req,
                            version: Some(version),
                            origin: EditOrigin::Scopes,
                        }],
                    };
                }
            }
            Action::Back => {
                if self.scopes.edit.is_some() {
                    self.scopes.edit = None;
                } else {
                    self.scopes.holders = None;
                }
            }
            Action::WhoHolds => {
                if let Some((name, _)) = rows.get(self.scopes.cursor) {
                    self.scopes.holder = None;
                    self.scopes.holders = Some((name.clone(), Loadable::Loading));
                    return vec![Command::LoadHolders(name.clone())];
                }
            }
            _ => {}
        }
        Vec::new()
    }

    fn update_domains(&mut self, action: Action) -> Vec<Command> {
        let Some(key) = self.selected_key().cloned() else {
            return Vec::new();
        };
        let d = &mut self.domains;
        match d.focus {
            DomainsFocus::List => match action {
                Action::Up => d.cursor = d.cursor.saturating_sub(1),
                Action::Down => {
                    d.cursor = (d.cursor + 1).min(key.allowed_domains.len().saturating_sub(1))
                }
                Action::AddDomain => {
                    d.focus = DomainsFocus::Add;
                    d.add = Input::default();
                    d.add_error = None;
                }
                Action::CheckOrigin | Action::Enter => d.focus = DomainsFocus::Origin,
                Action::RemoveDomain => {
                    if let Some(victim) = key.allowed_domains.get(d.cursor).cloned() {
                        let rest: Vec<String> = key
                            .allowed_domains
                            .iter()
                            .filter(|x| **x != victim)
                            .cloned()
                            .collect();
                        d.saving = true;
                        d.cursor = d.cursor.saturating_sub(1);
                        let req = UpdateKeyRequest {
                            allowed_domains: Some(rest),
                            ..UpdateKeyRequest::default()
                        };
                        return self.change_key(&key, key.version, req, EditOrigin::Domains);
                    }
                }
                _ => {}
            },
            DomainsFocus::Add => match action {
                Action::Edit(req) => {
                    d.add.handle(req);
                    d.add_error = HostPattern::parse(d.add.value())
                        .err()
                        .map(|e| e.to_string());
                }
                Action::Paste(t) => {
                    for c in t.chars().filter(|c| !c.is_control()) {
                        d.add.handle(InputRequest::InsertChar(c));
                    }
                    d.add_error = HostPattern::parse(d.add.value())
                        .err()
                        .map(|e| e.to_string());
                }
                Action::Enter => match HostPattern::parse(d.add.value()) {
                    Ok(p) => {
                        let p = p.to_string();
                        d.focus = DomainsFocus::List;
                        if key.allowed_domains.contains(&p) {
                            return Vec::new();
                        }
                        let mut all = key.allowed_domains.clone();
                        all.push(p);
                        d.saving = true;
                        let req = UpdateKeyRequest {
                            allowed_domains: Some(all),
                            ..UpdateKeyRequest::default()
                        };
                        return self.change_key(&key, key.version, req, EditOrigin::Domains);
                    }
                    Err(e) => d.add_error = Some(e.to_string()),
                },
                Action::Back => d.focus = DomainsFocus::List,
                _ => {}
            },
            DomainsFocus::Origin => match action {
                Action::Edit(req) => {
                    d.origin.handle(req);
                }
                Action::Paste(t) => {
                    for c in t.chars().filter(|c| !c.is_control()) {
                        d.origin.handle(InputRequest::InsertChar(c));
                    }
                }
                Action::Back | Action::Enter => d.focus = DomainsFocus::List,
                _ => {}
            },
        }
        Vec::new()
    }

    fn update_usage(&mut self, action: Action) -> Vec<Command> {
        let u = &mut self.usage;
        let action = match action {
            Action::SelectRow(pos) if pos != u.cursor && pos < u.panel_len() => {
                u.cursor = pos;
                return Vec::new();
            }
            Action::SelectRow(_) => Action::Enter,
            other => other,
        };
        match action {
            Action::CycleBucket => {
                u.bucket = Some(match u.bucket() {
                    BucketSize::Minute => BucketSize::Hour,
                    BucketSize::Hour => BucketSize::Day,
                    BucketSize::Day => BucketSize::Minute,
                });
                let b = u.bucket();
                u.org = Loadable::Loading;
                let mut c = vec![Command::LoadOrgUsage(b)];
                if let Some(k) = self.keys.selected_key() {
                    u.key = Loadable::Loading;
                    c.push(Command::LoadKeyUsage(k.id.clone(), b));
                }
                return c;
            }
            Action::Right | Action::NextField => {
                let i = UsagePanel::ALL
                    .iter()
                    .position(|p| *p == u.panel)
                    .unwrap_or(0);
                u.panel = UsagePanel::ALL[(i + 1) % UsagePanel::ALL.len()];
                u.cursor = 0;
            }
            Action::Left | Action::PrevField => {
                let i = UsagePanel::ALL
                    .iter()
                    .position(|p| *p == u.panel)
                    .unwrap_or(0);
                u.panel = UsagePanel::ALL[(i + UsagePanel::ALL.len() - 1) % UsagePanel::ALL.len()];
                u.cursor = 0;
            }
            Action::Up => u.cursor = u.cursor.saturating_sub(1),
            Action::Down => u.cursor = (u.cursor + 1).min(u.panel_len().saturating_sub(1)),
            Action::Top => u.cursor = 0,
            Action::Bottom => u.cursor = u.panel_len().saturating_sub(1),
            // Every row names a key or a request: Enter opens it.
            Action::Enter => {
                return match u.selected_row() {
                    Some(UsageRow::Key(id)) => self.open_key(&id),
                    Some(UsageRow::Request(id)) => self.run_command(&format!("request {id}")),
                    None => Vec::new(),
                };
            }
            _ => {}
        }
        Vec::new()
    }

    fn update_audit(&mut self, action: Action) -> Vec<Command> {
        let h = self.audit_height();
        let a = &mut self.audit;
        let n = a.rows.len();
        // A click: the row is selected; a click on the selected row opens it, as Enter does.
        let action = match action {
            Action::SelectRow(pos) if pos != a.selected && pos < n => {
                a.selected = pos;
                a.detail_scroll = 0;
                return Vec::new();
            }
            Action::SelectRow(_) => Action::Enter,
            other => other,
        };
        match action {
            // The selected entry in full: Enter opens and closes it, Esc closes it, PgUp/PgDn
            // scroll it, j/k go to the next or previous entry.
            Action::Enter if n > 0 => {
                a.detail = !a.detail;
                a.detail_scroll = 0;
                return Vec::new();
            }
            Action::Back if a.detail => {
                a.detail = false;
                return Vec::new();
            }
            Action::PageDown | Action::PageUp if a.detail => {
                a.detail_scroll = if action == Action::PageDown {
                    a.detail_scroll.saturating_add(10)
                } else {
                    a.detail_scroll.saturating_sub(10)
                };
                return Vec::new();
            }
            nav if super::list_move(&nav, a.selected, n, h).is_some() => {
                a.selected = super::list_move(&nav, a.selected, n, h).unwrap_or(a.selected);
                a.detail_scroll = 0;
            }
            Action::Undo => return self.ask_undo(),
            Action::FilterAuditKey => {
                a.key_filter = match (&a.key_filter, self.keys.selected_key()) {
                    (Some(_), _) | (None, None) => None,
                    (None, Some(k)) => Some(k.id.clone()),
                };
                return self.load_audit(false);
            }
            Action::CycleAuditAction => {
                a.action_filter = match a.action_filter {
                    None => Some(0),
                    Some(i) if i + 1 < AUDIT_ACTIONS.len() => Some(i + 1),
                    Some(_) => None,
                };
                return self.load_audit(false);
            }
            Action::FilterAuditActor => {
                a.actor_filter = match (&a.actor_filter, a.rows.get(a.selected)) {
                    (Some(_), _) => None,
                    (None, Some(e)) => Some(super::tabs::ActorFilter::of(e, |k| {
                        self.keys.get(k).map(|key| key.name.clone())
                    })),
                    (None, None) => return Vec::new(),
                };
                return self.load_audit(false);
            }
            _ => {}
        }
        if a.selected < a.offset {
            a.offset = a.selected;
        } else if a.selected >= a.offset + h {
            a.offset = a.selected + 1 - h;
        }
        if !a.loading && a.next_cursor.is_some() && a.selected + h >= n {
            return self.load_audit(true);
        }
        Vec::new()
    }
}
