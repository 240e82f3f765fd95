//! The stored form of a key (hash only) and its derived status.

use chrono::{DateTime, Utc};

use super::host_pattern::HostPattern;
use super::key::{Env, SecretHash};
use super::scope::ScopeSet;

/// A key as the service stores it. Never holds the secret, only its hash and hint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyRecord {
    /// The public key, `pk_{env}_…`.
    pub id: String,
    /// The owning organization.
    pub org_id: String,
    /// Display name.
    pub name: String,
    /// `live` or `test`.
    pub env: Env,
    /// `None` for an org-scoped key; the app it is bound to otherwise.
    pub app_id: Option<String>,
    /// Granted scopes.
    pub scopes: ScopeSet,
    /// Allowed Origin hosts for public-key-only use.
    pub allowed_domains: Vec<HostPattern>,
    /// Disabled keys stop working at once.
    pub enabled: bool,
    /// SHA-256 of the secret.
    pub secret_hash: SecretHash,
    /// Last four characters of the secret.
    pub secret_hint: String,
    /// Creation time.
    pub created_at: DateTime<Utc>,
    /// Last change.
    pub updated_at: DateTime<Utc>,
    /// When the key stops working (set by rotation or by hand).
    pub expires_at: Option<DateTime<Utc>>,
    /// Last authenticated request, allowed or not.
    pub last_used_at: Option<DateTime<Utc>>,
    /// The key this one replaced.
    pub rotated_from: Option<String>,
    /// The key that replaced this one.
    pub rotated_to: Option<String>,
    /// Optimistic-concurrency version, bumped on every change.
    pub version: i64,
    /// Who owns the key (free text).
    pub owner: Option<String>,
    /// What the key is for (free text).
    pub description: Option<String>,
    /// When a leak of its secret was first reported.
    pub leaked_at: Option<DateTime<Utc>>,
}

/// Derived key status.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum KeyStatus {
    /// Works.
    Active,
    /// Turned off by hand.
    Disabled,
    /// Works until a future `expires_at` (e.g. in a rotation grace period).
    Expiring,
    /// Past `expires_at`.
    Expired,
}

impl KeyStatus {
    /// The wire form.
    pub fn as_str(self) -> &'static str {
        match self {
            KeyStatus::Active => "active",
            KeyStatus::Disabled => "disabled",
            KeyStatus::Expiring => "expiring",
            KeyStatus::Expired => "expired",
        }
    }

    /// Whether a key in this status still authenticates (enabled, not expired): what the
    /// access review looks at, and what makes a leak urgent.
    pub fn can_authenticate(self) -> bool {
        matches!(self, KeyStatus::Active | KeyStatus::Expiring)
    }

    /// Parse the wire form.
    pub fn parse(s: &str) -> Option<KeyStatus> {
        match s {
            "active" => Some(KeyStatus::Active),
            "disabled" => Some(KeyStatus::Disabled),
            "expiring" => Some(KeyStatus::Expiring),
            "expired" => Some(KeyStatus::Expired),
            _ => None,
        }
    }
}

impl KeyRecord {
    /// Status at `now`: disabled wins, then expired, then expiring.
    pub fn status(&self, now: DateTime<Utc>) -> KeyStatus {
        if !self.enabled {
            KeyStatus::Disabled
        } else {
            match self.expires_at {
                Some(at) if at <= now => KeyStatus::Expired,
                Some(_) => KeyStatus::Expiring,
                None => KeyStatus::Active,
            }
        }
    }

    /// Whether the key is past its expiry at `now`.
    pub fn is_expired(&self, now: DateTime<Utc>) -> bool {
        self.expires_at.is_some_and(|at| at <= now)
    }
}
