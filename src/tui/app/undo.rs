//! Undo a change to a key from its audit entry (`u` on an Audit row or open entry, `u` on a
//! key for its latest entry). The entry's `changes` say what each field was (`from`) and
//! became (`to`); undo sets back every field that still holds the `to` value, names the ones
//! changed since (left as they are), and asks once, showing the diff. The PATCH carries
//! If-Match with the key's version as read just before the question, so a change made
//! meanwhile is refused (412) and said, never overwritten.
//!
//! What cannot be undone says why: a creation (delete the key instead), a deletion, a
//! rotation (a new secret was issued), a leak report, an app's creation.

use chrono::{DateTime, Utc};
use tui_input::Input;

use super::explain;
use super::keys::change_lines;
use super::modal::{Confirm, Modal, Pending};
use super::{App, Command, EditOrigin, Tab, TaskResult, UiError};
use crate::api::{AuditEntry, KeyObject, UpdateKeyRequest};

/// What undoing an entry would send, and what it leaves alone.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UndoPlan {
    /// The PATCH body: each field set back to its `from` value.
    pub req: UpdateKeyRequest,
    /// Fields changed again since the entry, left as they are (one line each).
    pub skipped: Vec<String>,
}

/// Why an entry of this action cannot be undone (`None`: it can, field by field).
pub fn not_reversible(action: &str) -> Option<&'static str> {
    Some(match action {
        "key.updated" | "key.enabled" | "key.disabled" => return None,
        "key.created" => {
            "a creation cannot be undone here: delete the key (d in the Keys tab) if it should not exist"
        }
        "key.deleted" => "a deleted key cannot come back: deletion is permanent",
        "key.rotated" => {
            "a rotation cannot be undone: the new secret was issued and the old key expires with its grace; edit the old key's expiry to keep it longer"
        }
        "key.leaked" => {
            "a leak report cannot be undone: the secret was seen outside, so rotate the key"
        }
        "app.created" => "an app's creation cannot be undone",
        _ => "this kind of entry cannot be undone",
    })
}

fn strings(v: &serde_json::Value) -> Option<Vec<String>> {
    v.as_array()?
        .iter()
        .map(|x| x.as_str().map(str::to_owned))
        .collect()
}

fn same_set(a: &[String], b: &[String]) -> bool {
    let mut a = a.to_vec();
    let mut b = b.to_vec();
    a.sort();
    a.dedup();
    b.sort();
    b.dedup();
    a == b
}

fn time(v: &serde_json::Value) -> Option<Option<DateTime<Utc>>> {
    serde_json::from_value::<Option<DateTime<Utc>>>(v.clone()).ok()
}

/// A time as stored (milliseconds), so a value read back compares equal to the one written.
fn millis(t: Option<DateTime<Utc>>) -> Option<i64> {
    t.map(|t| t.timestamp_millis())
}

fn text(v: &serde_json::Value) -> Option<Option<String>> {
    match v {
        serde_json::Value::Null => Some(None),
        serde_json::Value::String(s) if s.is_empty() => Some(None),
        serde_json::Value::String(s) => Some(Some(s.clone())),
        _ => None,
    }
}

/// One field of the entry: set back to its `from` value when the key still holds its `to`
/// value (`holds`); otherwise the reason it is left as it is goes to `skipped`.
fn set_back<T>(
    slot: &mut Option<T>,
    skipped: &mut Vec<String>,
    label: &str,
    (from, to): (Option<T>, Option<T>),
    holds: impl FnOnce(&T) -> bool,
) {
    match (from, to) {
        (Some(f), Some(t)) if holds(&t) => *slot = Some(f),
        (Some(_), Some(_)) => skipped.push(format!("{label}: changed again since; left as it is")),
        _ => skipped.push(format!(
            "{label}: the entry's value cannot be read; left as it is"
        )),
    }
}

/// What undoing `entry` would do to `key` as it is now, or why it cannot.
pub fn plan(entry: &AuditEntry, key: &KeyObject) -> Result<UndoPlan, String> {
    if let Some(why) = not_reversible(&entry.action) {
        return Err(why.to_owned());
    }
    if entry.key_id.as_deref() != Some(key.id.as_str()) {
        return Err("this entry is about another key".to_owned());
    }
    let serde_json::Value::Object(fields) = &entry.changes else {
        return Err("this entry records no field changes".to_owned());
    };
    let mut req = UpdateKeyRequest::default();
    let mut skipped = Vec::new();
    for (field, v) in fields {
        let (Some(from), Some(to)) = (v.get("from"), v.get("to")) else {
            // `reason`, `source`: notes, not fields.
            continue;
        };
        let owned = |v: &serde_json::Value| v.as_str().map(str::to_owned);
        let s = &mut skipped;
        match field.as_str() {
            "name" => set_back(&mut req.name, s, field, (owned(from), owned(to)), |t| {
                key.name == *t
            }),
            "scopes" => set_back(
                &mut req.scopes,
                s,
                field,
                (strings(from), strings(to)),
                |t| same_set(&key.scopes, t),
            ),
            "allowed_domains" => set_back(
                &mut req.allowed_domains,
                s,
                "allowed domains",
                (strings(from), strings(to)),
                |t| same_set(&key.allowed_domains, t),
            ),
            "enabled" => set_back(
                &mut req.enabled,
                s,
                field,
                (from.as_bool(), to.as_bool()),
                |t| key.enabled == *t,
            ),
            "expires_at" => set_back(
                &mut req.expires_at,
                s,
                "expiry",
                (time(from), time(to)),
                |t| millis(key.expires_at) == millis(*t),
            ),
            "owner" => set_back(&mut req.owner, s, field, (text(from), text(to)), |t| {
                key.owner == *t
            }),
            "description" => set_back(
                &mut req.description,
                s,
                field,
                (text(from), text(to)),
                |t| key.description == *t,
            ),
            other => s.push(format!("{other}: cannot be set back")),
        }
    }
    if req == UpdateKeyRequest::default() {
        return Err(if skipped.is_empty() {
            "this entry records no field changes".to_owned()
        } else {
            // Each field's own reason: changed since, unreadable, or not settable.
            format!("nothing left to undo: {}", skipped.join("; "))
        });
    }
    Ok(UndoPlan { req, skipped })
}

impl App {
    /// `u`: undo the selected Audit entry (the Audit tab) or the selected key's latest entry
    /// (the Keys tab). The key is read first, so the diff and If-Match are its current state.
    pub(super) fn ask_undo(&mut self) -> Vec<Command> {
        let (key_id, entry) = match self.tab {
            Tab::Audit => {
                let Some(e) = self.audit.rows.get(self.audit.selected) else {
                    return Vec::new();
                };
                if let Some(why) = not_reversible(&e.action) {
                    self.toast(format!("Cannot undo {}: {why}", e.action), true);
                    return Vec::new();
                }
                let Some(k) = e.key_id.clone() else {
                    self.toast("Cannot undo: this entry names no key", true);
                    return Vec::new();
                };
                (k, Some(Box::new(e.clone())))
            }
            _ => match self.selected_key() {
                Some(k) => (k.id.clone(), None),
                None => return Vec::new(),
            },
        };
        self.toast(format!("Undo: reading {key_id} and its change…"), false);
        vec![Command::PrepareUndo { key_id, entry }]
    }

    /// The entry and the key as it is now: the question, or why nothing can be undone.
    pub(super) fn undo_ready(
        &mut self,
        r: TaskResult<(Option<AuditEntry>, KeyObject)>,
    ) -> Vec<Command> {
        let (entry, key) = match r {
            Ok((Some(e), k)) => (e, k),
            Ok((None, k)) => {
                self.toast(format!("Cannot undo: {} has no audit entry", k.name), true);
                return Vec::new();
            }
            Err(e) => {
                self.toast(format!("Cannot undo: {}", explain(&e)), true);
                return Vec::new();
            }
        };
        if !self.modals.is_empty() || self.line.is_some() {
            // Something else took the screen meanwhile: ask nothing over it, and say so
            // (the "reading…" status would otherwise stay as if the undo were coming).
            self.toast(
                format!(
                    "Undo not asked: another dialog was open; press u again for {}",
                    key.name
                ),
                false,
            );
            return Vec::new();
        }
        let plan = match plan(&entry, &key) {
            Ok(p) => p,
            Err(why) => {
                self.toast(
                    format!("Cannot undo {} of {}: {why}", entry.action, key.name),
                    true,
                );
                return Vec::new();
            }
        };
        let who = crate::tui::session::actor_label(&entry, |k| {
            self.keys.get(k).map(|key| key.name.clone())
        });
        let mut body = vec![format!(
            "{} ({}): back to before {} by {who}, {}:",
            key.name,
            key.id,
            entry.action,
            crate::tui::views::ago(entry.at, self.now)
        )];
        body.extend(
            change_lines(&key, &plan.req)
                .into_iter()
                .map(|l| format!("  {l}")),
        );
        body.extend(plan.skipped.iter().map(|l| format!("  {l}")));
        let mut always_type = false;
        if plan.req.enabled == Some(true)
            && entry.changes.get("reason").and_then(|r| r.as_str()) == Some("leaked")
        {
            body.push(
                "It was disabled because its secret leaked: enabling it lets that secret work again."
                    .to_owned(),
            );
            always_type = true;
        }
        if plan.req.enabled == Some(false) && self.is_own_key(&key.id) {
            body.push(
                "This is the key this console uses: you will lose access at once.".to_owned(),
            );
            always_type = true;
        }
        body.push(format!(
            "Sent only if the key is still at version {} (If-Match).",
            key.version
        ));
        let typed = self.session.danger || always_type;
        self.modals.push(Modal::Confirm(Confirm {
            title: format!("Undo {} of {}?", entry.action, key.name),
            body,
            pending: Pending::Apply {
                id: key.id.clone(),
                version: key.version,
                req: Box::new(plan.req),
                origin: EditOrigin::Undo,
            },
            type_to_confirm: typed.then(|| key.name.clone()),
            typed: Input::default(),
            mismatch: None,
        }));
        Vec::new()
    }

    /// The undo's PATCH answered.
    pub(super) fn undo_done(&mut self, r: Result<KeyObject, UiError>) -> Vec<Command> {
        match r {
            Ok(k) => {
                let name = k.name.clone();
                self.keys.replace(k);
                self.keys.rebuild_view();
                self.toast(
                    format!("Undone: {name} is as it was before that change"),
                    false,
                );
                if self.audit.loaded {
                    return self.load_audit(false);
                }
            }
            Err(e) if e.code.as_deref() == Some("version_mismatch") => self.toast(
                "Not undone: the key changed after the undo was shown, and nothing was \
                 overwritten. Press u again to see the change against the key as it is now.",
                true,
            ),
            Err(e) => self.toast(format!("Undo failed: {}", explain(&e)), true),
        }
        Vec::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn key() -> KeyObject {
        serde_json::from_value(json!({
            "id": "pk_live_000000000000000000000001", "name": "New", "org_id": "org_0000000000000001",
            "env": "live", "app_id": null, "scopes": ["runs:read"], "allowed_domains": [],
            "enabled": false, "status": "disabled", "secret_hint": "…ab12",
            "created_at": "2026-01-01T00:00:00Z", "updated_at": "2026-01-01T00:00:00Z",
            "expires_at": "2026-03-01T00:00:00.123Z", "last_used_at": null, "rotated_from": null,
            "rotated_to": null, "version": 4, "owner": null, "description": null, "leaked_at": null
        }))
        .expect("key")
    }

    fn entry(action: &str, changes: serde_json::Value) -> AuditEntry {
        AuditEntry {
            id: "aud_1".into(),
            at: Utc::now(),
            actor_key_id: None,
            actor: crate::api::Actor::key("pk_live_000000000000000000000009"),
            action: action.into(),
            key_id: Some("pk_live_000000000000000000000001".into()),
            changes,
        }
    }

    #[test]
    fn sets_back_what_still_holds_the_new_value() {
        let e = entry(
            "key.updated",
            json!({
                "name": {"from": "Old", "to": "New"},
                "scopes": {"from": ["*"], "to": ["runs:read"]},
                "owner": {"from": "ana@acme.test", "to": null},
                "expires_at": {"from": null, "to": "2026-03-01T00:00:00.123456Z"},
                "description": {"from": null, "to": "changed since"},
            }),
        );
        let p = plan(&e, &key()).expect("a plan");
        assert_eq!(p.req.name.as_deref(), Some("Old"));
        assert_eq!(p.req.scopes, Some(vec!["*".to_owned()]));
        assert_eq!(p.req.owner, Some(Some("ana@acme.test".to_owned())));
        assert_eq!(
            p.req.expires_at,
            Some(None),
            "the stored milliseconds match"
        );
        assert_eq!(p.req.description, None);
        assert_eq!(p.skipped.len(), 1, "{:?}", p.skipped);
        assert!(p.skipped[0].starts_with("description"));
    }

    #[test]
    fn enabled_flips_back_and_the_irreversible_say_why() {
        let e = entry(
            "key.disabled",
            json!({"enabled": {"from": true, "to": false}, "reason": "leaked"}),
        );
        assert_eq!(plan(&e, &key()).expect("plan").req.enabled, Some(true));
        for action in ["key.created", "key.deleted", "key.rotated", "key.leaked"] {
            let why = plan(&entry(action, json!({"name": "x"})), &key()).expect_err(action);
            assert!(why.contains("cannot"), "{action}: {why}");
        }
        // Everything changed again since: nothing to undo, and it says which.
        let e = entry("key.updated", json!({"name": {"from": "A", "to": "B"}}));
        let why = plan(&e, &key()).expect_err("changed since");
        assert!(
            why.contains("name") && why.contains("changed again"),
            "{why}"
        );
        // A value the entry does not hold readably is said so, not "changed again".
        let e = entry(
            "key.updated",
            json!({"enabled": {"from": "yes", "to": false}}),
        );
        let why = plan(&e, &key()).expect_err("unreadable");
        assert!(
            why.contains("enabled: the entry's value cannot be read")
                && !why.contains("changed again"),
            "{why}"
        );
    }
}
