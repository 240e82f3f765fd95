//! The command palette (`:`): every command and every action of the screen by name, matched
//! as you type (the letters in order, not necessarily together: `srev` finds
//! `sort_reverse`), with each one's arguments or key shown; `Tab` completes the best match
//! and the arguments that name keys (`:rotate`, `:test`), requests (`:request`), profiles
//! (`:profile`) or scopes (`:scope`); `↑`/`↓`
//! recall earlier commands. An action's name is the one help shows and `[keys]` remaps:
//! `:sort_reverse` does what `S` does on the Keys tab. The crumb row's line (`:` and `/`) is
//! updated here, and `:` commands run here.

use super::LineKind;
use super::Tab;
use super::TimerKind;
use super::modal::Modal;
use super::support::Lookup;
use super::{Action, App, Command};
use crate::tui::keymap::{self, Context};
use tui_input::InputRequest;

/// Commands kept for `↑`.
pub const HISTORY: usize = 50;
/// Candidates shown under the line.
pub const SHOWN: usize = 6;

/// The palette's memory.
#[derive(Debug, Default)]
pub struct Palette {
    /// Commands run, oldest first (no repeats in a row).
    pub history: Vec<String>,
    /// The history entry on the line (`↑`), counted from the newest.
    pub recall: Option<usize>,
    /// The matches of the line as it is, best first: worked out when the line or what it
    /// completes from changes (`App::palette_follow`), not every frame.
    pub found: Vec<Candidate>,
    /// The line `found` answers.
    found_for: Option<String>,
}

/// One match.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Candidate {
    /// What `Tab` puts on the line.
    pub text: String,
    /// Its arguments or what it does.
    pub hint: String,
    /// The binding's name, for the view to show its key.
    pub binding: Option<&'static str>,
}

/// The commands of the line, with their arguments.
pub const COMMANDS: &[(&str, &str)] = &[
    ("keys", "tab 1"),
    ("scopes", "tab 2"),
    ("domains", "tab 3"),
    ("usage", "tab 4"),
    ("audit", "tab 5"),
    ("review", "tab 6"),
    ("new", "a new key"),
    ("rotate", "<key id>  the rotation wizard"),
    ("test", "[key id]  the request tester"),
    ("request", "<req_…>  a customer's refused request"),
    ("hint", "<last 1-4> [pk prefix]  keys by their secret's end"),
    ("profile", "<name>  switch profile"),
    ("scope", "<scope>  the keys holding it, in Keys"),
    ("messages", "the message log"),
    ("refresh", "load again"),
    ("help", "every key"),
    ("quit", "leave"),
];

/// Commands whose argument names a key.
const KEY_ARGUMENT: [&str; 2] = ["rotate", "test"];

/// How well `needle` matches `hay`: its letters in order (case aside); prefixes first, then
/// tighter matches. `None`: no match.
fn score(needle: &str, hay: &str) -> Option<(bool, usize)> {
    let hay_l = hay.to_lowercase();
    let needle = needle.to_lowercase();
    let mut pos = 0usize;
    let mut first = None;
    for c in needle.chars() {
        let found = hay_l[pos..].find(c)? + pos;
        first.get_or_insert(found);
        pos = found + c.len_utf8();
    }
    Some((!hay_l.starts_with(&needle), pos - first.unwrap_or(0)))
}

fn ranked(mut found: Vec<((bool, usize), Candidate)>) -> Vec<Candidate> {
    found.sort_by(|a, b| a.0.cmp(&b.0).then(a.1.text.len().cmp(&b.1.text.len())));
    found.into_iter().map(|(_, c)| c).collect()
}

impl App {
    /// The actions of the screen by binding name (what help lists), once each.
    fn screen_actions(&self) -> Vec<keymap::Binding> {
        let contexts = self.screen_contexts();
        let mut seen: Vec<Action> = Vec::new();
        keymap::defaults()
            .into_iter()
            .filter(|b| contexts.contains(&b.ctx) && b.ctx != Context::Nav)
            .filter(|b| {
                let new = !seen.contains(&b.action);
                seen.push(b.action.clone());
                new
            })
            .collect()
    }

    /// What matches the line now, best first.
    pub fn palette_candidates(&self, line: &str) -> Vec<Candidate> {
        let line = line.trim_start();
        match line.split_once(' ') {
            None => {
                let mut found = Vec::new();
                for (name, hint) in COMMANDS {
                    if let Some(s) = score(line, name) {
                        found.push((
                            s,
                            Candidate {
                                text: (*name).to_owned(),
                                hint: (*hint).to_owned(),
                                binding: None,
                            },
                        ));
                    }
                }
                for b in self.screen_actions() {
                    if COMMANDS.iter().any(|(n, _)| *n == b.name) {
                        continue;
                    }
                    if let Some(s) = score(line, b.name) {
                        found.push((
                            s,
                            Candidate {
                                text: b.name.to_owned(),
                                hint: b.desc.to_owned(),
                                binding: Some(b.name),
                            },
                        ));
                    }
                }
                ranked(found)
            }
            Some((cmd, arg)) => {
                let arg = arg.trim();
                if KEY_ARGUMENT.contains(&cmd) {
                    let mut found = Vec::new();
                    for k in self.keys.rows.iter().take(keys_limit()) {
                        let s = score(arg, &k.id).or_else(|| score(arg, &k.name));
                        if let Some(s) = s {
                            found.push((
                                s,
                                Candidate {
                                    text: format!("{cmd} {}", k.id),
                                    hint: k.name.clone(),
                                    binding: None,
                                },
                            ));
                        }
                    }
                    ranked(found)
                } else if cmd == "profile" || cmd == "scope" {
                    let names: Vec<(String, String)> = if cmd == "profile" {
                        self.profiles
                            .iter()
                            .map(|p| {
                                let here = if *p == self.session.profile {
                                    "this profile"
                                } else {
                                    "switch to it"
                                };
                                (p.clone(), here.to_owned())
                            })
                            .collect()
                    } else {
                        self.catalog
                            .as_ref()
                            .map(|c| super::modal::checklist_rows(&c.scopes))
                            .unwrap_or_default()
                    };
                    ranked(
                        names
                            .into_iter()
                            .filter_map(|(name, hint)| {
                                score(arg, &name).map(|s| {
                                    (
                                        s,
                                        Candidate {
                                            text: format!("{cmd} {name}"),
                                            hint,
                                            binding: None,
                                        },
                                    )
                                })
                            })
                            .collect(),
                    )
                } else if cmd == "request" {
                    let events = self.usage.failures.ready().map_or(&[][..], Vec::as_slice);
                    ranked(
                        events
                            .iter()
                            .filter_map(|e| {
                                score(arg, &e.request_id).map(|s| {
                                    (
                                        s,
                                        Candidate {
                                            text: format!("request {}", e.request_id),
                                            hint: format!("{} {} {}", e.code, e.method, e.path),
                                            binding: None,
                                        },
                                    )
                                })
                            })
                            .collect(),
                    )
                } else {
                    // Say what the command takes.
                    COMMANDS
                        .iter()
                        .filter(|(n, _)| *n == cmd)
                        .map(|(n, h)| Candidate {
                            text: line.to_owned(),
                            hint: format!("{n} {h}"),
                            binding: None,
                        })
                        .collect()
                }
            }
        }
    }

    /// `Tab`: the best match onto the line (with a space after a command that takes an
    /// argument).
    pub(super) fn palette_complete(&mut self) {
        let Some((_, input)) = &self.line else {
            return;
        };
        let Some(best) = self.palette_candidates(input.value()).into_iter().next() else {
            return;
        };
        let takes_argument = COMMANDS
            .iter()
            .any(|(n, h)| *n == best.text && (h.starts_with('<') || h.starts_with('[')));
        let text = if takes_argument {
            format!("{} ", best.text)
        } else {
            best.text
        };
        if let Some((_, input)) = &mut self.line {
            *input = tui_input::Input::new(text);
        }
    }

    /// `↑` (`older`) or `↓`: an earlier command onto the line.
    pub(super) fn palette_recall(&mut self, older: bool) {
        let n = self.palette.history.len();
        if n == 0 {
            return;
        }
        let next = match (self.palette.recall, older) {
            (None, true) => Some(0),
            (None, false) => None,
            (Some(i), true) => Some((i + 1).min(n - 1)),
            (Some(0), false) => None,
            (Some(i), false) => Some(i - 1),
        };
        self.palette.recall = next;
        let text = next
            .and_then(|i| self.palette.history.get(n - 1 - i))
            .cloned()
            .unwrap_or_default();
        if let Some((_, input)) = &mut self.line {
            *input = tui_input::Input::new(text);
        }
    }

    /// Keep a command that was run.
    pub(super) fn palette_remember(&mut self, text: &str) {
        self.palette.recall = None;
        let text = text.trim();
        if text.is_empty() || self.palette.history.last().is_some_and(|l| l == text) {
            return;
        }
        self.palette.history.push(text.to_owned());
        if self.palette.history.len() > HISTORY {
            self.palette.history.remove(0);
        }
    }

    /// After every action: the `:` line's matches again when its text changed or when what
    /// it completes from did (`sources`: keys, the catalog or the failures arrived).
    pub(super) fn palette_follow(&mut self, sources: bool) {
        let text = match &self.line {
            Some((super::LineKind::Command, input)) => input.value().to_owned(),
            _ => {
                self.palette.found.clear();
                self.palette.found_for = None;
                return;
            }
        };
        if sources || self.palette.found_for.as_deref() != Some(text.as_str()) {
            self.palette.found = self.palette_candidates(&text);
            self.palette.found_for = Some(text);
        }
    }

    /// Run a screen action by its binding name, as its key would.
    pub(super) fn run_binding(&mut self, name: &str) -> Option<Vec<Command>> {
        let action: Action = self
            .screen_actions()
            .into_iter()
            .find(|b| b.name == name)?
            .action;
        Some(self.update(action))
    }
}

/// Keys the argument completion looks through (the loaded rows, bounded per keystroke).
fn keys_limit() -> usize {
    super::keys::LOCAL_FILTER_LIMIT
}

impl App {
    pub(super) fn update_line(&mut self, action: Action) -> Vec<Command> {
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
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn letters_in_order_match_prefixes_first() {
        assert_eq!(score("rot", "rotate"), Some((false, 3)));
        assert!(score("srev", "sort_reverse").is_some());
        assert_eq!(score("x", "rotate"), None);
        assert!(score("rot", "rotate") < score("rot", "sort_reverse_rot"));
    }
}
