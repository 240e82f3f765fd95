//! `keyconsole review`: the organization's access review (`GET /v1/review`) as a table, the
//! API's JSON, or markdown a team can attach to its quarterly review. Exit 0 when there is
//! nothing to act on, 1 otherwise.

use clap::{Args, ValueEnum};

use super::{CliError, connect, render_table};
use crate::api::{Review, ReviewFinding, ReviewQuery};
use crate::domain::review::FindingKind;

/// `keyconsole review`
#[derive(Debug, Args)]
pub struct ReviewArgs {
    /// Output format.
    #[arg(short = 'o', long = "output", value_enum, default_value = "table")]
    pub output: ReviewOutput,
    /// A key unused this many days is stale (default 30).
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..=3650))]
    pub stale_days: Option<u32>,
    /// A secret older than this many days is due for rotation (default 90).
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..=3650))]
    pub rotation_days: Option<u32>,
}

/// How `review` prints.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ReviewOutput {
    /// Aligned columns, grouped by kind.
    Table,
    /// The API's JSON.
    Json,
    /// A markdown report.
    Markdown,
}

fn kinds(r: &Review) -> Vec<(FindingKind, Vec<&ReviewFinding>)> {
    FindingKind::ALL
        .into_iter()
        .map(|k| {
            (
                k,
                r.findings
                    .iter()
                    .filter(|f| f.kind == k.as_str())
                    .collect::<Vec<_>>(),
            )
        })
        .filter(|(_, v)| !v.is_empty())
        .collect()
}

fn more(r: &Review, k: FindingKind) -> &'static str {
    if r.truncated.iter().any(|t| t == k.as_str()) {
        " (first 1,000 shown)"
    } else {
        ""
    }
}

fn table(r: &Review) -> String {
    if r.findings.is_empty() {
        return "nothing to act on: every key has an owner, is used, rotated and narrow\n"
            .to_owned();
    }
    let mut out = String::new();
    for (k, list) in kinds(r) {
        out.push_str(&format!(
            "{} ({}{}): {}\n",
            k.as_str(),
            list.len(),
            more(r, k),
            k.advice()
        ));
        let rows: Vec<Vec<String>> = list
            .iter()
            .map(|f| {
                vec![
                    f.key.id.clone(),
                    f.key.name.clone(),
                    f.key.owner.clone().unwrap_or_else(|| "-".to_owned()),
                    f.detail.clone(),
                ]
            })
            .collect();
        out.push_str(&render_table(&["KEY", "NAME", "OWNER", "DETAIL"], &rows));
        out.push_str("\n\n");
    }
    out
}

/// Markdown cells: no pipes or line breaks from free text.
fn cell(s: &str) -> String {
    s.replace('|', "\\|").replace(['\n', '\r'], " ")
}

fn markdown(r: &Review) -> String {
    let mut out = format!(
        "# Access review\n\nStale after {} days without use; rotation due after {} days.\n\n",
        r.stale_days, r.rotation_days
    );
    if r.findings.is_empty() {
        out.push_str("Nothing to act on.\n");
        return out;
    }
    out.push_str("| Finding | Keys | What to do |\n|---|---|---|\n");
    for (k, list) in kinds(r) {
        out.push_str(&format!(
            "| `{}` | {}{} | {} |\n",
            k.as_str(),
            list.len(),
            more(r, k),
            k.advice()
        ));
    }
    for (k, list) in kinds(r) {
        out.push_str(&format!(
            "\n## `{}`\n\n| Key | Name | Owner | Detail |\n|---|---|---|---|\n",
            k.as_str()
        ));
        for f in list {
            out.push_str(&format!(
                "| `{}` | {} | {} | {} |\n",
                f.key.id,
                cell(&f.key.name),
                cell(f.key.owner.as_deref().unwrap_or("—")),
                cell(&f.detail)
            ));
        }
    }
    out
}

/// Run `keyconsole review`.
pub async fn run(url: Option<&str>, profile: Option<&str>, a: ReviewArgs) -> Result<(), CliError> {
    let client = connect(url, profile)?;
    let r = client
        .review(&ReviewQuery {
            stale_days: a.stale_days,
            rotation_days: a.rotation_days,
        })
        .await
        .map_err(super::client_error)?;
    match a.output {
        ReviewOutput::Json => super::print_json(&r)?,
        ReviewOutput::Table => print!("{}", table(&r)),
        ReviewOutput::Markdown => print!("{}", markdown(&r)),
    }
    if r.findings.is_empty() {
        Ok(())
    } else {
        Err(CliError::Runtime(format!(
            "the review found {} to act on",
            match r.findings.len() {
                1 => "1 finding".to_owned(),
                n => format!("{n} findings"),
            }
        )))
    }
}
