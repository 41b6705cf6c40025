//! Per-cell figures and the printed table.

use std::fmt::Write;

use crate::Failure;
use crate::simulate::{self, Cell, SequentialOutcome, Step, Trial};

/// The figures of one sequential judge in one cell.
pub struct SequentialSummary {
    pub fail_rate: f64,
    /// Median and p90 time to fail over all trials; `None` when not reached within the bake.
    pub median_seconds: Option<u64>,
    pub p90_seconds: Option<u64>,
    pub pass_rate: f64,
    pub median_step_seconds: u64,
}

pub struct CellSummary {
    pub threshold_fail_rate: f64,
    pub fixed_fail_rate: f64,
    pub coarse: SequentialSummary,
    pub fine: SequentialSummary,
}

pub struct Row {
    pub cell: Cell,
    pub summary: CellSummary,
}

impl CellSummary {
    pub fn new(trials: &[Trial], threshold: f64, step: &Step) -> Result<Self, Failure> {
        let share = |count: usize| count as f64 / trials.len().max(1) as f64;
        let threshold_fails = trials
            .iter()
            .filter(|trial| simulate::rate_difference(&trial.totals) > threshold)
            .count();
        let mut fixed_fails = 0;
        for trial in trials {
            if simulate::fixed_sample_fails(&trial.totals, step.judge.alpha)? {
                fixed_fails += 1;
            }
        }
        Ok(Self {
            threshold_fail_rate: share(threshold_fails),
            fixed_fail_rate: share(fixed_fails),
            coarse: sequential(trials.iter().map(|trial| trial.coarse), step.bake_seconds),
            fine: sequential(trials.iter().map(|trial| trial.fine), step.bake_seconds),
        })
    }
}

fn sequential(
    outcomes: impl Iterator<Item = SequentialOutcome> + Clone,
    bake_seconds: u64,
) -> SequentialSummary {
    let count = outcomes.clone().count().max(1);
    let mut fail_times: Vec<u64> = outcomes
        .clone()
        .map(|outcome| outcome.failed_at.unwrap_or(u64::MAX))
        .collect();
    fail_times.sort_unstable();
    let mut step_times: Vec<u64> = outcomes
        .clone()
        .map(|outcome| outcome.step_seconds(bake_seconds))
        .collect();
    step_times.sort_unstable();
    let reached = |time: u64| (time != u64::MAX).then_some(time);
    SequentialSummary {
        fail_rate: outcomes.clone().filter(|o| o.failed_at.is_some()).count() as f64 / count as f64,
        median_seconds: quantile(&fail_times, 0.5).and_then(reached),
        p90_seconds: quantile(&fail_times, 0.9).and_then(reached),
        pass_rate: outcomes.filter(|o| o.passed_at.is_some()).count() as f64 / count as f64,
        median_step_seconds: quantile(&step_times, 0.5).unwrap_or(bake_seconds),
    }
}

/// The `q` quantile of sorted values (the smallest value with at least `q` of them at or below).
fn quantile(sorted: &[u64], q: f64) -> Option<u64> {
    let index = ((q * sorted.len() as f64).ceil() as usize).saturating_sub(1);
    sorted.get(index).copied()
}

fn percent(rate: f64) -> String {
    format!("{:.1} %", 100.0 * rate)
}

fn seconds(time: Option<u64>) -> String {
    time.map_or_else(|| "-".to_owned(), |s| format!("{s} s"))
}

pub fn table(rows: &[Row], step: &Step) -> String {
    let header = [
        "stable".to_owned(),
        "share".to_owned(),
        "req/s".to_owned(),
        "canary".to_owned(),
        "thresh.".to_owned(),
        "fixed".to_owned(),
        format!("{}s fail", step.coarse_seconds),
        "median".to_owned(),
        "p90".to_owned(),
        "pass".to_owned(),
        "step".to_owned(),
        format!("{}s fail", simulate::SLICE_SECONDS),
        "median".to_owned(),
        "p90".to_owned(),
        "pass".to_owned(),
        "step".to_owned(),
    ];
    let mut lines = vec![header.to_vec()];
    for Row { cell, summary } in rows {
        let mut line = vec![
            percent(cell.stable_rate),
            percent(cell.share),
            format!("{}", cell.requests_per_second),
            format!("{}×", cell.regression),
            percent(summary.threshold_fail_rate),
            percent(summary.fixed_fail_rate),
        ];
        for judge in [&summary.coarse, &summary.fine] {
            line.extend([
                percent(judge.fail_rate),
                seconds(judge.median_seconds),
                seconds(judge.p90_seconds),
                percent(judge.pass_rate),
                seconds(Some(judge.median_step_seconds)),
            ]);
        }
        lines.push(line);
    }
    let widths: Vec<usize> = (0..header.len())
        .map(|column| {
            lines
                .iter()
                .map(|line| line[column].chars().count())
                .max()
                .unwrap_or(0)
        })
        .collect();
    let mut out = String::new();
    for line in &lines {
        let cells: Vec<String> = line
            .iter()
            .zip(&widths)
            .map(|(text, width)| format!("{text:>width$}"))
            .collect();
        let _ = writeln!(out, "{}", cells.join("  ").trim_end());
    }
    out
}

/// The figures issue 14 sets targets for.
pub fn targets(rows: &[Row], step: &Step) -> String {
    let mut out = String::new();
    let healthy = rows.iter().filter(|row| row.cell.regression == 1.0);
    let worst = |pick: fn(&Row) -> f64| healthy.clone().map(pick).fold(0.0_f64, f64::max);
    let _ = writeln!(
        out,
        "Worst false rollback over the healthy cells: thresholds {}, fixed {}, sequential {}-s looks {}, {}-s looks {} (target <= {}).",
        percent(worst(|row| row.summary.threshold_fail_rate)),
        percent(worst(|row| row.summary.fixed_fail_rate)),
        step.coarse_seconds,
        percent(worst(|row| row.summary.coarse.fail_rate)),
        simulate::SLICE_SECONDS,
        percent(worst(|row| row.summary.fine.fail_rate)),
        percent(step.judge.alpha),
    );
    let target = |regression: f64| {
        rows.iter().find(|row| {
            row.cell.requests_per_second == 1000.0
                && row.cell.share == 0.05
                && row.cell.stable_rate == 0.005
                && row.cell.regression == regression
        })
    };
    if let (Some(regressed), Some(healthy)) = (target(2.0), target(1.0)) {
        let coarse = &regressed.summary.coarse;
        let _ = writeln!(
            out,
            "Target cell (1000 req/s, 5 % share, 0.5 % stable errors, 2×, {}-s looks): detected {} (target >= 99 %), median {} against the bake's {} s (target <= 1/3: {} s); healthy median step time under advanceEarly {} (target <= {} s).",
            step.coarse_seconds,
            percent(coarse.fail_rate),
            seconds(coarse.median_seconds),
            step.bake_seconds,
            step.bake_seconds / 3,
            seconds(Some(healthy.summary.coarse.median_step_seconds)),
            step.bake_seconds / 2,
        );
        let fine = &regressed.summary.fine;
        let _ = writeln!(
            out,
            "Same cell with {}-s looks: detected {}, median {}, p90 {}; healthy median step time {}.",
            simulate::SLICE_SECONDS,
            percent(fine.fail_rate),
            seconds(fine.median_seconds),
            seconds(fine.p90_seconds),
            seconds(Some(healthy.summary.fine.median_step_seconds)),
        );
    }
    let earlier: Vec<f64> = rows
        .iter()
        .filter_map(|row| {
            let coarse = row.summary.coarse.median_seconds? as f64;
            let fine = row.summary.fine.median_seconds? as f64;
            (row.cell.regression > 1.0).then_some(fine / coarse)
        })
        .collect();
    if !earlier.is_empty() {
        let mean = earlier.iter().sum::<f64>() / earlier.len() as f64;
        let _ = writeln!(
            out,
            "{}-s looks against {}-s looks, over the {} regressed cells both detect by the median: median time to detect {:.0} % of the coarse one on average.",
            simulate::SLICE_SECONDS,
            step.coarse_seconds,
            earlier.len(),
            100.0 * mean
        );
    }
    out
}
