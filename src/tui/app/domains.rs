//! The Domains tab: a key's allowed domains, the check of an origin, adding and removing.

use super::{Action, App, Command, EditOrigin};
use crate::api::UpdateKeyRequest;
use crate::domain::host_pattern::HostPattern;
use tui_input::{Input, InputRequest};

/// Focus in the Domains tab.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum DomainsFocus {
    /// The selected key's domains.
    #[default]
    List,
    /// The "would this Origin pass?" input.
    Origin,
    /// The add-domain input.
    Add,
}

/// Domains tab.
#[derive(Debug, Default)]
pub struct DomainsTab {
    /// Cursor in the key's domains.
    pub cursor: usize,
    /// Where input goes.
    pub focus: DomainsFocus,
    /// New domain being typed.
    pub add: Input,
    /// Why the typed domain is invalid.
    pub add_error: Option<String>,
    /// Origin to check.
    pub origin: Input,
    /// A save is in flight.
    pub saving: bool,
    /// The server's refusal of the last save.
    pub refused: Option<String>,
}

impl DomainsTab {
    /// The key contexts the tab reports: only typing keys while an input has the focus.
    pub fn contexts(&self) -> Vec<crate::tui::keymap::Context> {
        use crate::tui::keymap::Context;
        if self.focus == DomainsFocus::List {
            vec![Context::Domains, Context::Nav, Context::Global]
        } else {
            vec![Context::DomainsInput]
        }
    }
}

impl App {
    pub(super) fn update_domains(&mut self, action: Action) -> Vec<Command> {
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
}
