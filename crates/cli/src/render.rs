//! Text for people: tables, local times, and one deployment event as lines. The words of an
//! event and every number format come from the core's projection
//! ([`sluice_core::timeline::events`]), shared with the demo and the report.

use chrono::{DateTime, Local, Utc};
use comfy_table::{ColumnConstraint, Table, presets};
use sluice_core::deployment::{Deployment, HistoryEvent, Status};
use sluice_core::timeline::{ViewContext, project};

pub use sluice_core::timeline::text::{
    decision_text, duration, measured, metric_line, number, percent, thresholds, verdict_mark,
};

/// The local wall-clock time of an instant, for lines people read as they happen.
pub fn clock(at: DateTime<Utc>) -> String {
    at.with_timezone(&Local).format("%H:%M:%S").to_string()
}

/// A date and time, for tables of past deployments.
pub fn date_time(at: DateTime<Utc>) -> String {
    at.with_timezone(&Local)
        .format("%Y-%m-%d %H:%M")
        .to_string()
}

/// Columns aligned by the widest cell, two spaces apart, no borders; the last column is not
/// padded.
pub fn table(headers: &[&str], rows: &[Vec<String>]) -> String {
    let mut table = Table::new();
    table
        .load_style(presets::NOTHING)
        .set_header(headers.to_vec());
    for row in rows {
        table.add_row(row.iter().take(headers.len()));
    }
    let last = headers.len().saturating_sub(1);
    for (i, column) in table.column_iter_mut().enumerate() {
        column.set_padding((0, if i == last { 0 } else { 2 }));
        column.set_constraint(ColumnConstraint::ContentWidth);
    }
    let mut out = String::new();
    for line in table.lines() {
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out
}

/// How a deployment ended, in a word or two.
pub fn outcome_word(status: Status) -> &'static str {
    match status {
        Status::Promoted => "promoted",
        Status::RolledBack => "rolled back",
        Status::Failed => "failed",
        Status::RollingBack => "rolling back",
        Status::AwaitingApproval => "waiting",
        _ => "running",
    }
}

/// One history event as lines: the first with the local time, the rest indented under it.
pub fn event_lines(deployment: &Deployment, event: &HistoryEvent) -> Vec<String> {
    let context = ViewContext::of(deployment, &clock);
    project(event, &context).lines(&clock(event.at))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;

    #[test]
    fn tables_align_their_columns() {
        let text = table(
            &["SERVICE", "STATUS"],
            &[
                vec!["checkout-api".into(), "baking".into()],
                vec!["a".into(), "shifting".into()],
            ],
        );
        assert_eq!(
            text,
            "SERVICE       STATUS\ncheckout-api  baking\na             shifting\n"
        );
    }
}
