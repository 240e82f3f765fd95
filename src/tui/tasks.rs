//! Runs [`Command`]s: network calls as tokio tasks that send their past-tense [`Action`]
//! back over the one channel; clipboard work synchronously (it writes to the terminal);
//! timers as sleeps. The only place the console does I/O besides the terminal itself.

use tokio::sync::mpsc::UnboundedSender;

use super::app::hygiene;
use super::app::support::Lookup;
use super::app::{Action, Command, CopyDone, CopyWhat, UiError};
use super::clipboard::{ClearOutcome, Clipboard, TMUX_WARNING};
use crate::api::{AuditQuery, AuthEventsQuery, ListKeysQuery, PageQuery, UsageQuery};
use crate::client::Client;

/// Executes commands for one connection.
pub struct Executor {
    client: Client,
    tx: UnboundedSender<Action>,
    /// The clipboard, kept for the whole run (see `clipboard` docs).
    pub clipboard: Clipboard,
}

impl std::fmt::Debug for Executor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Executor")
            .field("client", &self.client)
            .finish_non_exhaustive()
    }
}

fn spawn<F, T>(
    tx: &UnboundedSender<Action>,
    fut: F,
    wrap: impl FnOnce(Result<T, UiError>) -> Action + Send + 'static,
) where
    F: std::future::Future<Output = Result<T, crate::client::ClientError>> + Send + 'static,
    T: Send + 'static,
{
    let tx = tx.clone();
    tokio::spawn(async move {
        let r = fut.await;
        if let Err(e) = &r {
            report_expiry(&tx, e);
        }
        let _ = tx.send(wrap(r.map_err(UiError::from)));
    });
}

/// When renewing the session failed, say so first, so the result that follows lands behind
/// the expired screen (`app::session`).
fn report_expiry(tx: &UnboundedSender<Action>, e: &crate::client::ClientError) {
    if let crate::client::ClientError::SessionExpired { code, reason } = e {
        let _ = tx.send(Action::SessionExpired(super::app::session::Expired {
            code: code.clone(),
            reason: reason.clone(),
        }));
    }
}

/// After a disable, delete or rotate (`done` says which): ask which instances have applied
/// the change (for up to two seconds, `client::ack`) and say it in a toast.
fn acknowledge(
    tx: UnboundedSender<Action>,
    c: crate::client::Client,
    key_id: String,
    done: &'static str,
    change: Option<i64>,
) {
    let Some(change) = change else { return };
    let started = std::time::Instant::now();
    tokio::spawn(async move {
        let result =
            crate::client::ack::wait_applied(&c, change, started, crate::client::ack::ACK_TIMEOUT)
                .await
                .map_err(|e| e.to_string());
        let _ = tx.send(Action::ChangeApplied {
            key_id,
            done,
            result,
        });
    });
}

impl Executor {
    /// An executor sending results to `tx`.
    pub fn new(client: Client, tx: UnboundedSender<Action>, clipboard: Clipboard) -> Executor {
        Executor {
            client,
            tx,
            clipboard,
        }
    }

    /// Use another connection (profile switch).
    pub fn set_client(&mut self, client: Client) {
        self.client = client;
    }

    /// Run one command. Returns the commands the event loop must handle itself.
    pub fn run(&mut self, cmd: Command) -> Option<Command> {
        let c = self.client.clone();
        let tx = &self.tx;
        match cmd {
            Command::LoadMe => spawn(tx, async move { c.me().await }, Action::MeLoaded),
            Command::LoadKeys {
                generation,
                append,
                query,
                filter: q,
            } => {
                spawn(
                    tx,
                    async move { c.list_keys(&query).await },
                    move |result| Action::KeysLoaded {
                        generation,
                        append,
                        query: q,
                        result,
                    },
                );
            }
            Command::LoadCatalog => {
                spawn(tx, async move { c.scopes().await }, Action::CatalogLoaded)
            }
            Command::LoadApps => spawn(
                tx,
                async move {
                    c.list_apps(&PageQuery {
                        limit: Some(500),
                        cursor: None,
                    })
                    .await
                    .map(|p| p.data)
                },
                Action::AppsLoaded,
            ),
            Command::CreateKey(req) => spawn(
                tx,
                async move { c.create_key(&req).await },
                Action::KeyCreated,
            ),
            Command::UpdateKey {
                id,
                req,
                version,
                origin,
            } => {
                let (acks, disable) = (tx.clone(), req.enabled == Some(false));
                spawn(
                    tx,
                    async move {
                        let (k, change) = c.update_key_change(&id, &req, version).await?;
                        if disable {
                            acknowledge(acks, c, id, "Disabled", change);
                        }
                        Ok(k)
                    },
                    move |result| Action::KeyUpdated { origin, result },
                )
            }
            Command::DeleteKey(id) => {
                let (id2, acks) = (id.clone(), tx.clone());
                spawn(
                    tx,
                    async move {
                        let change = c.delete_key_change(&id).await?;
                        acknowledge(acks, c, id, "Deleted", change);
                        Ok(())
                    },
                    move |result| Action::KeyDeleted { id: id2, result },
                );
            }
            Command::LoadOrgUsage(bucket) => spawn(
                tx,
                async move {
                    c.org_usage(&UsageQuery {
                        bucket: Some(bucket),
                        ..UsageQuery::default()
                    })
                    .await
                },
                Action::OrgUsageLoaded,
            ),
            Command::LoadKeyUsage(id, bucket) => spawn(
                tx,
                async move {
                    c.key_usage(
                        &id,
                        &UsageQuery {
                            bucket: Some(bucket),
                            ..UsageQuery::default()
                        },
                    )
                    .await
                },
                Action::KeyUsageLoaded,
            ),
            Command::LoadStale => spawn(
                tx,
                async move {
                    let now = chrono::Utc::now();
                    let q = hygiene::stale_query(now);
                    c.list_keys(&q).await.map(|p| hygiene::stale(p.data, now))
                },
                Action::StaleLoaded,
            ),
            Command::LoadOld => spawn(
                tx,
                async move {
                    let now = chrono::Utc::now();
                    let q = hygiene::rotation_due_query(now);
                    c.list_keys(&q)
                        .await
                        .map(|p| hygiene::rotation_due(p.data, now))
                },
                Action::OldLoaded,
            ),
            Command::LoadFailures => spawn(
                tx,
                async move {
                    c.auth_events(&AuthEventsQuery {
                        limit: Some(100),
                        ..AuthEventsQuery::default()
                    })
                    .await
                    .map(|p| p.data)
                },
                Action::FailuresLoaded,
            ),
            Command::LoadHolders(scope) => {
                let s2 = scope.clone();
                spawn(
                    tx,
                    async move {
                        c.list_keys(&ListKeysQuery {
                            limit: Some(200),
                            scope: Some(scope),
                            ..ListKeysQuery::default()
                        })
                        .await
                        .map(|p| (p.data, p.total))
                    },
                    move |result| Action::HoldersLoaded { scope: s2, result },
                );
            }
            Command::LoadAudit {
                generation,
                cursor,
                key_id,
                action,
                actor,
            } => {
                let append = cursor.is_some();
                spawn(
                    tx,
                    async move {
                        c.audit(&AuditQuery {
                            limit: Some(100),
                            cursor,
                            key_id,
                            action,
                            actor,
                        })
                        .await
                    },
                    move |result| Action::AuditLoaded {
                        generation,
                        append,
                        result,
                    },
                );
            }
            Command::Copy(what) => {
                let (secret, label, result) = match &what {
                    CopyWhat::KeyId(id) => (false, format!("Key id {id}"), self.clipboard.copy(id)),
                    CopyWhat::Text(text) => {
                        (false, "cURL command".to_owned(), self.clipboard.copy(text))
                    }
                    CopyWhat::Reply(text) => (
                        false,
                        "Reply for the customer".to_owned(),
                        self.clipboard.copy(text),
                    ),
                    CopyWhat::Secret(s) => (
                        true,
                        "Secret".to_owned(),
                        self.clipboard.copy_secret(s.expose()),
                    ),
                };
                let result = result
                    .map(|r| {
                        // The tmux buffer warning matters to the user; the reason the system
                        // clipboard is unavailable goes to the log only.
                        let warning = match r.warning {
                            Some(w) if w.contains(TMUX_WARNING) => Some(TMUX_WARNING.to_owned()),
                            Some(w) => {
                                tracing::info!(warning = %w, "clipboard fallback");
                                None
                            }
                            None => None,
                        };
                        CopyDone {
                            what: label,
                            how: r.method.copied().to_owned(),
                            clears: r.method.clear_phrase().to_owned(),
                            warning,
                        }
                    })
                    .map_err(|e| e.to_string());
                let _ = self.tx.send(Action::Copied { secret, result });
            }
            Command::ClearClipboard => {
                let outcome = self.clear_clipboard();
                let _ = self.tx.send(Action::ClipboardCleared(outcome));
            }
            Command::Timer(kind, after) => {
                let tx = tx.clone();
                tokio::spawn(async move {
                    tokio::time::sleep(after).await;
                    let _ = tx.send(Action::TimerFired(kind));
                });
            }
            Command::SwitchProfile(_) => return Some(cmd),
            Command::RotateKey { id, grace, bulk } => {
                let (id2, acks) = (id.clone(), tx.clone());
                spawn(
                    tx,
                    async move {
                        let (r, change) = c
                            .rotate_key_change(
                                &id,
                                &crate::api::RotateRequest {
                                    grace_period_seconds: Some(grace),
                                },
                            )
                            .await?;
                        if !bulk {
                            acknowledge(acks, c, id, "Rotated", change);
                        }
                        Ok(Box::new(r))
                    },
                    move |result| Action::KeyRotated {
                        id: id2,
                        bulk,
                        result,
                    },
                );
            }
            Command::LoadRotationUsage(id) => {
                let id2 = id.clone();
                spawn(
                    tx,
                    async move {
                        c.key_usage(
                            &id,
                            &UsageQuery {
                                bucket: Some(crate::api::BucketSize::Minute),
                                ..UsageQuery::default()
                            },
                        )
                        .await
                    },
                    move |result| Action::RotationUsage {
                        key_id: id2,
                        result,
                    },
                );
            }
            Command::SendRequest {
                method,
                url,
                headers,
                body,
            } => {
                let tx = tx.clone();
                tokio::spawn(async move {
                    let plain: Vec<(String, String)> = headers
                        .iter()
                        .map(|(k, v)| (k.clone(), v.expose().to_owned()))
                        .collect();
                    let r = c
                        .raw(&method, &url, &plain, body)
                        .await
                        .map(|r| {
                            crate::tui::app::tester::TesterResponse::from_raw(
                                r.status,
                                r.elapsed.as_millis(),
                                r.headers,
                                &r.body,
                            )
                        })
                        .map_err(|e| UiError::from(e).message);
                    drop(plain);
                    let _ = tx.send(Action::TesterAnswered(Box::new(r)));
                });
            }
            Command::Diagnose(req) => {
                spawn(tx, async move { c.verify(&req).await }, Action::Diagnosed)
            }
            Command::LookupRequest(request_id) => {
                let tx = tx.clone();
                tokio::spawn(async move {
                    let found = c
                        .auth_events(&AuthEventsQuery {
                            request_id: Some(request_id.clone()),
                            ..AuthEventsQuery::default()
                        })
                        .await;
                    let lookup = match found {
                        Ok(page) => {
                            let event = page.data.into_iter().next();
                            let key = match event.as_ref().and_then(|e| e.key_id.clone()) {
                                Some(id) => c.get_key(&id).await.ok(),
                                None => None,
                            };
                            Lookup::Request {
                                request_id,
                                event,
                                key,
                            }
                        }
                        Err(e) => {
                            report_expiry(&tx, &e);
                            Lookup::Failed(UiError::from(e).message)
                        }
                    };
                    let _ = tx.send(Action::LookedUp(Box::new(lookup)));
                });
            }
            Command::LookupHint { hint, prefix } => {
                let tx = tx.clone();
                tokio::spawn(async move {
                    let query = format!(
                        "…{hint}{}",
                        prefix
                            .as_deref()
                            .map(|p| format!(" {p}"))
                            .unwrap_or_default()
                    );
                    let r = c
                        .list_keys(&ListKeysQuery {
                            hint: Some(hint),
                            q: prefix,
                            limit: Some(50),
                            ..ListKeysQuery::default()
                        })
                        .await;
                    let lookup = match r {
                        Ok(p) => Lookup::Hint {
                            query,
                            keys: p.data,
                            cursor: 0,
                        },
                        Err(e) => {
                            report_expiry(&tx, &e);
                            Lookup::Failed(UiError::from(e).message)
                        }
                    };
                    let _ = tx.send(Action::LookedUp(Box::new(lookup)));
                });
            }
            Command::PrepareUndo { key_id, entry } => spawn(
                tx,
                async move {
                    let key = c.get_key(&key_id).await?;
                    let entry = match entry {
                        Some(e) => Some(*e),
                        None => c
                            .audit(&AuditQuery {
                                limit: Some(1),
                                key_id: Some(key_id),
                                ..AuditQuery::default()
                            })
                            .await?
                            .data
                            .into_iter()
                            .next(),
                    };
                    Ok((entry, key))
                },
                |r| Action::UndoReady(Box::new(r)),
            ),
            Command::LoadReview => spawn(
                tx,
                async move { c.review(&crate::api::ReviewQuery::default()).await },
                Action::ReviewLoaded,
            ),
            Command::LoadScopeUsage(id) => {
                let key_id = id.clone();
                spawn(
                    tx,
                    async move {
                        c.scope_usage(&id, &crate::api::ScopeUsageQuery { days: Some(30) })
                            .await
                    },
                    move |result| Action::ScopeUsageLoaded { key_id, result },
                );
            }
            Command::LoadSightings(id) => {
                let key_id = id.clone();
                spawn(
                    tx,
                    async move {
                        c.key_leaks(
                            &id,
                            &PageQuery {
                                limit: Some(super::app::review::SIGHTINGS),
                                cursor: None,
                            },
                        )
                        .await
                        .map(|p| p.data)
                    },
                    move |result| Action::SightingsLoaded { key_id, result },
                );
            }
            Command::WriteSecrets { path, entries } => {
                let _ = self
                    .tx
                    .send(Action::FileWritten(write_secrets(&path, &entries)));
            }
        }
        None
    }

    /// Clear our secret from the clipboard, saying what happened.
    pub fn clear_clipboard(&mut self) -> Result<String, String> {
        match self.clipboard.clear() {
            Ok(ClearOutcome::Cleared) => Ok("Clipboard cleared".to_owned()),
            Ok(ClearOutcome::Overwritten) => Ok(
                "Asked the terminal to empty its clipboard (OSC 52; cannot be confirmed)"
                    .to_owned(),
            ),
            Ok(ClearOutcome::TmuxBuffersDeleted(n)) => Ok(format!(
                "Deleted {n} tmux paste buffer{} holding the secret; the terminal may keep a copy",
                if n == 1 { "" } else { "s" }
            )),
            Ok(ClearOutcome::TmuxBufferGone) => {
                Ok("No tmux paste buffer holds the secret any more".to_owned())
            }
            Ok(ClearOutcome::LeftAlone) => {
                Ok("Clipboard changed since the copy; left alone".to_owned())
            }
            Ok(ClearOutcome::NothingToClear) => Ok("Nothing to clear".to_owned()),
            Err(e) => Err(e.to_string()),
        }
    }
}

/// Write each key's `# comment` and `NAME=secret` lines to a NEW file readable only by its
/// owner. Refuses to overwrite.
pub fn write_secrets(
    path: &str,
    entries: &[super::app::bulk::SecretLine],
) -> Result<String, String> {
    use std::io::Write;
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(0o600);
    }
    let mut f = opts.open(path).map_err(|e| format!("{path}: {e}"))?;
    let mut text = zeroize::Zeroizing::new(String::new());
    for line in entries {
        text.push_str("# ");
        text.push_str(&line.comment);
        text.push('\n');
        text.push_str(&line.name);
        text.push('=');
        text.push_str(line.secret.expose());
        text.push('\n');
    }
    f.write_all(text.as_bytes())
        .map_err(|e| format!("{path}: {e}"))?;
    f.sync_all().map_err(|e| format!("{path}: {e}"))?;
    let shown =
        std::fs::canonicalize(path).map_or_else(|_| path.to_owned(), |p| p.display().to_string());
    Ok(shown)
}
