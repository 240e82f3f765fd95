//! Scopes (API.md §3): `resource:action`, `resource:*` and `*`; [`ScopeSet::covers`] with
//! wildcards; the deployment's catalog (default in `assets/scopes.toml`) and its presets.

use std::fmt;

/// One scope.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Scope {
    /// `*`: everything.
    All,
    /// `resource:*`: every action on one resource.
    Resource(String),
    /// `resource:action`.
    Exact(String, String),
}

/// Why a scope string was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ScopeError {
    /// Not of the form `resource:action`.
    #[error("`{0}` is not a scope: use `resource:action`, `resource:*` or `*`")]
    Syntax(String),
    /// Well formed but not in this deployment's catalog.
    #[error("`{0}` is not in this deployment's scope catalog")]
    Unknown(String),
    /// A preset name that does not exist.
    #[error("unknown preset `{0}`: use `full` or `read-only`")]
    UnknownPreset(String),
}

fn is_part(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 64
        && s.bytes()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == b'-' || c == b'_')
}

impl Scope {
    /// Parse one scope (syntax only; see [`Catalog::validate`]).
    pub fn parse(s: &str) -> Result<Scope, ScopeError> {
        if s == "*" {
            return Ok(Scope::All);
        }
        let (res, action) = s
            .split_once(':')
            .ok_or_else(|| ScopeError::Syntax(s.to_owned()))?;
        if !is_part(res) {
            return Err(ScopeError::Syntax(s.to_owned()));
        }
        if action == "*" {
            return Ok(Scope::Resource(res.to_owned()));
        }
        if !is_part(action) {
            return Err(ScopeError::Syntax(s.to_owned()));
        }
        Ok(Scope::Exact(res.to_owned(), action.to_owned()))
    }

    /// Whether this one scope grants `other` (which may itself be a wildcard).
    pub fn covers(&self, other: &Scope) -> bool {
        match (self, other) {
            (Scope::All, _) => true,
            (Scope::Resource(r), Scope::Resource(o)) => r == o,
            (Scope::Resource(r), Scope::Exact(o, _)) => r == o,
            (Scope::Exact(r, a), Scope::Exact(o, b)) => r == o && a == b,
            _ => false,
        }
    }
}

impl fmt::Display for Scope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Scope::All => f.write_str("*"),
            Scope::Resource(r) => write!(f, "{r}:*"),
            Scope::Exact(r, a) => write!(f, "{r}:{a}"),
        }
    }
}

/// A key's scopes.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ScopeSet(Vec<Scope>);

impl ScopeSet {
    /// Parse a list, keeping order and dropping duplicates.
    pub fn parse<S: AsRef<str>>(items: &[S]) -> Result<ScopeSet, ScopeError> {
        let mut out = Vec::with_capacity(items.len());
        for s in items {
            let scope = Scope::parse(s.as_ref())?;
            if !out.contains(&scope) {
                out.push(scope);
            }
        }
        Ok(ScopeSet(out))
    }

    /// Build from parsed scopes.
    pub fn from_scopes(scopes: Vec<Scope>) -> ScopeSet {
        ScopeSet(scopes)
    }

    /// Whether any scope in the set grants `scope`.
    pub fn covers(&self, scope: &Scope) -> bool {
        self.0.iter().any(|s| s.covers(scope))
    }

    /// Whether every scope in `other` is granted (no escalation).
    pub fn covers_all(&self, other: &ScopeSet) -> bool {
        other.0.iter().all(|s| self.covers(s))
    }

    /// The scopes of `required` that this set does not grant.
    pub fn missing<'a>(&self, required: &'a [Scope]) -> Vec<&'a Scope> {
        required.iter().filter(|s| !self.covers(s)).collect()
    }

    /// The scopes.
    pub fn iter(&self) -> impl Iterator<Item = &Scope> {
        self.0.iter()
    }

    /// Whether the set is empty.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The wire form.
    pub fn to_strings(&self) -> Vec<String> {
        self.0.iter().map(Scope::to_string).collect()
    }
}

/// One catalog entry.
#[derive(Debug, Clone, PartialEq, Eq, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CatalogEntry {
    /// `resource:action`.
    pub name: String,
    /// What it allows, in plain words.
    pub description: String,
}

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct CatalogFile {
    scope: Vec<CatalogEntry>,
}

/// The scopes a deployment knows about.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Catalog {
    entries: Vec<CatalogEntry>,
}

/// The default catalog's source.
pub const DEFAULT_CATALOG_TOML: &str = include_str!("../../assets/scopes.toml");

/// Preset names, in display order.
pub const PRESETS: [&str; 2] = ["full", "read-only"];

impl Catalog {
    /// Parse a catalog file (`[[scope]] name, description`).
    pub fn from_toml(text: &str) -> Result<Catalog, String> {
        let file: CatalogFile = toml::from_str(text).map_err(|e| e.to_string())?;
        for e in &file.scope {
            match Scope::parse(&e.name) {
                Ok(Scope::Exact(..)) => {}
                _ => {
                    return Err(format!(
                        "catalog entry `{}` must be `resource:action`",
                        e.name
                    ));
                }
            }
        }
        Ok(Catalog {
            entries: file.scope,
        })
    }

    /// A catalog from entries (e.g. as `GET /v1/scopes` returned them); entries that are not
    /// `resource:action` are dropped.
    pub fn from_entries(entries: Vec<CatalogEntry>) -> Catalog {
        Catalog {
            entries: entries
                .into_iter()
                .filter(|e| matches!(Scope::parse(&e.name), Ok(Scope::Exact(..))))
                .collect(),
        }
    }

    /// The built-in default catalog.
    pub fn default_catalog() -> Catalog {
        // The asset is compiled in and covered by a test, so this cannot fail at run time.
        Catalog::from_toml(DEFAULT_CATALOG_TOML).unwrap_or(Catalog {
            entries: Vec::new(),
        })
    }

    /// Every entry, in file order.
    pub fn entries(&self) -> &[CatalogEntry] {
        &self.entries
    }

    fn has_resource(&self, res: &str) -> bool {
        self.entries
            .iter()
            .any(|e| e.name.split_once(':').is_some_and(|(r, _)| r == res))
    }

    /// Check that every scope names something in the catalog.
    pub fn validate(&self, set: &ScopeSet) -> Result<(), ScopeError> {
        for s in set.iter() {
            let known = match s {
                Scope::All => true,
                Scope::Resource(r) => self.has_resource(r),
                Scope::Exact(..) => {
                    let name = s.to_string();
                    self.entries.iter().any(|e| e.name == name)
                }
            };
            if !known {
                return Err(ScopeError::Unknown(s.to_string()));
            }
        }
        Ok(())
    }

    /// The scopes of a preset: `full` = `*`, `read-only` = every `…:read`.
    pub fn preset(&self, name: &str) -> Result<Vec<String>, ScopeError> {
        match name {
            "full" => Ok(vec!["*".to_owned()]),
            "read-only" => Ok(self
                .entries
                .iter()
                .filter(|e| e.name.ends_with(":read"))
                .map(|e| e.name.clone())
                .collect()),
            other => Err(ScopeError::UnknownPreset(other.to_owned())),
        }
    }

    /// Catalog entries covered by `set` (for "what can this key do" views).
    pub fn granted_by<'a>(&'a self, set: &'a ScopeSet) -> impl Iterator<Item = &'a CatalogEntry> {
        self.entries
            .iter()
            .filter(move |e| Scope::parse(&e.name).is_ok_and(|s| set.covers(&s)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(x: &str) -> Scope {
        Scope::parse(x).expect("valid scope")
    }

    #[test]
    fn parse_forms() {
        assert_eq!(s("*"), Scope::All);
        assert_eq!(s("runs:*"), Scope::Resource("runs".into()));
        assert_eq!(s("runs:read"), Scope::Exact("runs".into(), "read".into()));
        for bad in [
            "",
            "runs",
            ":read",
            "runs:",
            "Runs:read",
            "runs:read:x",
            "*:read",
            "runs: read",
        ] {
            assert!(Scope::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn covers_with_wildcards() {
        assert!(s("*").covers(&s("runs:read")));
        assert!(s("*").covers(&s("runs:*")));
        assert!(s("*").covers(&s("*")));
        assert!(s("runs:*").covers(&s("runs:read")));
        assert!(s("runs:*").covers(&s("runs:*")));
        assert!(!s("runs:*").covers(&s("*")));
        assert!(!s("runs:*").covers(&s("webhooks:read")));
        assert!(s("runs:read").covers(&s("runs:read")));
        assert!(!s("runs:read").covers(&s("runs:write")));
        assert!(!s("runs:read").covers(&s("runs:*")));
    }

    #[test]
    fn set_covers_all_and_missing() {
        let set = ScopeSet::parse(&["runs:*", "keys:read"]).expect("valid");
        let want = ScopeSet::parse(&["runs:read", "runs:write"]).expect("valid");
        assert!(set.covers_all(&want));
        let want = ScopeSet::parse(&["runs:read", "keys:write"]).expect("valid");
        assert!(!set.covers_all(&want));
        let req = [s("keys:write"), s("runs:read")];
        assert_eq!(set.missing(&req), vec![&req[0]]);
    }

    #[test]
    fn default_catalog_loads_and_has_the_contract_scopes() {
        let cat = Catalog::from_toml(DEFAULT_CATALOG_TOML).expect("asset parses");
        for name in [
            "work-orders:write",
            "work-orders:read",
            "runs:read",
            "runs:write",
            "credits:read",
            "webhooks:read",
            "webhooks:write",
            "templates:read",
            "templates:write",
            "keys:read",
            "keys:write",
            "keys:verify",
            "usage:read",
            "audit:read",
        ] {
            assert!(cat.entries().iter().any(|e| e.name == name), "{name}");
        }
        assert_eq!(cat, Catalog::default_catalog());
    }

    #[test]
    fn presets_and_validation() {
        let cat = Catalog::default_catalog();
        assert_eq!(cat.preset("full").expect("preset"), vec!["*"]);
        let ro = cat.preset("read-only").expect("preset");
        assert!(ro.iter().all(|x| x.ends_with(":read")));
        assert!(ro.contains(&"audit:read".to_owned()));
        assert!(!ro.contains(&"keys:verify".to_owned()));
        assert!(cat.preset("admin").is_err());
        assert!(
            cat.validate(&ScopeSet::parse(&["runs:*", "*", "keys:verify"]).expect("ok"))
                .is_ok()
        );
        assert_eq!(
            cat.validate(&ScopeSet::parse(&["runs:delete"]).expect("ok")),
            Err(ScopeError::Unknown("runs:delete".into()))
        );
        assert!(
            cat.validate(&ScopeSet::parse(&["nothing:*"]).expect("ok"))
                .is_err()
        );
    }
}
