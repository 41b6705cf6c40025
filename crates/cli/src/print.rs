//! How `status`, `history` and `show` read for people (`-o json` prints the rows themselves).

use chrono::{DateTime, Utc};
use sluice_core::deployment::{Controller, Deployment, HistoryEvent};
use sluice_core::service_state::ServiceState;
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
                format!(
                    "{} {}",
                    text::canary(&r.roles),
                    render::percent(r.canary_share)
                ),
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
            "TRAFFIC",
            "SINCE",
            "STATUS",
            "DEPLOYMENT",
        ],
        &cells,
    )
}

/// Each service's state item: its stable slot, the version each slot last received, how the
/// last deployment ended, and the queued release.
pub fn service_states(states: &[ServiceState]) -> String {
    let mut lines = Vec::new();
    for state in states {
        lines.push(format!("service {}", state.service));
        let stable = state.stable_slot.as_deref().unwrap_or("not recorded yet");
        lines.push(format!("  stable     {stable}"));
        if !state.slot_versions.is_empty() {
            let slots: Vec<String> = state
                .slot_versions
                .iter()
                .map(|(slot, version)| format!("{slot} {version}"))
                .collect();
            lines.push(format!("  slots      {}", slots.join(" · ")));
        }
        if let Some(last) = &state.last_deployment {
            lines.push(format!(
                "  last       {} {} (canary {}) at {}: {}",
                last.version,
                render::outcome_word(last.status),
                last.canary_slot,
                render::date_time(last.ended_at),
                last.id
            ));
        }
        match &state.queued {
            Some(queued) => lines.push(format!(
                "  queued     {} as {} (since {}, by {})",
                queued.version,
                queued.execution_name,
                render::date_time(queued.queued_at),
                queued.source
            )),
            None => lines.push("  queued     nothing".into()),
        }
        if let Some(superseded) = state.superseded.last() {
            lines.push(format!(
                "  superseded {} by {} at {}",
                superseded.version,
                superseded.superseded_by,
                render::date_time(superseded.superseded_at)
            ));
        }
        if let Some(released) = state.released_locks.last() {
            lines.push(format!(
                "  unlocked   {} by {} at {}: {}",
                released.deployment,
                released.released_by,
                render::date_time(released.released_at),
                released.reason
            ));
        }
    }
    let mut text = lines.join("\n");
    text.push('\n');
    text
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
                r.roles.canary.clone(),
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
            "CANARY",
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
