//! The only place that looks at key codes. One table maps (context, key) to an [`Action`];
//! the same table draws the hint row and the help overlay, so help never drifts from the
//! bindings. Bindings can be remapped by action name from the config file's `[keys]` table.

use std::collections::BTreeMap;

use crossterm::event::{KeyCode, KeyEvent, KeyEventKind, KeyModifiers};
use tui_input::InputRequest;

use super::app::{Action, App, Conn, Tab};

/// Where input goes; the app reports the contexts that apply, most specific first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Context {
    /// Everywhere outside text entry and modals.
    Global,
    /// Moving around lists.
    Nav,
    /// Keys tab.
    Keys,
    /// Scopes tab.
    Scopes,
    /// Scopes tab while editing a key's scopes.
    ScopesEditing,
    /// Domains tab.
    Domains,
    /// Domains tab, typing a domain or an Origin.
    DomainsInput,
    /// Usage tab.
    Usage,
    /// Audit tab.
    Audit,
    /// Review tab.
    Review,
    /// The leak response (rotate or disable).
    LeakChoice,
    /// The `/` filter or `:` command line.
    Line,
    /// The help overlay.
    Help,
    /// The key form on an option field.
    Form,
    /// The key form on a text field.
    FormText,
    /// The scope picker.
    Picker,
    /// A yes/no confirmation.
    Confirm,
    /// A confirmation that needs the key name typed.
    ConfirmTyped,
    /// The one-time secret reveal.
    Reveal,
    /// Key details.
    Detail,
    /// Not connected.
    Disconnected,
    /// The rotation wizard.
    Wizard,
    /// The rotation wizard, typing a custom grace.
    WizardText,
    /// Bulk rotation, its new secrets shown.
    Bulk,
    /// Bulk rotation, choosing the grace (or rotating): nothing to show or copy yet.
    BulkPlan,
    /// Bulk rotation, typing (custom grace, file path).
    BulkText,
    /// A support lookup result.
    Lookup,
    /// The request tester on a choice or button.
    Tester,
    /// The request tester on a text field.
    TesterText,
    /// The message log.
    Messages,
}

impl Context {
    /// Whether unbound printable keys type text here.
    pub fn is_text(self) -> bool {
        matches!(
            self,
            Context::Line
                | Context::Help
                | Context::FormText
                | Context::ConfirmTyped
                | Context::DomainsInput
                | Context::WizardText
                | Context::BulkText
                | Context::TesterText
        )
    }

    /// Title in the help overlay.
    pub fn title(self) -> &'static str {
        match self {
            Context::Global => "Everywhere",
            Context::Nav => "Lists",
            Context::Keys => "Keys",
            Context::Scopes => "Scopes",
            Context::ScopesEditing => "Editing scopes",
            Context::Domains => "Domains",
            Context::DomainsInput => "Typing",
            Context::Usage => "Usage",
            Context::Audit => "Audit",
            Context::Review => "Review",
            Context::LeakChoice => "Leaked key",
            Context::Line => "Filter / command line",
            Context::Help => "Help",
            Context::Form => "Key form",
            Context::FormText => "Key form",
            Context::Picker => "Scope picker",
            Context::Confirm => "Confirm",
            Context::ConfirmTyped => "Confirm",
            Context::Reveal => "Secret",
            Context::Detail => "Details",
            Context::Disconnected => "Not connected",
            Context::Wizard | Context::WizardText => "Rotation wizard",
            Context::Bulk | Context::BulkPlan | Context::BulkText => "Bulk rotation",
            Context::Lookup => "Lookup",
            Context::Tester | Context::TesterText => "Request tester",
            Context::Messages => "Message log",
        }
    }
}

/// A key with modifiers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct KeySpec {
    /// Key.
    pub code: KeyCode,
    /// Ctrl / Alt (Shift is folded into the character).
    pub mods: KeyModifiers,
}

impl KeySpec {
    const fn plain(code: KeyCode) -> KeySpec {
        KeySpec {
            code,
            mods: KeyModifiers::NONE,
        }
    }

    const fn ch(c: char) -> KeySpec {
        KeySpec::plain(KeyCode::Char(c))
    }

    const fn ctrl(c: char) -> KeySpec {
        KeySpec {
            code: KeyCode::Char(c),
            mods: KeyModifiers::CONTROL,
        }
    }

    /// Parse `q`, `ctrl-r`, `alt-x`, `shift-tab`, `enter`, `esc`, `space`, `pgup`, `f1`, …
    pub fn parse(s: &str) -> Option<KeySpec> {
        let s = s.trim();
        let mut mods = KeyModifiers::NONE;
        let mut rest = s;
        loop {
            let lower = rest.to_ascii_lowercase();
            if let Some(r) = lower
                .strip_prefix("ctrl-")
                .or_else(|| lower.strip_prefix("c-"))
            {
                mods |= KeyModifiers::CONTROL;
                rest = &rest[rest.len() - r.len()..];
            } else if let Some(r) = lower
                .strip_prefix("alt-")
                .or_else(|| lower.strip_prefix("m-"))
            {
                mods |= KeyModifiers::ALT;
                rest = &rest[rest.len() - r.len()..];
            } else if lower == "shift-tab" || lower == "backtab" {
                return Some(KeySpec {
                    code: KeyCode::BackTab,
                    mods,
                });
            } else {
                break;
            }
        }
        let code = match rest.to_ascii_lowercase().as_str() {
            "enter" | "return" => KeyCode::Enter,
            "esc" | "escape" => KeyCode::Esc,
            "tab" => KeyCode::Tab,
            "space" => KeyCode::Char(' '),
            "backspace" => KeyCode::Backspace,
            "delete" | "del" => KeyCode::Delete,
            "up" => KeyCode::Up,
            "down" => KeyCode::Down,
            "left" => KeyCode::Left,
            "right" => KeyCode::Right,
            "home" => KeyCode::Home,
            "end" => KeyCode::End,
            "pgup" | "pageup" => KeyCode::PageUp,
            "pgdn" | "pagedown" => KeyCode::PageDown,
            f if f.len() >= 2 && f.starts_with('f') && f[1..].parse::<u8>().is_ok() => {
                KeyCode::F(f[1..].parse().ok()?)
            }
            _ => {
                let mut chars = rest.chars();
                let c = chars.next()?;
                if chars.next().is_some() {
                    return None;
                }
                if mods.contains(KeyModifiers::CONTROL) {
                    KeyCode::Char(c.to_ascii_lowercase())
                } else {
                    KeyCode::Char(c)
                }
            }
        };
        Some(KeySpec { code, mods })
    }

    /// Label for hints and help.
    pub fn label(&self) -> String {
        let base = match self.code {
            KeyCode::Char(' ') => "Space".to_owned(),
            KeyCode::Char(c) => c.to_string(),
            KeyCode::Enter => "Enter".to_owned(),
            KeyCode::Esc => "Esc".to_owned(),
            KeyCode::Tab => "Tab".to_owned(),
            KeyCode::BackTab => "S-Tab".to_owned(),
            KeyCode::Up => "↑".to_owned(),
            KeyCode::Down => "↓".to_owned(),
            KeyCode::Left => "←".to_owned(),
            KeyCode::Right => "→".to_owned(),
            KeyCode::PageUp => "PgUp".to_owned(),
            KeyCode::PageDown => "PgDn".to_owned(),
            KeyCode::Home => "Home".to_owned(),
            KeyCode::End => "End".to_owned(),
            KeyCode::F(n) => format!("F{n}"),
            KeyCode::Backspace => "Bksp".to_owned(),
            KeyCode::Delete => "Del".to_owned(),
            other => format!("{other:?}"),
        };
        let mut s = String::new();
        if self.mods.contains(KeyModifiers::CONTROL) {
            s.push_str("C-");
        }
        if self.mods.contains(KeyModifiers::ALT) {
            s.push_str("M-");
        }
        s.push_str(&base);
        s
    }

    fn matches(&self, ev: &KeyEvent) -> bool {
        let mods = ev.modifiers - KeyModifiers::SHIFT;
        let code = match ev.code {
            KeyCode::Char(c) if mods.contains(KeyModifiers::CONTROL) => {
                KeyCode::Char(c.to_ascii_lowercase())
            }
            other => other,
        };
        code == self.code && mods == self.mods
    }
}

/// One binding.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Binding {
    /// Where it applies.
    pub ctx: Context,
    /// The key.
    pub key: KeySpec,
    /// What it does.
    pub action: Action,
    /// Name for remapping (`[keys] name = "spec"`).
    pub name: &'static str,
    /// Description for help and hints.
    pub desc: &'static str,
    /// Shown in the hint row.
    pub hint: bool,
}

// Shorthands for the table below.
use Context as C;
use KeyCode as K;

const fn p(code: KeyCode) -> KeySpec {
    KeySpec::plain(code)
}

const fn ch(c: char) -> KeySpec {
    KeySpec::ch(c)
}

const fn ctrl(c: char) -> KeySpec {
    KeySpec::ctrl(c)
}

/// The default bindings, one line each: where it applies, the key, the action, its name
/// (what `[keys]` remaps and the palette runs), what help and the hint row say, and whether
/// the hint row shows it. The order is the order of the hint row and of help.
#[rustfmt::skip]
const DEFAULTS: &[(Context, KeySpec, Action, &str, &str, bool)] = &[
    (C::Global, ch('q'), Action::Quit, "quit", "quit", true),
    (C::Global, ctrl('c'), Action::ForceQuit, "force_quit", "quit now", false),
    (C::Global, ch('?'), Action::Help, "help", "help", true),
    (C::Global, ch(':'), Action::StartCommand, "command", "command line", false),
    (C::Global, ctrl('r'), Action::Refresh, "refresh", "refresh", false),
    (C::Global, p(K::Tab), Action::NextTab, "next_tab", "next tab", false),
    (C::Global, p(K::BackTab), Action::PrevTab, "prev_tab", "previous tab", false),
    (C::Global, ch('1'), Action::GoTab(Tab::Keys), "tab_keys", "Keys tab", false),
    (C::Global, ch('2'), Action::GoTab(Tab::Scopes), "tab_scopes", "Scopes tab", false),
    (C::Global, ch('3'), Action::GoTab(Tab::Domains), "tab_domains", "Domains tab", false),
    (C::Global, ch('4'), Action::GoTab(Tab::Usage), "tab_usage", "Usage tab", false),
    (C::Global, ch('5'), Action::GoTab(Tab::Audit), "tab_audit", "Audit tab", false),
    (C::Nav, ch('j'), Action::Down, "down", "down", false),
    (C::Nav, p(K::Down), Action::Down, "down_arrow", "down", false),
    (C::Nav, ch('k'), Action::Up, "up", "up", false),
    (C::Nav, p(K::Up), Action::Up, "up_arrow", "up", false),
    (C::Nav, ch('g'), Action::Top, "top", "first row", false),
    (C::Nav, p(K::Home), Action::Top, "top_home", "first row", false),
    (C::Nav, ch('G'), Action::Bottom, "bottom", "last row", false),
    (C::Nav, p(K::End), Action::Bottom, "bottom_end", "last row", false),
    (C::Nav, p(K::PageUp), Action::PageUp, "page_up", "page up", false),
    (C::Nav, p(K::PageDown), Action::PageDown, "page_down", "page down", false),
    (C::Nav, p(K::Enter), Action::Enter, "open", "open", false),
    (C::Nav, p(K::Esc), Action::Back, "back", "back / clear", false),
    // Keys
    (C::Keys, ch('/'), Action::StartFilter, "filter", "filter", true),
    (C::Keys, ch('n'), Action::NewKey, "new_key", "new", true),
    (C::Keys, ch('e'), Action::EditKey, "edit_key", "edit", true),
    (C::Keys, ch(' '), Action::ToggleEnabled, "toggle_enabled", "on/off", true),
    (C::Keys, ch('d'), Action::DeleteKey, "delete_key", "delete", true),
    (C::Keys, ch('y'), Action::CopyId, "copy_id", "copy id", false),
    (C::Keys, ch('s'), Action::CycleSort, "sort", "sort", false),
    (C::Keys, ch('S'), Action::ReverseSort, "sort_reverse", "reverse sort", false),
    (C::Keys, ch('r'), Action::RotateKey, "rotate", "rotate", true),
    (C::Keys, ch('m'), Action::Mark, "mark", "mark", false),
    (C::Keys, ch('u'), Action::Undo, "undo_latest", "undo its latest change", false),
    (C::Keys, ch('t'), Action::TestKey, "test_key", "test", true),
    // Request tester
    (C::Tester, p(K::Tab), Action::NextField, "tester_next", "next field", true),
    (C::Tester, p(K::BackTab), Action::PrevField, "tester_prev", "previous field", false),
    (C::Tester, p(K::Down), Action::NextField, "tester_down", "next field", false),
    (C::Tester, p(K::Up), Action::PrevField, "tester_up", "previous field", false),
    (C::Tester, p(K::Left), Action::Left, "tester_left", "change", false),
    (C::Tester, p(K::Right), Action::Right, "tester_right", "change", false),
    (C::Tester, ch(' '), Action::Toggle, "tester_toggle", "change form", false),
    (C::Tester, p(K::Enter), Action::Enter, "tester_enter", "next / send", false),
    (C::Tester, ctrl('s'), Action::Send, "tester_send", "send", true),
    (C::Tester, ctrl('y'), Action::CopyCurl, "tester_curl", "copy as cURL", true),
    (C::Tester, ctrl('p'), Action::RecallOlder, "tester_older", "older request", true),
    (C::Tester, ctrl('n'), Action::RecallNewer, "tester_newer", "newer request", false),
    (C::Tester, p(K::PageDown), Action::PageDown, "tester_pgdn", "scroll answer", false),
    (C::Tester, p(K::PageUp), Action::PageUp, "tester_pgup", "scroll answer", false),
    (C::Tester, p(K::Esc), Action::Back, "tester_close", "close", true),
    (C::Tester, ctrl('c'), Action::ForceQuit, "tester_quit", "quit now", false),
    (C::Keys, ch('R'), Action::BulkRotate, "bulk_rotate", "rotate marked", false),
    // Rotation wizard
    (C::Wizard, p(K::Enter), Action::Enter, "wizard_next", "next", true),
    (C::Wizard, p(K::Esc), Action::Back, "wizard_back", "back", true),
    (C::Wizard, ch('q'), Action::Quit, "wizard_leave", "leave", true),
    (C::Wizard, p(K::Up), Action::Up, "wizard_up", "choose", false),
    (C::Wizard, p(K::Down), Action::Down, "wizard_down", "choose", false),
    (C::Wizard, ch('k'), Action::Up, "wizard_k", "choose", false),
    (C::Wizard, ch('j'), Action::Down, "wizard_j", "choose", false),
    (C::Wizard, ch(' '), Action::Toggle, "wizard_toggle", "quiet period / option", false),
    (C::Wizard, ctrl('r'), Action::Refresh, "wizard_refresh", "refresh", false),
    (C::Wizard, ctrl('c'), Action::ForceQuit, "wizard_quit", "quit now", false),
    (C::WizardText, p(K::Enter), Action::Enter, "wizard_text_next", "next", true),
    (C::WizardText, p(K::Esc), Action::Back, "wizard_text_back", "back", true),
    (C::WizardText, p(K::Up), Action::Up, "wizard_text_up", "choose", false),
    (C::WizardText, p(K::Down), Action::Down, "wizard_text_down", "choose", false),
    // Lookup
    (C::Lookup, p(K::Up), Action::Up, "lookup_up", "up", false),
    (C::Lookup, p(K::Down), Action::Down, "lookup_down", "down", false),
    (C::Lookup, p(K::Enter), Action::Enter, "lookup_open", "open key / close", true),
    (C::Lookup, ch('c'), Action::CopyReply, "lookup_copy_reply", "copy a reply for the customer", true),
    (C::Lookup, p(K::Esc), Action::Back, "lookup_close", "close", true),
    // Bulk rotation, before the new secrets are there
    (C::BulkPlan, p(K::Up), Action::Up, "bulk_plan_up", "grace", false),
    (C::BulkPlan, p(K::Down), Action::Down, "bulk_plan_down", "grace", false),
    (C::BulkPlan, ch('k'), Action::Up, "bulk_plan_k", "grace", false),
    (C::BulkPlan, ch('j'), Action::Down, "bulk_plan_j", "grace", false),
    (C::BulkPlan, p(K::Enter), Action::Enter, "bulk_plan_enter", "rotate all", true),
    (C::BulkPlan, p(K::Esc), Action::Back, "bulk_plan_back", "cancel", true),
    (C::BulkPlan, ctrl('c'), Action::ForceQuit, "bulk_plan_quit", "quit now", false),
    // Bulk rotation, the new secrets shown
    (C::Bulk, p(K::Up), Action::Up, "bulk_up", "up", false),
    (C::Bulk, p(K::Down), Action::Down, "bulk_down", "down", false),
    (C::Bulk, ch('k'), Action::Up, "bulk_k", "up", false),
    (C::Bulk, ch('j'), Action::Down, "bulk_j", "down", false),
    (C::Bulk, ch('v'), Action::Reveal, "bulk_reveal", "show", true),
    (C::Bulk, ch('c'), Action::CopySecret, "bulk_copy", "copy", true),
    (C::Bulk, ch('w'), Action::WriteFile, "bulk_write", "write file (0600)", true),
    (C::Bulk, p(K::Enter), Action::Enter, "bulk_enter", "I have stored them", true),
    (C::Bulk, p(K::Esc), Action::Back, "bulk_back", "back", true),
    (C::Bulk, ctrl('c'), Action::ForceQuit, "bulk_quit", "quit now", false),
    (C::BulkText, p(K::Enter), Action::Enter, "bulk_text_enter", "done", true),
    (C::BulkText, p(K::Esc), Action::Back, "bulk_text_back", "cancel", true),
    (C::BulkText, p(K::Up), Action::Up, "bulk_text_up", "choose", false),
    (C::BulkText, p(K::Down), Action::Down, "bulk_text_down", "choose", false),
    // Scopes
    (C::Scopes, ch('e'), Action::EditScopes, "edit_scopes", "edit key's scopes", true),
    (C::Scopes, ch('w'), Action::WhoHolds, "who_holds", "which keys hold it", true),
    (C::Scopes, p(K::Right), Action::Right, "holders_pane", "pick a holder", true),
    (C::Scopes, p(K::Left), Action::Left, "catalog_pane", "back to the catalog", false),
    (C::ScopesEditing, ch(' '), Action::Toggle, "toggle_scope", "toggle", true),
    (C::ScopesEditing, ch('s'), Action::Save, "save_scopes", "save", true),
    (C::ScopesEditing, p(K::Esc), Action::Back, "cancel_scopes", "cancel", true),
    // Domains
    (C::Domains, ch('a'), Action::AddDomain, "add_domain", "add", true),
    (C::Domains, ch('x'), Action::RemoveDomain, "remove_domain", "remove", true),
    (C::Domains, ch('o'), Action::CheckOrigin, "check_origin", "check an Origin", true),
    (C::DomainsInput, p(K::Enter), Action::Enter, "domain_enter", "done", true),
    (C::DomainsInput, p(K::Esc), Action::Back, "domain_back", "back", true),
    // Usage
    (C::Usage, ch('b'), Action::CycleBucket, "bucket", "minute/hour/day", true),
    (C::Usage, p(K::Right), Action::Right, "next_panel", "next list", true),
    (C::Usage, ch('l'), Action::Right, "next_panel_l", "next list", false),
    (C::Usage, p(K::Left), Action::Left, "prev_panel", "previous list", false),
    (C::Usage, ch('h'), Action::Left, "prev_panel_h", "previous list", false),
    // Audit
    (C::Audit, ch('K'), Action::FilterAuditKey, "audit_key", "only selected key", true),
    (C::Audit, ch('a'), Action::CycleAuditAction, "audit_action", "action filter", true),
    (C::Audit, ch('A'), Action::FilterAuditActor, "audit_actor", "only this actor", true),
    (C::Audit, p(K::Enter), Action::Enter, "audit_open", "details", true),
    (C::Audit, ch('u'), Action::Undo, "undo", "undo this change", true),
    // Line input
    (C::Line, p(K::Enter), Action::Enter, "line_enter", "done", true),
    (C::Line, p(K::Esc), Action::Back, "line_cancel", "clear / cancel", true),
    (C::Line, p(K::Up), Action::Up, "line_up", "up / older command", false),
    (C::Line, p(K::Tab), Action::NextField, "line_complete", "complete", false),
    (C::Line, p(K::Down), Action::Down, "line_down", "down", false),
    (C::Line, ctrl('c'), Action::ForceQuit, "line_quit", "quit now", false),
    // Help
    (C::Help, p(K::Esc), Action::Back, "help_close", "close", true),
    (C::Help, p(K::Up), Action::Up, "help_up", "scroll", false),
    (C::Help, p(K::Down), Action::Down, "help_down", "scroll", false),
    (C::Help, p(K::PageUp), Action::PageUp, "help_pgup", "scroll", false),
    (C::Help, p(K::PageDown), Action::PageDown, "help_pgdn", "scroll", false),
    (C::Help, ctrl('c'), Action::ForceQuit, "help_quit", "quit now", false),
    // Form (both kinds of field)
    (C::Form, p(K::Tab), Action::NextField, "form_next", "next field", true),
    (C::Form, p(K::BackTab), Action::PrevField, "form_prev", "previous field", false),
    (C::Form, p(K::Down), Action::NextField, "form_down", "next field", false),
    (C::Form, p(K::Up), Action::PrevField, "form_up", "previous field", false),
    (C::Form, p(K::Left), Action::Left, "form_left", "change", false),
    (C::Form, p(K::Right), Action::Right, "form_right", "change", true),
    (C::Form, ch(' '), Action::Toggle, "form_toggle", "change", false),
    (C::Form, p(K::Enter), Action::Enter, "form_enter", "next / pick / submit", true),
    (C::Form, ctrl('s'), Action::Save, "form_save", "submit", true),
    (C::Form, p(K::Esc), Action::Back, "form_cancel", "cancel", true),
    (C::Form, ctrl('c'), Action::ForceQuit, "form_quit", "quit now", false),
    // Picker
    (C::Picker, ch('j'), Action::Down, "picker_down", "down", false),
    (C::Picker, p(K::Down), Action::Down, "picker_down_arrow", "down", false),
    (C::Picker, ch('k'), Action::Up, "picker_up", "up", false),
    (C::Picker, p(K::Up), Action::Up, "picker_up_arrow", "up", false),
    (C::Picker, ch(' '), Action::Toggle, "picker_toggle", "toggle", true),
    (C::Picker, p(K::Enter), Action::Enter, "picker_done", "done", true),
    (C::Picker, p(K::Esc), Action::Back, "picker_cancel", "cancel", true),
    // Confirm
    (C::Confirm, ch('y'), Action::Yes, "yes", "yes", true),
    (C::Confirm, p(K::Enter), Action::Yes, "yes_enter", "yes", false),
    (C::Confirm, ch('n'), Action::No, "no", "no", true),
    (C::Confirm, p(K::Esc), Action::No, "no_esc", "no", false),
    (C::ConfirmTyped, p(K::Enter), Action::Enter, "typed_confirm", "confirm", true),
    (C::ConfirmTyped, p(K::Esc), Action::No, "typed_cancel", "cancel", true),
    // Reveal
    (C::Reveal, ch('v'), Action::Reveal, "reveal", "show for a while", true),
    (C::Reveal, ch('c'), Action::CopySecret, "copy_secret", "copy", true),
    (C::Reveal, p(K::Enter), Action::Enter, "stored", "I have stored it", true),
    (C::Reveal, p(K::Esc), Action::Back, "reveal_close", "close", true),
    (C::Reveal, ctrl('c'), Action::ForceQuit, "reveal_quit", "quit", false),
    (C::Reveal, ch('?'), Action::Help, "reveal_help", "help", false),
    // Detail
    (C::Detail, p(K::Esc), Action::Back, "detail_close", "close", true),
    (C::Detail, p(K::Enter), Action::Back, "detail_close_enter", "close", false),
    (C::Detail, ch('q'), Action::Back, "detail_close_q", "close", false),
    // Disconnected
    (C::Disconnected, ctrl('r'), Action::Refresh, "retry", "retry", true),
    (C::Disconnected, ch('q'), Action::Quit, "quit_disconnected", "quit", true),
    (C::Disconnected, ctrl('c'), Action::ForceQuit, "force_quit_disconnected", "quit now", false),
    // Review tab, the leak response, and `L` on a key
    (C::Global, ch('6'), Action::GoTab(Tab::Review), "tab_review", "Review tab", false),
    (C::Keys, ch('L'), Action::RespondLeak, "respond_leak", "leaked: rotate or disable", false),
    (C::Review, p(K::Enter), Action::Enter, "review_open", "open key", true),
    (C::Review, ch('o'), Action::SetOwner, "review_owner", "set owner", true),
    (C::Review, ch('p'), Action::NarrowScopes, "review_narrow", "narrow scopes", true),
    (C::Review, ch(' '), Action::ToggleEnabled, "review_disable", "disable", true),
    (C::Review, ch('r'), Action::RotateKey, "review_rotate", "rotate", true),
    (C::Review, ch('L'), Action::RespondLeak, "review_leak", "leaked: rotate or disable", false),
    (C::LeakChoice, p(K::Up), Action::Up, "leak_up", "choose", false),
    (C::LeakChoice, p(K::Down), Action::Down, "leak_down", "choose", true),
    (C::LeakChoice, ch('k'), Action::Up, "leak_k", "choose", false),
    (C::LeakChoice, ch('j'), Action::Down, "leak_j", "choose", false),
    (C::LeakChoice, p(K::Enter), Action::Enter, "leak_do", "do it", true),
    (C::LeakChoice, p(K::Esc), Action::Back, "leak_cancel", "cancel", true),
    (C::LeakChoice, ctrl('c'), Action::ForceQuit, "leak_quit", "quit now", false),
    // The message log: `M` (free in every tab) opens it; it scrolls like a list
    (C::Global, ch('M'), Action::Messages, "messages", "message log", false),
    (C::Messages, ch('j'), Action::Down, "messages_down", "older", true),
    (C::Messages, p(K::Down), Action::Down, "messages_down_arrow", "older", false),
    (C::Messages, ch('k'), Action::Up, "messages_up", "newer", true),
    (C::Messages, p(K::Up), Action::Up, "messages_up_arrow", "newer", false),
    (C::Messages, p(K::PageDown), Action::PageDown, "messages_page_down", "older page", false),
    (C::Messages, p(K::PageUp), Action::PageUp, "messages_page_up", "newer page", false),
    (C::Messages, ch('g'), Action::Top, "messages_top", "newest", false),
    (C::Messages, ch('G'), Action::Bottom, "messages_bottom", "oldest", false),
    (C::Messages, p(K::Esc), Action::Back, "messages_close", "close", true),
    (C::Messages, ch('q'), Action::Back, "messages_close_q", "close", false),
    (C::Messages, ch('M'), Action::Back, "messages_close_m", "close", false),
    (C::Messages, ctrl('c'), Action::ForceQuit, "messages_quit", "quit now", false),
];

/// The default bindings.
pub fn defaults() -> Vec<Binding> {
    DEFAULTS
        .iter()
        .map(|(ctx, key, action, name, desc, hint)| Binding {
            ctx: *ctx,
            key: *key,
            action: action.clone(),
            name,
            desc,
            hint: *hint,
        })
        .collect()
}

/// Why a `[keys]` override was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeymapError {
    /// No binding has this name.
    #[error("[keys] {0}: no such action; see the names in the help overlay (?)")]
    UnknownAction(String),
    /// The key is already another action's there.
    #[error(
        "[keys] {name} = \"{spec}\": that key already does `{other}` there; remap `{other}` too, or pick another key"
    )]
    Taken {
        /// Action name.
        name: String,
        /// The spec.
        spec: String,
        /// The action that has the key.
        other: String,
    },
    /// The key spec did not parse.
    #[error(
        "[keys] {name} = \"{spec}\": not a key; use e.g. \"q\", \"ctrl-r\", \"shift-tab\", \"f2\""
    )]
    BadKey {
        /// Action name.
        name: String,
        /// The spec.
        spec: String,
    },
}

/// Whether bindings in these two contexts can hide one another: the same context, or a
/// tab's context and the list/global ones looked up after it.
fn shadows(a: Context, b: Context) -> bool {
    use Context as C;
    let layered = |x: Context| {
        matches!(
            x,
            C::Keys | C::Scopes | C::ScopesEditing | C::Domains | C::Usage | C::Audit | C::Review
        )
    };
    let under = |x: Context| matches!(x, C::Nav | C::Global);
    a == b || ((layered(a) || under(a)) && (layered(b) || under(b)) && (under(a) || under(b)))
}

/// The keymap in force.
#[derive(Debug, Clone)]
pub struct Keymap {
    bindings: Vec<Binding>,
}

impl Default for Keymap {
    fn default() -> Self {
        Keymap {
            bindings: defaults(),
        }
    }
}

impl Keymap {
    /// Defaults with `[keys]` overrides applied (action name → key spec).
    pub fn with_overrides(overrides: &BTreeMap<String, String>) -> Result<Keymap, KeymapError> {
        let mut bindings = defaults();
        for (name, spec) in overrides {
            let key = KeySpec::parse(spec).ok_or_else(|| KeymapError::BadKey {
                name: name.clone(),
                spec: spec.clone(),
            })?;
            let mut found = false;
            for bd in bindings.iter_mut().filter(|bd| bd.name == name) {
                bd.key = key;
                found = true;
            }
            if !found {
                return Err(KeymapError::UnknownAction(name.clone()));
            }
        }
        // A remapped key that another action still uses in the same place would leave one of
        // them with no key: refuse it (a swap, remapping both, is fine).
        for (i, a) in bindings.iter().enumerate() {
            if !overrides.contains_key(a.name) {
                continue;
            }
            if let Some(other) = bindings
                .iter()
                .enumerate()
                .find(|(j, b)| *j != i && b.key == a.key && shadows(a.ctx, b.ctx))
                .map(|(_, b)| b)
            {
                return Err(KeymapError::Taken {
                    name: a.name.to_owned(),
                    spec: overrides.get(a.name).cloned().unwrap_or_default(),
                    other: other.name.to_owned(),
                });
            }
        }
        Ok(Keymap { bindings })
    }

    /// The action for a key event in these contexts (most specific first).
    pub fn action(&self, contexts: &[Context], ev: &KeyEvent) -> Option<Action> {
        if ev.kind == KeyEventKind::Release {
            return None;
        }
        for ctx in contexts {
            if let Some(bd) = self
                .bindings
                .iter()
                .find(|bd| bd.ctx == *ctx && bd.key.matches(ev))
            {
                return Some(bd.action.clone());
            }
            if ctx.is_text()
                && let Some(req) = edit_request(ev)
            {
                return Some(Action::Edit(req));
            }
        }
        None
    }

    /// Hint-row entries for these contexts: (key label, description).
    pub fn hints(&self, contexts: &[Context]) -> Vec<(String, &'static str)> {
        let mut out: Vec<(String, &'static str)> = Vec::new();
        for ctx in contexts {
            for bd in self.bindings.iter().filter(|bd| bd.ctx == *ctx && bd.hint) {
                if !out.iter().any(|(_, d)| *d == bd.desc) {
                    out.push((bd.key.label(), bd.desc));
                }
            }
        }
        out
    }

    /// Help entries for these contexts: (section, key label, description, action name),
    /// keeping only keys that do something here.
    pub fn help(
        &self,
        contexts: &[Context],
    ) -> Vec<(&'static str, String, &'static str, &'static str)> {
        let mut out = Vec::new();
        let mut seen: Vec<KeySpec> = Vec::new();
        for ctx in contexts {
            for bd in self.bindings.iter().filter(|bd| bd.ctx == *ctx) {
                if seen.contains(&bd.key) {
                    continue;
                }
                seen.push(bd.key);
                out.push((ctx.title(), bd.key.label(), bd.desc, bd.name));
            }
        }
        out
    }

    /// Every binding.
    pub fn bindings(&self) -> &[Binding] {
        &self.bindings
    }
}

/// Editing keys shared by every text input.
fn edit_request(ev: &KeyEvent) -> Option<InputRequest> {
    let ctrl = ev.modifiers.contains(KeyModifiers::CONTROL);
    let alt = ev.modifiers.contains(KeyModifiers::ALT);
    Some(match ev.code {
        KeyCode::Char('w') if ctrl => InputRequest::DeletePrevWord,
        KeyCode::Char('u') if ctrl => InputRequest::DeleteLine,
        KeyCode::Char('k') if ctrl => InputRequest::DeleteTillEnd,
        KeyCode::Char('a') if ctrl => InputRequest::GoToStart,
        KeyCode::Char('e') if ctrl => InputRequest::GoToEnd,
        KeyCode::Char('b') if alt => InputRequest::GoToPrevWord,
        KeyCode::Char('f') if alt => InputRequest::GoToNextWord,
        KeyCode::Char(c) if !ctrl && !alt && !c.is_control() => InputRequest::InsertChar(c),
        KeyCode::Backspace if ctrl || alt => InputRequest::DeletePrevWord,
        KeyCode::Backspace => InputRequest::DeletePrevChar,
        KeyCode::Delete => InputRequest::DeleteNextChar,
        KeyCode::Left => InputRequest::GoToPrevChar,
        KeyCode::Right => InputRequest::GoToNextChar,
        KeyCode::Home => InputRequest::GoToStart,
        KeyCode::End => InputRequest::GoToEnd,
        _ => return None,
    })
}

impl App {
    /// The contexts that apply now, most specific first.
    pub fn contexts(&self) -> Vec<Context> {
        self.contexts_at(self.modals.len())
    }

    /// The contexts as if only the bottom `depth` modals were open (the help overlay
    /// describes the screen under it).
    pub fn contexts_at(&self, depth: usize) -> Vec<Context> {
        use Context as C;
        // The expired session's screen is over everything: only retry and quit.
        if self.expired.is_some() && depth == self.modals.len() {
            return vec![C::Disconnected];
        }
        if let Some(m) = depth.checked_sub(1).and_then(|i| self.modals.get(i)) {
            return m.contexts();
        }
        if self.line.is_some() && depth == self.modals.len() {
            return vec![C::Line];
        }
        self.screen_contexts()
    }

    /// The contexts of the screen itself, under any modal or line (what the command
    /// palette's actions run in).
    pub fn screen_contexts(&self) -> Vec<Context> {
        use Context as C;
        if !matches!(self.conn, Conn::Ready) {
            return vec![C::Disconnected, C::Global];
        }
        match self.tab {
            Tab::Keys => vec![C::Keys, C::Nav, C::Global],
            Tab::Scopes => self.scopes.contexts(),
            Tab::Domains => self.domains.contexts(),
            Tab::Usage => vec![C::Usage, C::Nav, C::Global],
            Tab::Audit => vec![C::Audit, C::Nav, C::Global],
            Tab::Review => vec![C::Review, C::Nav, C::Global],
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(c: KeyCode, m: KeyModifiers) -> KeyEvent {
        KeyEvent::new(c, m)
    }

    #[test]
    fn specs_parse_and_label() {
        assert_eq!(KeySpec::parse("q"), Some(KeySpec::ch('q')));
        assert_eq!(KeySpec::parse("ctrl-r"), Some(KeySpec::ctrl('r')));
        assert_eq!(KeySpec::parse("C-R"), Some(KeySpec::ctrl('r')));
        assert_eq!(
            KeySpec::parse("shift-tab").map(|k| k.code),
            Some(KeyCode::BackTab)
        );
        assert_eq!(KeySpec::parse("f2").map(|k| k.code), Some(KeyCode::F(2)));
        assert_eq!(
            KeySpec::parse("space").map(|k| k.code),
            Some(KeyCode::Char(' '))
        );
        assert_eq!(KeySpec::parse("qq"), None);
        assert_eq!(KeySpec::ctrl('r').label(), "C-r");
    }

    #[test]
    fn context_order_and_text_entry() {
        let km = Keymap::default();
        let q = key(KeyCode::Char('q'), KeyModifiers::NONE);
        assert_eq!(
            km.action(&[Context::Keys, Context::Nav, Context::Global], &q),
            Some(Action::Quit)
        );
        // In a text field `q` types.
        assert_eq!(
            km.action(&[Context::Line], &q),
            Some(Action::Edit(InputRequest::InsertChar('q')))
        );
        assert_eq!(
            km.action(&[Context::Form, Context::FormText], &q),
            Some(Action::Edit(InputRequest::InsertChar('q')))
        );
        // Text fields come first, so Space types a space in a form's text field and in the
        // tester, while it still cycles an option field.
        let space = key(KeyCode::Char(' '), KeyModifiers::NONE);
        assert_eq!(
            km.action(&[Context::FormText, Context::Form], &space),
            Some(Action::Edit(InputRequest::InsertChar(' ')))
        );
        assert_eq!(km.action(&[Context::Form], &space), Some(Action::Toggle));
        assert_eq!(
            km.action(&[Context::TesterText, Context::Tester], &space),
            Some(Action::Edit(InputRequest::InsertChar(' ')))
        );
        let tab = key(KeyCode::Tab, KeyModifiers::NONE);
        assert_eq!(
            km.action(&[Context::FormText, Context::Form], &tab),
            Some(Action::NextField)
        );
        // Shifted letters arrive with SHIFT and still match.
        let g = key(KeyCode::Char('G'), KeyModifiers::SHIFT);
        assert_eq!(km.action(&[Context::Nav], &g), Some(Action::Bottom));
        let cr = key(KeyCode::Char('r'), KeyModifiers::CONTROL);
        assert_eq!(km.action(&[Context::Global], &cr), Some(Action::Refresh));
    }

    #[test]
    fn overrides_remap_by_name_and_reject_nonsense() {
        let mut o = BTreeMap::new();
        o.insert("quit".to_owned(), "ctrl-q".to_owned());
        let km = Keymap::with_overrides(&o).expect("valid");
        let x = key(KeyCode::Char('q'), KeyModifiers::CONTROL);
        let q = key(KeyCode::Char('q'), KeyModifiers::NONE);
        assert_eq!(km.action(&[Context::Global], &x), Some(Action::Quit));
        assert_eq!(km.action(&[Context::Global], &q), None);
        assert!(
            km.hints(&[Context::Global])
                .iter()
                .any(|(k, d)| k == "C-q" && *d == "quit")
        );
        o.insert("nope".to_owned(), "z".to_owned());
        assert!(matches!(
            Keymap::with_overrides(&o),
            Err(KeymapError::UnknownAction(_))
        ));
        // Issue 12, defect 11: taking another action's key is refused, naming it; a swap works.
        let mut taken = BTreeMap::new();
        taken.insert("new_key".to_owned(), "j".to_owned());
        let e = Keymap::with_overrides(&taken).expect_err("j is down in every list");
        assert!(e.to_string().contains("`down`"), "{e}");
        taken.insert("down".to_owned(), "n".to_owned());
        let km = Keymap::with_overrides(&taken).expect("a swap is fine");
        let j = key(KeyCode::Char('j'), KeyModifiers::NONE);
        assert_eq!(
            km.action(&[Context::Keys, Context::Nav], &j),
            Some(Action::NewKey)
        );
        // The Review tab is a tab like the others: its keys cannot take a list's.
        let mut review = BTreeMap::new();
        review.insert("review_rotate".to_owned(), "j".to_owned());
        let e = Keymap::with_overrides(&review).expect_err("j is down in the Review list too");
        assert!(e.to_string().contains("`down`"), "{e}");
        let mut bad = BTreeMap::new();
        bad.insert("quit".to_owned(), "ctrl-".to_owned());
        assert!(matches!(
            Keymap::with_overrides(&bad),
            Err(KeymapError::BadKey { .. })
        ));
    }

    #[test]
    fn every_binding_has_a_description_and_unique_name_per_context() {
        let km = Keymap::default();
        for bd in km.bindings() {
            assert!(!bd.desc.is_empty());
            let dup = km
                .bindings()
                .iter()
                .filter(|o| o.ctx == bd.ctx && o.key == bd.key)
                .count();
            assert_eq!(dup, 1, "{:?} {:?} bound twice", bd.ctx, bd.key);
        }
    }
}
