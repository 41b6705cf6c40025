//! How `status`, `history` and `show` read for people (`-o json` prints the rows themselves).

use chrono::{DateTime, Utc};
use sluice_core::deployment::{Controller, Deployment, HistoryEvent};
use sluice_core::timeline::{Timeline, text};

use crate::render;
use crate::rows::{ActiveRow, HistoryRow};

/// The deployments in progress as a table, or a sentence when there is none.
pub fn status(rows: &[ActiveRow], service: Option<&str>, now: DateTime<Utc>) -> String {
    if rows.is_empty() {
        return match service {
            Some(service) => format!("no deployment of {service} in progress\n"),
            None => "no deployment in progress\n".into(),
        };
    }
    let cells: Vec<Vec<String>> = rows
        .iter()
        .map(|r| {
            let mut status = r.status.to_string();
            if let Some(who) = &r.pause_requested_by {
                status.push_str(&format!(" (pause asked by {who})"));
            }
            if let Some(who) = &r.promotion_requested_by {
                status.push_str(&format!(" (promotion asked by {who})"));
            }
            vec![
                r.service.clone(),
                r.version.clone(),
                r.step
                    .map(|s| format!("{s}/{}", r.steps))
                    .unwrap_or_else(|| "-".into()),
                render::percent(r.canary_share),
                format!("{} ago", render::duration(now - r.started_at)),
                status,
                r.deployment_id.clone(),
            ]
        })
        .collect();
    render::table(
        &[
            "SERVICE",
            "VERSION",
            "STEP",
            "SHARE",
            "SINCE",
            "STATUS",
            "DEPLOYMENT",
        ],
        &cells,
    )
}

/// A service's deployments as a table, or a sentence when there is none.
pub fn history(rows: &[HistoryRow], service: &str) -> String {
    if rows.is_empty() {
        return format!("no deployments of {service}\n");
    }
    let cells: Vec<Vec<String>> = rows
        .iter()
        .map(|r| {
            let outcome = match (r.status, &r.controller) {
                (status, Controller::StateMachine) => render::outcome_word(status).to_string(),
                (status, by) => format!("{} ({})", render::outcome_word(status), by.describe()),
            };
            let mut reason = r.outcome.clone().unwrap_or_default();
            if reason.chars().count() > 80 {
                reason = format!("{}…", reason.chars().take(79).collect::<String>());
            }
            vec![
                render::date_time(r.started_at),
                r.version.clone(),
                outcome,
                render::duration(chrono::Duration::seconds(r.duration_seconds)),
                r.deployment_id.clone(),
                reason,
            ]
        })
        .collect();
    render::table(
        &[
            "STARTED",
            "VERSION",
            "OUTCOME",
            "DURATION",
            "DEPLOYMENT",
            "WHY",
        ],
        &cells,
    )
}

/// One deployment: its record in a few lines, then every event of its history.
pub fn show(
    deployment: &Deployment,
    timeline: &Timeline,
    history: &[HistoryEvent],
    now: DateTime<Utc>,
) -> String {
    let plan: Vec<String> = deployment
        .plan
        .steps
        .iter()
        .map(|s| format!("{} ({}s)", render::percent(s.percent), s.bake_seconds))
        .collect();
    let mut lines = vec![
        format!("deployment {}", deployment.id),
        format!(
            "  service    {} {}",
            deployment.service, deployment.spec.version
        ),
        format!(
            "  status     {} (driven by {})",
            deployment.status,
            deployment.controller.describe()
        ),
        format!(
            "  started    {} ({} {})",
            render::date_time(deployment.started_at),
            if timeline.ended_at.is_some() {
                "took"
            } else {
                "running for"
            },
            render::duration(timeline.duration(now))
        ),
        format!("  plan       {}", plan.join(" → ")),
        format!(
            "  slots      {}, {}",
            text::stable(&timeline.roles),
            text::canary(&timeline.roles)
        ),
        format!(
            "  traffic    {} {}",
            text::canary(&timeline.roles),
            render::percent(timeline.current_share())
        ),
    ];
    if let Some(reason) = &timeline.outcome {
        lines.push(format!("  outcome    {reason}"));
    }
    if let Some(arn) = &deployment.execution_arn {
        lines.push(format!("  execution  {arn}"));
    }
    lines.push(String::new());
    for event in history {
        lines.extend(render::event_lines(deployment, event));
    }
    let mut text = lines.join("\n");
    text.push('\n');
    text
}
