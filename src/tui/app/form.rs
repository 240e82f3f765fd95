//! The create/edit key form: fields, focus, and inline validation with the same domain
//! rules the server applies (scopes, host patterns, names), so most mistakes never leave the
//! terminal.

use super::Action;
use super::App;
use super::Command;
use super::EditOrigin;
use super::modal::Modal;
use super::modal::ScopePicker;
use crate::api::{CreateKeyRequest, KeyObject, UpdateKeyRequest};
use crate::domain::host_pattern::HostPattern;
use crate::domain::key::Env;
use crate::domain::scope::{Catalog, ScopeSet};
use chrono::{DateTime, Duration, NaiveDate, Utc};
use std::collections::BTreeSet;
use tui_input::{Input, InputRequest};

/// Form fields, in focus order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Field {
    /// Display name.
    Name,
    /// Who owns the key (free text; empty: nobody).
    Owner,
    /// What the key is for (free text).
    Description,
    /// Preset or custom scopes.
    Scopes,
    /// Comma-separated allowed domains.
    Domains,
    /// App binding (create only).
    App,
    /// Environment (create only).
    Env,
    /// Expiry.
    Expiry,
    /// The submit button.
    Submit,
}

impl Field {
    /// Every field in focus order, the submit button last.
    pub const ORDER: [Field; 9] = [
        Field::Name,
        Field::Owner,
        Field::Description,
        Field::Scopes,
        Field::Domains,
        Field::App,
        Field::Env,
        Field::Expiry,
        Field::Submit,
    ];

    /// Label.
    pub fn label(self) -> &'static str {
        match self {
            Field::Name => "Name",
            Field::Owner => "Owner",
            Field::Description => "Description",
            Field::Scopes => "Scopes",
            Field::Domains => "Allowed domains",
            Field::App => "App",
            Field::Env => "Environment",
            Field::Expiry => "Expires",
            Field::Submit => "",
        }
    }
}

/// How scopes are chosen.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ScopeChoice {
    /// A named preset.
    Preset(&'static str),
    /// Picked from the catalog.
    Custom(BTreeSet<String>),
}

impl ScopeChoice {
    /// Label for the field.
    pub fn label(&self) -> String {
        match self {
            ScopeChoice::Preset(p) => format!("preset: {p}"),
            ScopeChoice::Custom(s) if s.is_empty() => "custom: (none picked)".to_owned(),
            ScopeChoice::Custom(s) => format!(
                "custom: {}",
                s.iter().cloned().collect::<Vec<_>>().join(" ")
            ),
        }
    }
}

/// Create or edit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FormMode {
    /// A new key.
    Create,
    /// An existing key at a version (sent as If-Match).
    Edit {
        /// Key id.
        id: String,
        /// Version the form was opened at.
        version: i64,
    },
}

/// The form.
#[derive(Debug, Clone)]
pub struct KeyForm {
    /// Create or edit.
    pub mode: FormMode,
    /// Name input.
    pub name: Input,
    /// Owner input.
    pub owner: Input,
    /// Description input.
    pub description: Input,
    /// Scope choice.
    pub scopes: ScopeChoice,
    /// Domains input (comma or space separated).
    pub domains: Input,
    /// Selected app: index into the app list; `None` = org-scoped.
    pub app: Option<usize>,
    /// Environment.
    pub env: Env,
    /// Expiry input: empty, `30d`, `12h`, `2027-01-31` or RFC 3339.
    pub expiry: Input,
    /// Focused field.
    pub focus: Field,
    /// Inline errors.
    pub errors: Vec<(Field, String)>,
    /// The server's refusal of the last submit, in plain words.
    pub server_error: Option<String>,
    /// A submit is in flight.
    pub submitting: bool,
}

/// Parse an expiry input relative to `now`.
pub fn parse_expiry(s: &str, now: DateTime<Utc>) -> Result<Option<DateTime<Utc>>, String> {
    let s = s.trim();
    if s.is_empty() || s == "never" {
        return Ok(None);
    }
    let rel = |n: &str, unit: i64| {
        n.parse::<i64>()
            .ok()
            .filter(|v| *v > 0 && *v < 100_000)
            .map(|v| now + Duration::seconds(v * unit))
    };
    let t = if let Some(n) = s.strip_suffix('d') {
        rel(n, 86_400)
    } else if let Some(n) = s.strip_suffix('h') {
        rel(n, 3_600)
    } else if let Ok(d) = NaiveDate::parse_from_str(s, "%Y-%m-%d") {
        d.and_hms_opt(0, 0, 0).map(|dt| dt.and_utc())
    } else {
        DateTime::parse_from_rfc3339(s)
            .ok()
            .map(|d| d.with_timezone(&Utc))
    };
    match t {
        Some(t) if t > now => Ok(Some(t)),
        Some(_) => Err("must be in the future".to_owned()),
        None => Err("use 30d, 12h, 2027-01-31 or an RFC 3339 time (empty: never)".to_owned()),
    }
}

/// Split a domains input into entries.
pub fn split_domains(s: &str) -> Vec<String> {
    s.split([',', ' '])
        .map(str::trim)
        .filter(|d| !d.is_empty())
        .map(str::to_owned)
        .collect()
}

/// A free-text field's value: trimmed, `None` when empty.
fn text(input: &Input) -> Option<String> {
    let t = input.value().trim();
    (!t.is_empty()).then(|| t.to_owned())
}

/// A free-text field for `PATCH`: absent when unchanged, `null` to clear it.
fn changed(input: &Input, original: Option<&str>) -> Option<Option<String>> {
    let now = text(input);
    (now.as_deref() != original).then_some(now)
}

impl KeyForm {
    /// The key contexts the form reports: typing keys while a text field has the focus.
    pub fn contexts(&self) -> Vec<crate::tui::keymap::Context> {
        use crate::tui::keymap::Context;
        match self.focus {
            Field::Name | Field::Owner | Field::Description | Field::Domains | Field::Expiry => {
                vec![Context::FormText, Context::Form]
            }
            _ => vec![Context::Form],
        }
    }

    /// An empty create form (read-only preset, caller's environment).
    pub fn create(env: Env) -> KeyForm {
        KeyForm {
            mode: FormMode::Create,
            name: Input::default(),
            owner: Input::default(),
            description: Input::default(),
            scopes: ScopeChoice::Preset("read-only"),
            domains: Input::default(),
            app: None,
            env,
            expiry: Input::default(),
            focus: Field::Name,
            errors: Vec::new(),
            server_error: None,
            submitting: false,
        }
    }

    /// An edit form filled from a key.
    pub fn edit(k: &KeyObject) -> KeyForm {
        KeyForm {
            mode: FormMode::Edit {
                id: k.id.clone(),
                version: k.version,
            },
            name: Input::new(k.name.clone()),
            owner: Input::new(k.owner.clone().unwrap_or_default()),
            description: Input::new(k.description.clone().unwrap_or_default()),
            scopes: ScopeChoice::Custom(k.scopes.iter().cloned().collect()),
            domains: Input::new(k.allowed_domains.join(", ")),
            app: None,
            env: k.env,
            expiry: Input::new(
                k.expires_at
                    .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true))
                    .unwrap_or_default(),
            ),
            focus: Field::Name,
            errors: Vec::new(),
            server_error: None,
            submitting: false,
        }
    }

    /// Whether a field is shown (app and env are fixed after creation).
    pub fn has(&self, f: Field) -> bool {
        !matches!(
            (&self.mode, f),
            (FormMode::Edit { .. }, Field::App | Field::Env)
        )
    }

    /// Move focus forward or back, skipping hidden fields.
    pub fn step(&mut self, forward: bool) {
        let fields: Vec<Field> = Field::ORDER
            .iter()
            .copied()
            .filter(|f| self.has(*f))
            .collect();
        self.focus = super::cycle(&fields, self.focus, forward);
    }

    /// The text input under focus, if any.
    pub fn input_mut(&mut self) -> Option<&mut Input> {
        match self.focus {
            Field::Name => Some(&mut self.name),
            Field::Owner => Some(&mut self.owner),
            Field::Description => Some(&mut self.description),
            Field::Domains => Some(&mut self.domains),
            Field::Expiry => Some(&mut self.expiry),
            _ => None,
        }
    }

    /// Apply an edit to the focused text field and revalidate.
    pub fn edit_text(&mut self, req: InputRequest, catalog: &Catalog, now: DateTime<Utc>) {
        if let Some(i) = self.input_mut() {
            i.handle(req);
            self.validate(catalog, now);
        }
    }

    /// Cycle an option field (scopes preset, app, env).
    pub fn cycle(&mut self, forward: bool, apps: usize) {
        match self.focus {
            Field::Scopes => {
                // read-only -> full -> custom -> read-only
                let idx = match &self.scopes {
                    ScopeChoice::Preset("read-only") => 0,
                    ScopeChoice::Preset(_) => 1,
                    ScopeChoice::Custom(_) => 2,
                };
                let next = if forward {
                    (idx + 1) % 3
                } else {
                    (idx + 2) % 3
                };
                self.scopes = match next {
                    0 => ScopeChoice::Preset("read-only"),
                    1 => ScopeChoice::Preset("full"),
                    _ => ScopeChoice::Custom(BTreeSet::new()),
                };
            }
            Field::App => {
                let n = apps + 1; // None + apps
                let cur = self.app.map_or(0, |i| i + 1);
                let next = if forward {
                    (cur + 1) % n
                } else {
                    (cur + n - 1) % n
                };
                self.app = next.checked_sub(1);
            }
            Field::Env => {
                self.env = match self.env {
                    Env::Live => Env::Test,
                    Env::Test => Env::Live,
                };
            }
            _ => {}
        }
    }

    /// Set the custom scope set (from the picker).
    pub fn set_custom_scopes(&mut self, scopes: BTreeSet<String>) {
        self.scopes = ScopeChoice::Custom(scopes);
    }

    /// Validate every field; returns whether the form can be submitted.
    pub fn validate(&mut self, catalog: &Catalog, now: DateTime<Utc>) -> bool {
        let mut errors = Vec::new();
        let name = self.name.value().trim();
        if name.is_empty() {
            errors.push((Field::Name, "a name is required".to_owned()));
        } else if name.chars().count() > 100 {
            errors.push((Field::Name, "at most 100 characters".to_owned()));
        }
        for (field, input, max) in [
            (Field::Owner, &self.owner, 200),
            (Field::Description, &self.description, 500),
        ] {
            if input.value().trim().chars().count() > max {
                errors.push((field, format!("at most {max} characters")));
            }
        }
        if let ScopeChoice::Custom(set) = &self.scopes {
            let list: Vec<&String> = set.iter().collect();
            match ScopeSet::parse(&list) {
                Ok(s) if s.is_empty() => {
                    errors.push((
                        Field::Scopes,
                        "pick at least one scope (Enter opens the picker)".to_owned(),
                    ));
                }
                Ok(s) => {
                    if let Err(e) = catalog.validate(&s) {
                        errors.push((Field::Scopes, e.to_string()));
                    }
                }
                Err(e) => errors.push((Field::Scopes, e.to_string())),
            }
        }
        let domains = split_domains(self.domains.value());
        if domains.len() > 50 {
            errors.push((Field::Domains, "at most 50 domains".to_owned()));
        }
        for d in &domains {
            if let Err(e) = HostPattern::parse(d) {
                errors.push((Field::Domains, e.to_string()));
                break;
            }
        }
        if let Err(e) = parse_expiry(self.expiry.value(), now) {
            errors.push((Field::Expiry, e));
        }
        self.errors = errors;
        self.errors.is_empty()
    }

    /// The error for a field.
    pub fn error(&self, f: Field) -> Option<&str> {
        self.errors
            .iter()
            .find(|(g, _)| *g == f)
            .map(|(_, e)| e.as_str())
    }

    fn scope_request(&self) -> (Option<Vec<String>>, Option<String>) {
        match &self.scopes {
            ScopeChoice::Preset(p) => (None, Some((*p).to_owned())),
            ScopeChoice::Custom(s) => (Some(s.iter().cloned().collect()), None),
        }
    }

    /// The create request (call after `validate`).
    pub fn create_request(&self, apps: &[crate::api::App], now: DateTime<Utc>) -> CreateKeyRequest {
        let (scopes, preset) = self.scope_request();
        let domains = split_domains(self.domains.value());
        CreateKeyRequest {
            name: self.name.value().trim().to_owned(),
            scopes,
            preset,
            allowed_domains: (!domains.is_empty()).then_some(domains),
            app_id: self.app.and_then(|i| apps.get(i)).map(|a| a.id.clone()),
            env: Some(self.env),
            expires_at: parse_expiry(self.expiry.value(), now).ok().flatten(),
            owner: text(&self.owner),
            description: text(&self.description),
        }
    }

    /// The update request with only what changed (call after `validate`).
    pub fn update_request(
        &self,
        original: &KeyObject,
        catalog: &Catalog,
        now: DateTime<Utc>,
    ) -> UpdateKeyRequest {
        let name = self.name.value().trim().to_owned();
        let scopes: Vec<String> = match &self.scopes {
            ScopeChoice::Custom(s) => s.iter().cloned().collect(),
            ScopeChoice::Preset(p) => catalog.preset(p).unwrap_or_default(),
        };
        let domains = split_domains(self.domains.value());
        let expiry = parse_expiry(self.expiry.value(), now).ok().flatten();
        let mut orig_scopes = original.scopes.clone();
        orig_scopes.sort();
        let mut new_scopes = scopes.clone();
        new_scopes.sort();
        UpdateKeyRequest {
            name: (name != original.name).then_some(name),
            scopes: (new_scopes != orig_scopes).then_some(scopes),
            allowed_domains: (domains != original.allowed_domains).then_some(domains),
            enabled: None,
            expires_at: (expiry != original.expires_at).then_some(expiry),
            owner: changed(&self.owner, original.owner.as_deref()),
            description: changed(&self.description, original.description.as_deref()),
        }
    }
}

impl App {
    pub(super) fn update_form(&mut self, action: Action) -> Vec<Command> {
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

    pub(super) fn submit_form(&mut self) -> Vec<Command> {
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
}

#[cfg(test)]
mod tests {
    use super::*;

    fn now() -> DateTime<Utc> {
        DateTime::from_timestamp(1_800_000_000, 0).expect("time")
    }

    fn type_into(form: &mut KeyForm, text: &str) {
        let cat = Catalog::default_catalog();
        for c in text.chars() {
            form.edit_text(InputRequest::InsertChar(c), &cat, now());
        }
    }

    #[test]
    fn expiry_forms() {
        assert_eq!(parse_expiry("", now()), Ok(None));
        assert_eq!(
            parse_expiry("30d", now()),
            Ok(Some(now() + Duration::days(30)))
        );
        assert_eq!(
            parse_expiry("12h", now()),
            Ok(Some(now() + Duration::hours(12)))
        );
        assert!(parse_expiry("2099-01-31", now()).is_ok_and(|t| t.is_some()));
        assert!(parse_expiry("2000-01-31", now()).is_err());
        assert!(parse_expiry("soon", now()).is_err());
        assert!(parse_expiry("0d", now()).is_err());
    }

    #[test]
    fn inline_validation_uses_the_domain_rules() {
        let cat = Catalog::default_catalog();
        let mut f = KeyForm::create(Env::Live);
        assert!(!f.validate(&cat, now()));
        assert!(f.error(Field::Name).is_some());
        f.focus = Field::Name;
        type_into(&mut f, "Backend");
        f.focus = Field::Domains;
        type_into(&mut f, "https://x.com");
        assert!(
            f.error(Field::Domains)
                .is_some_and(|e| e.contains("without scheme"))
        );
        f.domains = Input::new("*.example.com, api.shop.io".into());
        f.focus = Field::Scopes;
        f.cycle(true, 0);
        f.cycle(true, 0);
        assert!(matches!(f.scopes, ScopeChoice::Custom(_)));
        assert!(!f.validate(&cat, now()), "custom with nothing picked");
        f.set_custom_scopes(["runs:read".to_owned()].into());
        assert!(f.validate(&cat, now()), "{:?}", f.errors);
        let req = f.create_request(&[], now());
        assert_eq!(req.scopes, Some(vec!["runs:read".to_owned()]));
        assert_eq!(
            req.allowed_domains,
            Some(vec!["*.example.com".to_owned(), "api.shop.io".to_owned()])
        );
        assert_eq!(req.env, Some(Env::Live));
    }

    #[test]
    fn focus_skips_fixed_fields_when_editing() {
        let k = KeyObject {
            id: "pk_live_x".into(),
            name: "n".into(),
            org_id: "org".into(),
            env: Env::Live,
            app_id: None,
            scopes: vec!["runs:read".into()],
            allowed_domains: vec![],
            enabled: true,
            status: crate::domain::record::KeyStatus::Active,
            secret_hint: "…abcd".into(),
            created_at: now(),
            updated_at: now(),
            expires_at: None,
            last_used_at: None,
            rotated_from: None,
            rotated_to: None,
            version: 3,
            owner: None,
            description: None,
            leaked_at: None,
        };
        let mut f = KeyForm::edit(&k);
        let mut seen = vec![f.focus];
        for _ in 0..4 {
            f.step(true);
            seen.push(f.focus);
        }
        assert!(!seen.contains(&Field::App) && !seen.contains(&Field::Env));
        let cat = Catalog::default_catalog();
        f.name = Input::new("renamed".into());
        let u = f.update_request(&k, &cat, now());
        assert_eq!(u.name.as_deref(), Some("renamed"));
        assert!(u.scopes.is_none() && u.allowed_domains.is_none() && u.expires_at.is_none());
    }
}
