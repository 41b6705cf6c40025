//! The report's SVG charts: green's share of traffic with the steps and the numbered markers,
//! and each metric's values against its thresholds. Built with maud, so every text is escaped.

use chrono::{DateTime, Duration, Utc};
use maud::{Markup, html};
use sluice_core::analysis::Verdict;
use sluice_core::deployment::Status;
use sluice_core::timeline::{MarkerKind, MetricTrack, Timeline, text};

use super::style::{colour, outcome_class, outcome_title};
use crate::render;

/// Chart geometry (SVG user units; the SVG scales to the page width).
const WIDTH: f64 = 1080.0;
const LEFT: f64 = 64.0;
const RIGHT: f64 = 28.0;
const TRAFFIC_HEIGHT: f64 = 300.0;
const METRIC_HEIGHT: f64 = 190.0;
const TOP: f64 = 40.0;
const BOTTOM: f64 = 34.0;

/// A coordinate as the SVG gets it: one decimal.
fn n(value: f64) -> String {
    format!("{value:.1}")
}

/// Maps instants to x between the margins.
pub struct TimeScale {
    start: DateTime<Utc>,
    end: DateTime<Utc>,
}

impl TimeScale {
    pub fn new(timeline: &Timeline, now: DateTime<Utc>) -> TimeScale {
        let start = timeline.started_at;
        let mut end = timeline.ended_at.unwrap_or(now);
        for point in &timeline.traffic {
            end = end.max(point.at);
        }
        for marker in &timeline.markers {
            end = end.max(marker.at);
        }
        // A little room after the last event, so its marker is not on the edge.
        let span = (end - start).num_milliseconds().max(1000);
        let end = end + Duration::milliseconds(span / 40);
        TimeScale { start, end }
    }

    fn x(&self, at: DateTime<Utc>) -> f64 {
        let total = (self.end - self.start).num_milliseconds().max(1) as f64;
        let offset = (at - self.start).num_milliseconds() as f64;
        LEFT + (offset / total).clamp(0.0, 1.0) * (WIDTH - LEFT - RIGHT)
    }

    /// Tick offsets (seconds from the start) at a round interval, at most eight.
    fn ticks(&self) -> Vec<i64> {
        let total = (self.end - self.start).num_seconds().max(1);
        let step = [
            1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 14_400, 21_600, 43_200,
            86_400,
        ]
        .into_iter()
        .find(|s| total / s <= 8)
        .unwrap_or(86_400 * ((total / 86_400 / 8) + 1));
        (0..=total / step).map(|i| i * step).collect()
    }

    fn axis(&self, bottom: f64) -> Markup {
        html! {
            @for offset in self.ticks() {
                @let x = n(self.x(self.start + Duration::seconds(offset)));
                line x1=(x) y1=(n(bottom)) x2=(x) y2=(n(bottom + 5.0)) stroke="#94a3b8" {}
                text x=(x) y=(n(bottom + 18.0)) font-size="11" fill="#64748b" text-anchor="middle" {
                    "+" (tick_label(offset))
                }
            }
        }
    }
}

/// `30s`, `2m`, `1h30m`: a round offset as short as it gets.
pub fn tick_label(seconds: i64) -> String {
    match seconds {
        s if s < 60 => format!("{s}s"),
        s if s % 3600 == 0 => format!("{}h", s / 3600),
        s if s % 60 == 0 && s < 3600 => format!("{}m", s / 60),
        s if s % 60 == 0 => format!("{}h{:02}m", s / 3600, (s % 3600) / 60),
        s => render::duration(Duration::seconds(s)),
    }
}

/// Round gridlines for a value axis: a step of 1, 2, 2.5 or 5 × 10^k, about four of them,
/// from `low` (rounded down) to above `high`.
pub fn nice_ticks(low: f64, high: f64) -> (f64, f64, f64) {
    let range = (high - low).max(f64::EPSILON);
    let raw = range / 4.0;
    let magnitude = 10f64.powf(raw.log10().floor());
    let step = [1.0, 2.0, 2.5, 5.0, 10.0]
        .into_iter()
        .map(|m| m * magnitude)
        .find(|s| *s >= raw)
        .unwrap_or(10.0 * magnitude);
    let bottom = (low / step).floor() * step;
    let top = (high / step).ceil() * step;
    (bottom, top, step)
}

/// Step bands behind a chart; labelled when `labels`.
fn step_bands(
    timeline: &Timeline,
    scale: &TimeScale,
    top: f64,
    bottom: f64,
    labels: bool,
) -> Markup {
    html! {
        @for (i, span) in timeline.steps.iter().enumerate() {
            @let x0 = scale.x(span.shifted_at);
            @let x1 = scale.x(span.until.unwrap_or(scale.end));
            @let fill = if i % 2 == 0 { "#f1f5f9" } else { "#e8eef6" };
            g class="step" data-step=(span.step + 1) {
                rect x=(n(x0)) y=(n(top)) width=(n((x1 - x0).max(0.5))) height=(n(bottom - top)) fill=(fill) {}
                @if let Some(live) = span.live_at {
                    @let xl = scale.x(live).min(x1);
                    rect x=(n(x0)) y=(n(top)) width=(n((xl - x0).max(0.0))) height=(n(bottom - top)) fill="url(#syncing)" {
                        title { "step " (span.step + 1) ": syncing, live at " (live.format("%H:%M:%S")) }
                    }
                }
                @if labels && x1 - x0 > 34.0 {
                    text x=(n((x0 + x1) / 2.0)) y=(n(top + 16.0)) font-size="12" font-weight="600" fill="#334155" text-anchor="middle" {
                        "step " (span.step + 1) " · " (render::percent(span.asked_percent))
                    }
                }
            }
        }
    }
}

/// An SVG of `height` with the hatch pattern of a syncing step.
fn svg(height: f64, label: &str, content: Markup) -> Markup {
    html! {
        svg viewBox={ "0 0 " (WIDTH) " " (height) } role="img" aria-label=(label) xmlns="http://www.w3.org/2000/svg" {
            defs {
                pattern id="syncing" width="8" height="8" patternUnits="userSpaceOnUse" patternTransform="rotate(45)" {
                    rect width="8" height="8" fill="#ffffff" fill-opacity="0.35" {}
                    line x1="0" y1="0" x2="0" y2="8" stroke="#94a3b8" stroke-width="2" stroke-opacity="0.35" {}
                }
            }
            (content)
        }
    }
}

pub fn traffic_chart(timeline: &Timeline, scale: &TimeScale) -> Markup {
    let height = TRAFFIC_HEIGHT;
    let (top, bottom) = (TOP, height - BOTTOM);
    let y = |share: f64| bottom - share.clamp(0.0, 100.0) / 100.0 * (bottom - top);
    // Green's share as a step function, filled down to 0.
    let mut path = format!("M{:.1},{:.1}", scale.x(scale.start), y(0.0));
    let mut line = String::new();
    let mut last = 0.0;
    for (i, point) in timeline.traffic.iter().enumerate() {
        let x = scale.x(point.at);
        let step = format!(
            " L{x:.1},{:.1} L{x:.1},{:.1}",
            y(last),
            y(point.canary_share)
        );
        if i == 0 {
            line = format!("M{x:.1},{:.1}", y(point.canary_share));
        } else {
            line.push_str(&step);
        }
        path.push_str(&step);
        last = point.canary_share;
    }
    let end_x = scale.x(timeline.ended_at.unwrap_or(scale.end));
    path.push_str(&format!(
        " L{end_x:.1},{:.1} L{end_x:.1},{:.1} Z",
        y(last),
        y(0.0)
    ));
    line.push_str(&format!(" L{end_x:.1},{:.1}", y(last)));
    let content = html! {
        // Blue under everything: what green does not get, blue does.
        rect x=(LEFT) y=(TOP) width=(n(WIDTH - LEFT - RIGHT)) height=(n(bottom - top)) fill="#dbeafe" {}
        (step_bands(timeline, scale, top, bottom, true))
        path class="share" d=(path) fill="#16a34a" fill-opacity="0.28" {}
        path d=(line) fill="none" stroke="#15803d" stroke-width="2.5" stroke-linejoin="round" {}
        @for share in [0.0, 25.0, 50.0, 75.0, 100.0] {
            @let yy = n(y(share));
            line x1=(LEFT) y1=(yy) x2=(n(WIDTH - RIGHT)) y2=(yy) stroke="#94a3b8" stroke-opacity="0.35" stroke-dasharray="2 4" {}
            text x=(n(LEFT - 8.0)) y=(n(y(share) + 4.0)) font-size="11" fill="#64748b" text-anchor="end" { (share) "%" }
        }
        // Each step's real share, written on its plateau.
        @for span in &timeline.steps {
            @let x0 = scale.x(span.shifted_at);
            @let x1 = scale.x(span.until.unwrap_or(scale.end));
            @if x1 - x0 > 60.0 {
                text x=(n((x0 + x1) / 2.0)) y=(n((y(span.canary_share) - 6.0).max(top + 30.0))) font-size="11" fill="#166534" text-anchor="middle" {
                    (render::percent(span.canary_share)) " canary (" (span.stable_weight) ":" (span.canary_weight) ")"
                }
            }
        }
        (markers(timeline, scale, top, bottom))
        (scale.axis(bottom))
        text x=(LEFT) y="16" font-size="12" fill="#64748b" {
            tspan fill="#15803d" font-weight="700" { "■" } " " (text::canary(&timeline.roles)) "  "
            tspan fill="#93c5fd" font-weight="700" { "■" } " " (text::stable(&timeline.roles))
        }
    };
    svg(height, "the canary's share of traffic over time", content)
}

/// Numbered markers: a line through the chart and a badge above it; the outcome as a flag.
fn markers(timeline: &Timeline, scale: &TimeScale, top: f64, bottom: f64) -> Markup {
    let mut badges = Vec::new();
    let mut last_x = f64::MIN;
    let mut row = 0;
    for (i, marker) in timeline.markers.iter().enumerate() {
        if marker.kind == MarkerKind::Started {
            continue;
        }
        let x = scale.x(marker.at);
        // Badges closer than their width stack downwards, three deep, then start over.
        row = if x - last_x < 22.0 { (row + 1) % 3 } else { 0 };
        last_x = x;
        badges.push((i + 1, marker, x, top - 12.0 + f64::from(row) * 23.0));
    }
    html! {
        @for (number, marker, x, badge_y) in badges {
            @let c = colour(marker.kind);
            g class={ "marker marker-" (marker.kind.as_str()) } data-kind=(marker.kind.as_str()) {
                title {
                    (number) ". " (marker.label)
                    @if !marker.detail.is_empty() { ": " (marker.detail) }
                }
                line x1=(n(x)) y1=(n(badge_y + 10.0)) x2=(n(x)) y2=(n(bottom)) stroke=(c) stroke-width="1.5" stroke-dasharray="4 3" {}
                circle cx=(n(x)) cy=(n(badge_y)) r="10" fill=(c) stroke="#fff" stroke-width="2" {}
                text x=(n(x)) y=(n(badge_y + 4.0)) font-size="11" font-weight="700" fill="#fff" text-anchor="middle" { (number) }
            }
        }
        @if let Some(end) = timeline.ended_at {
            @let x = scale.x(end);
            @let c = match timeline.status {
                Status::Promoted => "#16a34a",
                Status::RolledBack => "#dc2626",
                _ => "#7f1d1d",
            };
            @let text = outcome_title(timeline.status);
            @let w = 12.0 + 7.2 * text.chars().count() as f64;
            @let bx = (x - w).max(LEFT);
            g class={ "outcome outcome-" (outcome_class(timeline.status)) } {
                line x1=(n(x)) y1=(n(top)) x2=(n(x)) y2=(n(bottom)) stroke=(c) stroke-width="3" {}
                rect x=(n(bx)) y=(n(bottom - 30.0)) width=(n(w)) height="22" rx="6" fill=(c) {}
                text x=(n(bx + w / 2.0)) y=(n(bottom - 15.0)) font-size="12" font-weight="700" fill="#fff" text-anchor="middle" { (text) }
            }
        }
    }
}

pub fn metric_chart(track: &MetricTrack, timeline: &Timeline, scale: &TimeScale) -> Markup {
    let height = METRIC_HEIGHT;
    let (top, bottom) = (20.0, height - BOTTOM);
    let mut high: f64 = 0.0;
    let mut low: f64 = 0.0;
    for point in &track.points {
        for v in [point.value, point.baseline].into_iter().flatten() {
            high = high.max(v);
            low = low.min(v);
        }
        if let (Some(base), Some(allowed)) = (point.baseline, track.max_increase_over_baseline) {
            high = high.max(base + allowed);
        }
    }
    for t in [track.max, track.min].into_iter().flatten() {
        high = high.max(t);
        low = low.min(t);
    }
    if high <= low {
        high = low + 1.0;
    }
    // Room above the highest point for its label, then round gridlines.
    let (low, high, tick) = nice_ticks(low, high + (high - low) * 0.12);
    let y = |v: f64| bottom - (v - low) / (high - low) * (bottom - top);
    let mut gridlines = Vec::new();
    let mut v = low;
    while v <= high + tick / 2.0 {
        gridlines.push(v);
        v += tick;
    }
    // Blue's baseline first, under green's values.
    let baseline: Vec<(f64, f64)> = track
        .points
        .iter()
        .filter_map(|p| p.baseline.map(|b| (scale.x(p.at), y(b))))
        .collect();
    let green: Vec<(f64, f64)> = track
        .points
        .iter()
        .filter_map(|p| p.value.map(|v| (scale.x(p.at), y(v))))
        .collect();
    let points = |line: &[(f64, f64)]| -> String {
        let d: Vec<String> = line.iter().map(|(x, y)| format!("{x:.1},{y:.1}")).collect();
        d.join(" ")
    };
    let content = html! {
        rect x=(LEFT) y=(top) width=(n(WIDTH - LEFT - RIGHT)) height=(n(bottom - top)) fill="#f8fafc" {}
        (step_bands(timeline, scale, top, bottom, false))
        @for v in gridlines {
            @let yy = y(v);
            line x1=(LEFT) y1=(n(yy)) x2=(n(WIDTH - RIGHT)) y2=(n(yy)) stroke="#94a3b8" stroke-opacity="0.3" stroke-dasharray="2 4" {}
            text x=(n(LEFT - 8.0)) y=(n(yy + 4.0)) font-size="11" fill="#64748b" text-anchor="end" { (render::number(v)) }
        }
        @for (limit, name) in [(track.max, "max"), (track.min, "min")] {
            @if let Some(limit) = limit {
                @let yy = y(limit);
                g class="threshold" data-threshold=(name) {
                    line x1=(LEFT) y1=(n(yy)) x2=(n(WIDTH - RIGHT)) y2=(n(yy)) stroke="#dc2626" stroke-width="1.5" stroke-dasharray="7 4" {}
                    text x=(n(WIDTH - RIGHT - 4.0)) y=(n(yy - 5.0)) font-size="11" font-weight="600" fill="#dc2626" text-anchor="end" {
                        (name) " " (render::number(limit))
                    }
                }
            }
        }
        @if baseline.len() > 1 {
            polyline points=(points(&baseline)) fill="none" stroke="#2563eb" stroke-width="1.5" stroke-dasharray="3 3" {}
        }
        @for (x, yy) in &baseline {
            circle cx=(n(*x)) cy=(n(*yy)) r="4.5" fill="#fff" stroke="#2563eb" stroke-width="2" {}
        }
        @if green.len() > 1 {
            polyline points=(points(&green)) fill="none" stroke="#334155" stroke-width="2" {}
        }
        @for point in &track.points {
            @let x = n(scale.x(point.at));
            @let c = match point.verdict {
                Verdict::Pass => "#16a34a",
                Verdict::Fail => "#dc2626",
                Verdict::Inconclusive => "#94a3b8",
            };
            @let title = format!(
                "step {}: {}, {} samples, {}: {}",
                point.step + 1,
                render::measured(point.value, &track.unit),
                point.samples,
                point.verdict,
                point.reason
            );
            g class={ "point point-" (point.verdict) } data-verdict=(point.verdict) {
                title { (title) }
                @match point.value {
                    Some(v) => {
                        circle cx=(x) cy=(n(y(v))) r="6" fill=(c) stroke="#fff" stroke-width="2" {}
                        text x=(x) y=(n((y(v) - 11.0).max(top + 10.0))) font-size="11" font-weight="600" fill=(c) text-anchor="middle" { (render::number(v)) }
                    }
                    None => {
                        text x=(x) y=(n(bottom - 10.0)) font-size="14" font-weight="700" fill=(c) text-anchor="middle" { "×" }
                        text x=(x) y=(n(bottom - 24.0)) font-size="10" fill=(c) text-anchor="middle" { "no data" }
                    }
                }
            }
        }
        (scale.axis(bottom))
    };
    svg(height, &format!("{} at each analysis", track.name), content)
}
