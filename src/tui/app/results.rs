//! Task results, clocks and sizes: what `tui::tasks` and the event loop send back. They are
//! handled whatever has focus, before any user input is routed ([`App::update`]).

use super::Loadable;
use super::modal::{Modal, Reveal};
use super::support::Lookup;
use super::{Action, App, Command, Conn, EditOrigin, TimerKind, UiError, explain};
use crate::domain::scope::{Catalog, CatalogEntry};

impl App {
    /// A task result, a clock tick or a new size, whatever has focus. Takes the action by
    /// value (a page of keys or a secret is moved into place, not copied). User input never
    /// comes here: [`App::update`] routes it by [`Action::is_user_input`].
    pub(super) fn on_result(&mut self, action: Action) -> Vec<Command> {
        match action {
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
            a @ (Action::OrgUsageLoaded(_)
            | Action::KeyUsageLoaded(_)
            | Action::StaleLoaded(_)
            | Action::OldLoaded(_)
            | Action::FailuresLoaded(_)) => {
                self.usage_loaded(a);
                Vec::new()
            }
            Action::HoldersLoaded { scope, result } => {
                self.holders_loaded(scope, result);
                Vec::new()
            }
            Action::AuditLoaded {
                generation,
                append,
                result,
            } => {
                self.audit_loaded(generation, append, result);
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
                            return vec![Command::Timer(TimerKind::ClipboardClear(id), after)];
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
            // User input: routed elsewhere by `App::update`.
            _ => Vec::new(),
        }
    }

    pub(super) fn timer(&mut self, kind: TimerKind) -> Vec<Command> {
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

    pub(super) fn key_created(
        &mut self,
        r: Result<crate::api::CreateKeyResponse, UiError>,
    ) -> Vec<Command> {
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

    pub(super) fn key_updated(
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
}
