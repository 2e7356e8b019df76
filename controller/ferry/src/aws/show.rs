//! Printing plans, results and status for people, like `terraform plan`: one block per
//! resource, field by field, colored on a terminal. Pure string building. Every name, path and
//! value from the manifests or from AWS is printed through `e` (control characters escaped), so
//! no input can write terminal escapes or forge a line.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write;

use ferry_core::health::short_revision;
use ferry_core::load::DesiredState;
use ferry_core::plan::{Op, Plan, ResourceKey, ResourceKind};
use ferry_core::platform::{Observed, ResourceResult, ResultCode, SyncStatus};
use ferry_core::printable::escape;
use ferry_core::render::Rendered;
use serde::Serialize;
use serde_json::Value;

struct Paint(bool);

impl Paint {
    fn wrap(&self, code: &str, text: &str) -> String {
        if self.0 {
            format!("\x1b[{code}m{text}\x1b[0m")
        } else {
            text.to_owned()
        }
    }
    fn green(&self, t: &str) -> String {
        self.wrap("32", t)
    }
    fn yellow(&self, t: &str) -> String {
        self.wrap("33", t)
    }
    fn red(&self, t: &str) -> String {
        self.wrap("31", t)
    }
    fn bold(&self, t: &str) -> String {
        self.wrap("1", t)
    }
}

/// Text from the manifests or from AWS, safe to print on one line.
fn e(text: &str) -> String {
    escape(text).into_owned()
}

fn value(v: Option<&Value>) -> String {
    match v {
        None => "(none)".into(),
        Some(v) => {
            let s = e(&v.to_string());
            if s.len() > 120 {
                format!("{}…", &s[..s.floor_char_boundary(117)])
            } else {
                s
            }
        }
    }
}

/// `value` of the field at `path`, hidden when the field is an environment variable whose
/// name reads like a secret (a literal the manifest allows with
/// `ferry.dev/plaintext-environment` is still never printed).
fn field_value(path: &str, v: Option<&Value>) -> String {
    let secret = path
        .rsplit_once(".environment.")
        .is_some_and(|(_, name)| ferry_core::validate::looks_secret(name));
    match v {
        Some(_) if secret => "(hidden)".into(),
        v => value(v),
    }
}

/// A field change identified by resource and path.
pub(crate) type FieldChange = (ResourceKey, String);

/// The field changes of `plan` that `baseline` (the same environment's plan from the base
/// manifests, against the same live state) has too, with the same live and desired values:
/// drift that exists whatever the change under review does.
pub(crate) fn same_changes(plan: &Plan, baseline: &Plan) -> BTreeSet<FieldChange> {
    let base: BTreeSet<(&ResourceKey, &str, String, String)> = baseline
        .changes
        .iter()
        .flat_map(|c| {
            c.fields.iter().map(move |f| {
                (
                    &c.key,
                    f.path.as_str(),
                    format!("{:?}", f.live),
                    format!("{:?}", f.desired),
                )
            })
        })
        .collect();
    let mut out = BTreeSet::new();
    for c in &plan.changes {
        for f in &c.fields {
            let probe = (
                &c.key,
                f.path.as_str(),
                format!("{:?}", f.live),
                format!("{:?}", f.desired),
            );
            if base.contains(&probe) {
                out.insert((c.key.clone(), f.path.clone()));
            }
        }
    }
    out
}

/// Text for one Markdown table cell: one line, no cell break, no code span break, no HTML.
fn cell(text: &str) -> String {
    e(text)
        .replace('|', "\\|")
        .replace('`', "'")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

/// Fields listed per resource in the Markdown table before "and N more".
const MARKDOWN_FIELDS: usize = 8;

/// The plan as a compact Markdown table for a pull request comment: one row per resource;
/// an update lists its changed fields (`live → desired`, drift marked), a create or prune
/// says so in a word.
pub(crate) fn plan_markdown(plan: &Plan, drift: &BTreeSet<FieldChange>) -> String {
    let mut out = String::new();
    let env = cell(&plan.env);
    if plan.changes.is_empty() {
        let _ = writeln!(out, "#### `{env}`: no changes\n");
    } else {
        let n = |op: Op| plan.changes.iter().filter(|c| c.op == op).count();
        let drifted = plan
            .changes
            .iter()
            .filter(|c| drift.iter().any(|(k, _)| *k == c.key))
            .count();
        let _ = write!(
            out,
            "#### `{env}`: {} to create, {} to update, {} to prune",
            n(Op::Create),
            n(Op::Update),
            n(Op::Prune)
        );
        if n(Op::Run) > 0 {
            let _ = write!(out, ", {} task(s) to run first", n(Op::Run));
        }
        if drifted > 0 {
            let _ = write!(out, " ({drifted} with drift)");
        }
        let _ = writeln!(out, "\n\n| | Resource | Changes |\n|---|---|---|");
        for c in &plan.changes {
            let sign = match c.op {
                Op::Create => "➕ create",
                Op::Update => "🔄 update",
                Op::Prune => "➖ prune",
                Op::Run => "▶️ run",
            };
            if c.op != Op::Update {
                let what = match c.op {
                    Op::Create => format!("new, {} field(s)", c.fields.len()),
                    Op::Run => c
                        .fields
                        .iter()
                        .find(|f| f.path == "trigger")
                        .and_then(|f| f.desired.as_ref())
                        .and_then(|v| v.as_str())
                        .map_or_else(|| "runs to completion".to_owned(), cell),
                    _ => "deleted".to_owned(),
                };
                let _ = writeln!(
                    out,
                    "| {sign} | `{}/{}` | {what} |",
                    c.key.kind,
                    cell(&c.key.name)
                );
                continue;
            }
            let mut fields: Vec<String> = c
                .fields
                .iter()
                .take(MARKDOWN_FIELDS)
                .map(|f| {
                    let what = match (c.op, &f.live, &f.desired) {
                        (Op::Create, _, _) | (_, None, _) => {
                            field_value(&f.path, f.desired.as_ref())
                        }
                        (_, Some(_), None) => {
                            format!("{} → (none)", field_value(&f.path, f.live.as_ref()))
                        }
                        _ => format!(
                            "{} → {}",
                            field_value(&f.path, f.live.as_ref()),
                            field_value(&f.path, f.desired.as_ref())
                        ),
                    };
                    let mark = if drift.contains(&(c.key.clone(), f.path.clone())) {
                        " **⚠ drift**"
                    } else {
                        ""
                    };
                    format!("`{}`: {}{mark}", cell(&f.path), cell(&what))
                })
                .collect();
            if c.fields.len() > MARKDOWN_FIELDS {
                fields.push(format!("and {} more", c.fields.len() - MARKDOWN_FIELDS));
            }
            let _ = writeln!(
                out,
                "| {sign} | `{}/{}` | {} |",
                c.key.kind,
                cell(&c.key.name),
                fields.join("<br>")
            );
        }
        let _ = writeln!(out);
    }
    for c in &plan.conflicts {
        let _ = writeln!(
            out,
            "- ⛔ `{}/{}` left alone: {}",
            c.key.kind,
            cell(&c.key.name),
            cell(&c.reason)
        );
    }
    if !plan.prune_skipped.is_empty() {
        let _ = writeln!(
            out,
            "- not pruned (prune is off or the desired set is empty): {}",
            cell(&plan.prune_skipped.join(", "))
        );
    }
    if drift.is_empty() {
        out
    } else {
        out + "\n⚠ drift: live differs from the base branch already; applying this change also reverts it.\n"
    }
}

/// Manifests that do not load, as Markdown: the file:line errors in a code block.
pub(crate) fn invalid_markdown(env: &str, diagnostics: &str) -> String {
    let text = e_lines(diagnostics).replace("```", "'''");
    format!(
        "#### `{}`: ❌ invalid manifests\n\n```\n{}\n```\n",
        cell(env),
        text.trim_end()
    )
}

/// Multi-line text with control characters escaped line by line.
fn e_lines(text: &str) -> String {
    text.lines().map(e).collect::<Vec<_>>().join("\n")
}

/// The plan, resource by resource and field by field.
pub(crate) fn plan(plan: &Plan, color: bool) -> String {
    let p = Paint(color);
    let mut out = String::new();
    if plan.changes.is_empty() {
        let _ = writeln!(
            out,
            "No changes. Environment `{}` matches the manifests.",
            e(&plan.env)
        );
    } else {
        let _ = writeln!(
            out,
            "Ferry will perform these actions in environment `{}`:\n",
            e(&plan.env)
        );
    }
    for c in &plan.changes {
        let (sign, word) = match c.op {
            Op::Create => (p.green("+"), "create"),
            Op::Update => (p.yellow("~"), "update"),
            Op::Prune => (p.red("-"), "prune"),
            Op::Run => (p.green(">"), "run"),
        };
        let _ = writeln!(
            out,
            "  {sign} {} ({word})",
            p.bold(&format!("{}/{}", c.key.kind, e(&c.key.name)))
        );
        for f in &c.fields {
            let line = match (c.op, &f.live) {
                (Op::Create, _) | (_, None) => format!(
                    "      {} {}: {}",
                    p.green("+"),
                    e(&f.path),
                    field_value(&f.path, f.desired.as_ref())
                ),
                (_, Some(_)) if f.desired.is_none() => format!(
                    "      {} {}: {}",
                    p.red("-"),
                    e(&f.path),
                    field_value(&f.path, f.live.as_ref())
                ),
                _ => format!(
                    "      {} {}: {} → {}",
                    p.yellow("~"),
                    e(&f.path),
                    field_value(&f.path, f.live.as_ref()),
                    field_value(&f.path, f.desired.as_ref())
                ),
            };
            let _ = writeln!(out, "{line}");
        }
    }
    for c in &plan.conflicts {
        let _ = writeln!(
            out,
            "  {} {}/{}: left alone: {}",
            p.red("!"),
            c.key.kind,
            e(&c.key.name),
            e(&c.reason)
        );
    }
    if !plan.prune_skipped.is_empty() {
        let _ = writeln!(
            out,
            "  note: not pruned (prune is off or the desired set is empty): {}",
            e(&plan.prune_skipped.join(", "))
        );
    }
    if !plan.changes.is_empty() {
        let n = |op: Op| plan.changes.iter().filter(|c| c.op == op).count();
        let _ = writeln!(
            out,
            "\nPlan: {} to create, {} to update, {} to prune.",
            n(Op::Create),
            n(Op::Update),
            n(Op::Prune)
        );
    }
    out
}

/// One line per applied change.
pub(crate) fn results(results: &[ResourceResult], color: bool) -> String {
    let p = Paint(color);
    let mut out = String::from("\n");
    for r in results {
        let mark = match r.code {
            ResultCode::Synced => p.green("ok     "),
            ResultCode::Failed => p.red("FAILED "),
            ResultCode::Skipped => p.yellow("skipped"),
        };
        let _ = writeln!(
            out,
            "  {mark} {} {}/{}: {}",
            r.op,
            r.key.kind,
            e(&r.key.name),
            e(&r.message)
        );
    }
    let failed = results
        .iter()
        .filter(|r| r.code != ResultCode::Synced)
        .count();
    let _ = writeln!(
        out,
        "\nApply: {} synced, {failed} failed or skipped.",
        results.len() - failed
    );
    out
}

/// Status of one service.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct StatusRow {
    service: String,
    sync: SyncStatus,
    health: ferry_core::platform::HealthCode,
    message: String,
    live_revision: Option<String>,
    desired_revision: String,
    running: u32,
    desired: u32,
    images: BTreeMap<String, String>,
    drift: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    deployment: Option<ferry_core::platform::DeploymentProgress>,
}

pub(crate) fn status_rows(
    desired: &DesiredState,
    observed: &Observed,
    rendered: &Rendered,
    plan: &Plan,
) -> Vec<StatusRow> {
    rendered
        .services
        .iter()
        .map(|svc| {
            let family = &svc.register_task_definition.family;
            let changes: Vec<_> = plan
                .changes
                .iter()
                .filter(|c| {
                    (c.key.kind == ResourceKind::EcsService && c.key.name == svc.name)
                        || (c.key.kind == ResourceKind::TaskDefinition && &c.key.name == family)
                })
                .collect();
            let conflict = plan.conflicts.iter().any(|c| c.key.name == svc.name);
            let health = observed.health.get(&svc.name).cloned().unwrap_or_default();
            let td_changes = changes
                .iter()
                .any(|c| c.key.kind == ResourceKind::TaskDefinition);
            let live_revision = health
                .live_revision
                .as_deref()
                .map(|r| short_revision(r).to_owned());
            StatusRow {
                service: svc.name.clone(),
                sync: if changes.is_empty() && !conflict {
                    SyncStatus::Synced
                } else if conflict {
                    SyncStatus::Unknown
                } else {
                    SyncStatus::OutOfSync
                },
                health: health.code,
                message: if conflict {
                    "not managed by Ferry (conflict)".into()
                } else {
                    health.message.clone()
                },
                desired_revision: if td_changes {
                    format!("{family}:<new revision>")
                } else {
                    live_revision
                        .clone()
                        .unwrap_or_else(|| format!("{family}:<new revision>"))
                },
                live_revision,
                running: health.running,
                // With autoscaling the live count is the desired one (the autoscaler's).
                desired: desired
                    .services
                    .get(&svc.name)
                    .filter(|s| s.spec.autoscaling.is_none())
                    .map_or(health.desired, |s| s.spec.desired_count),
                images: health.images.clone(),
                drift: changes
                    .iter()
                    .flat_map(|c| c.fields.iter().map(|f| f.path.clone()))
                    .collect(),
                deployment: health.progress.clone(),
            }
        })
        .collect()
}

/// The status table.
pub(crate) fn status(env: &str, rows: &[StatusRow], color: bool) -> String {
    let p = Paint(color);
    let mut out = format!("Environment `{}`\n\n", e(env));
    let _ = writeln!(
        out,
        "{:<24} {:<10} {:<12} {:<28} {:<28} {:>8}",
        "SERVICE", "SYNC", "HEALTH", "LIVE REVISION", "DESIRED REVISION", "RUNNING"
    );
    for r in rows {
        let sync = format!("{:<10}", format!("{:?}", r.sync));
        let sync = match r.sync {
            SyncStatus::Synced => p.green(&sync),
            _ => p.yellow(&sync),
        };
        let health = format!("{:<12}", format!("{:?}", r.health));
        let health = match r.health {
            ferry_core::platform::HealthCode::Healthy => p.green(&health),
            ferry_core::platform::HealthCode::Degraded
            | ferry_core::platform::HealthCode::Missing => p.red(&health),
            _ => p.yellow(&health),
        };
        let _ = writeln!(
            out,
            "{:<24} {sync} {health} {:<28} {:<28} {:>8}",
            e(&r.service),
            e(r.live_revision.as_deref().unwrap_or("-")),
            e(&r.desired_revision),
            format!("{}/{}", r.running, r.desired)
        );
        if !r.message.is_empty() {
            let _ = writeln!(out, "    {}", e(&r.message));
        }
        for (container, image) in &r.images {
            let _ = writeln!(out, "    {}: {}", e(container), e(image));
        }
        if !r.drift.is_empty() {
            let _ = writeln!(out, "    differs: {}", e(&r.drift.join(", ")));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_of_secret_named_variables_are_never_printed() {
        let v = serde_json::json!("example");
        assert_eq!(
            field_value(
                "containerDefinitions[db].environment.MYSQL_ROOT_PASSWORD",
                Some(&v)
            ),
            "(hidden)"
        );
        assert_eq!(
            field_value(
                "containerDefinitions[db].environment.MYSQL_DATABASE",
                Some(&v)
            ),
            "\"example\""
        );
        assert_eq!(
            field_value("containerDefinitions[db].environment.DB_TOKEN", None),
            "(none)"
        );
    }
}
