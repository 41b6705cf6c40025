//! The release train: one service released again and again through `release-trigger`, as a
//! team does all day. Each release goes to the slot the last one left idle (the canary), a
//! promotion makes it the next release's stable slot, a rollback keeps the roles, and a tag
//! that arrives while a deployment runs is queued and starts when that one ends.

use std::io::Write;
use std::time::{Duration, Instant};

use sluice_core::ports::ServiceStates;
use sluice_core::service_state::ServiceState;
use sluice_core::{Deployment, Status};

use super::output::{line, secs};
use super::progress::{ProgressWatcher, describe_profile};
use super::release::{codecommit_tag_event, describe_trigger_answer, started_execution};
use super::report::DemoReport;
use super::scenarios::Scenario;
use super::{Followed, RELEASE_TRIGGER_FUNCTION, TagMidRun, follow, start_runner, trigger_keys};
use crate::error::{LocalError, Result};
use crate::router::InvocationOutcome;
use crate::runner::LocalRunner;
use crate::traffic::{Slot, VersionProfile};

/// One release of the train and what it must end in.
#[derive(Debug, Clone, PartialEq)]
pub struct TrainRelease {
    pub version: &'static str,
    /// How the version behaves once deployed to its slot.
    pub behaviour: VersionProfile,
    /// Tagged while the previous release's deployment runs (at its first step), so queued.
    pub tagged_while_previous_runs: bool,
    pub expect_status: Status,
    /// The slot the release must go to: the one the previous releases left idle.
    pub expect_canary: Slot,
}

/// v2.0.0 promoted (canary green), v2.1.0 bad and rolled back (canary blue), v2.2.0 promoted
/// (canary blue again: a rollback keeps the roles), v2.3.0 tagged while v2.2.0 runs, queued,
/// then promoted (canary green).
pub fn train_releases() -> Vec<TrainRelease> {
    let healthy = VersionProfile::new(1000.0, 0.3, 130.0);
    let release = |version, behaviour, expect_status, expect_canary| TrainRelease {
        version,
        behaviour,
        tagged_while_previous_runs: false,
        expect_status,
        expect_canary,
    };
    vec![
        release("v2.0.0", healthy, Status::Promoted, Slot::Green),
        release(
            "v2.1.0",
            VersionProfile::healthy().with_errors(10.0),
            Status::RolledBack,
            Slot::Blue,
        ),
        release("v2.2.0", healthy, Status::Promoted, Slot::Blue),
        TrainRelease {
            tagged_while_previous_runs: true,
            ..release("v2.3.0", healthy, Status::Promoted, Slot::Green)
        },
    ]
}

/// How one release of the train ended.
#[derive(Debug, Clone)]
struct TrainResult {
    version: &'static str,
    how: &'static str,
    deployment: Option<Deployment>,
    execution_status: String,
    /// Route 53 after it ended: blue's and green's weights; `None` when a queued release
    /// started at its end, whose Validate then read where the traffic was (its stable slot).
    weights: Option<(u8, u8)>,
    elapsed: Duration,
}

/// Runs the train on one fresh local runner; the report is the last release's, with every
/// release's mismatches.
pub(super) async fn run(
    scenario: &Scenario,
    repository: &'static str,
    out: &mut (impl Write + Send),
) -> Result<DemoReport> {
    let started = Instant::now();
    let runner = start_runner(scenario, out).await?;
    let env = runner.environment().clone();
    let config = scenario.request.service_config(&env, &[repository]);
    runner.put_service_config(&config).await?;
    line(
        out,
        format!(
            "CONFIG of {} with slots blue and green (metrics told apart by Version = the slot) and release.repositories = [{repository}]",
            env.service()
        ),
    );

    let releases = train_releases();
    let mut results = Vec::new();
    let mut mismatches = Vec::new();
    // The release a tag queued during the previous deployment: its execution name.
    let mut queued: Option<String> = None;
    // The slot a deployment's end left all traffic on, when a queued release started at once:
    // that release's Validate must have found it stable.
    let mut handed_over: Option<String> = None;
    let mut last = None;
    for (index, release) in releases.iter().enumerate() {
        line(out, String::new());
        let deployment_started = Instant::now();
        let (name, arn, how) = match queued.take() {
            Some(name) => {
                let arn = env.names.execution_arn(&name);
                let deployment = started_by_the_queue(&runner, &name).await?;
                if let Some(serving) = handed_over.take()
                    && deployment.roles.stable != serving
                {
                    mismatches.push(format!(
                        "{}: Validate found {} stable, but the last deployment left all traffic on {serving}",
                        release.version, deployment.roles.stable
                    ));
                }
                let slot = canary_slot(&deployment)?;
                runner.deploy(slot, release.version, release.behaviour);
                line(
                    out,
                    format!(
                        "{}: the queued {} started when the last deployment ended ({name}); {} deployed to slot {} ({})",
                        env.service(),
                        release.version,
                        release.version,
                        slot.name(),
                        describe_profile(release.behaviour)
                    ),
                );
                (name, arn, "queued, then started by the end of the last one")
            }
            None => {
                let slot = idle_slot(&runner).await?;
                runner.deploy(slot, release.version, release.behaviour);
                let event = codecommit_tag_event(repository, release.version, &event_id(index));
                let outcome = runner.invoke(RELEASE_TRIGGER_FUNCTION, &event).await;
                let (name, arn) = started_execution(&outcome)?;
                line(
                    out,
                    format!(
                        "{} deployed to the idle slot {} ({}); tag {} → {RELEASE_TRIGGER_FUNCTION}: {}",
                        release.version,
                        slot.name(),
                        describe_profile(release.behaviour),
                        release.version,
                        describe_trigger_answer(&outcome)
                    ),
                );
                (name, arn, "tag")
            }
        };
        let next_tag = releases
            .get(index + 1)
            .filter(|next| next.tagged_while_previous_runs)
            .map(|next| TagMidRun {
                step_live: 0,
                tag: next.version.to_string(),
                event: codecommit_tag_event(repository, next.version, &event_id(index + 1)),
            });
        let mut watcher = ProgressWatcher::new(deployment_started, Vec::new());
        let followed = follow(
            &runner,
            &name,
            &arn,
            &mut watcher,
            deployment_started + scenario.timeout,
            scenario.timeout,
            next_tag.as_ref(),
            out,
        )
        .await?;
        if let Some(tag) = &next_tag {
            match followed.tagged.as_ref().and_then(queued_name) {
                Some(name) => queued = Some(name),
                None => {
                    mismatches.push(format!(
                        "{} tagged while {} ran was not queued: {}",
                        tag.tag,
                        release.version,
                        followed
                            .tagged
                            .as_ref()
                            .map(describe_trigger_answer)
                            .unwrap_or_else(|| "never delivered".into())
                    ));
                }
            }
        }
        let next_started = queued.is_some();
        let result = settle(
            &runner,
            release,
            how,
            &followed,
            deployment_started,
            next_started,
        )
        .await?;
        if next_started {
            handed_over = result
                .deployment
                .as_ref()
                .map(|d| serving_slot(d).to_string());
        }
        mismatches.extend(release_mismatches(release, &result));
        line(out, format!("→ {}", describe_result(&result)));
        results.push(result);
        last = Some(followed);
    }

    let state = runner
        .store()
        .service_state(env.service())
        .await
        .map_err(|e| LocalError::Aws {
            operation: "GetItem",
            what: format!("state item of {}", env.service()),
            message: e.to_string(),
        })?;
    mismatches.extend(state_mismatches(&releases, state.as_ref()));
    let lock_released = runner.lock().await?.is_none();
    if !lock_released {
        mismatches.push("the service's lock is still held after the last release".into());
    }
    print_summary(out, scenario, &results, state.as_ref(), &mismatches);

    let Followed {
        execution,
        deployment,
        history,
        ..
    } = last.ok_or_else(|| LocalError::Trigger {
        function: RELEASE_TRIGGER_FUNCTION.into(),
        message: "the train has no release".into(),
    })?;
    let report = DemoReport {
        scenario: scenario.name,
        execution,
        deployment,
        history,
        weights: runner.weights().await?,
        lock_released,
        trigger_keys: trigger_keys(&runner).await?,
        mismatches,
        elapsed: started.elapsed(),
        deployment_elapsed: results.iter().map(|r| r.elapsed).sum(),
    };
    runner.shutdown().await;
    Ok(report)
}

fn event_id(index: usize) -> String {
    chrono::Utc::now()
        .format(&format!("train-{index}-%Y%m%d-%H%M%S%.3f"))
        .to_string()
}

/// The slot at weight 0, where the next version is deployed before its tag.
async fn idle_slot(runner: &LocalRunner) -> Result<Slot> {
    // The runner's record set keeps the slots' first roles: blue as "stable", green as "canary".
    let weights = runner.weights().await?;
    Ok(if weights.canary() == 0 {
        Slot::Green
    } else {
        Slot::Blue
    })
}

fn canary_slot(deployment: &Deployment) -> Result<Slot> {
    Slot::named(&deployment.roles.canary).ok_or_else(|| LocalError::Trigger {
        function: RELEASE_TRIGGER_FUNCTION.into(),
        message: format!(
            "deployment {} has canary slot {:?}, not one of the demo's",
            deployment.id, deployment.roles.canary
        ),
    })
}

/// The execution name `release-trigger` answered a queued tag with.
fn queued_name(outcome: &InvocationOutcome) -> Option<String> {
    let InvocationOutcome::Succeeded { output } = outcome else {
        return None;
    };
    output
        .get("outcomes")?
        .as_array()?
        .iter()
        .find(|o| o.get("outcome").and_then(|v| v.as_str()) == Some("queued"))?
        .get("executionName")?
        .as_str()
        .map(str::to_string)
}

/// The queued release's deployment record, once the end of the last deployment started it.
async fn started_by_the_queue(runner: &LocalRunner, name: &str) -> Result<Deployment> {
    sluice_testkit::eventually(Duration::from_secs(30), || async {
        match runner.deployment(name).await {
            Ok(Some(deployment)) => Ok(deployment),
            other => Err(format!("{other:?}")),
        }
    })
    .await
    .map_err(|waited| LocalError::Trigger {
        function: RELEASE_TRIGGER_FUNCTION.into(),
        message: format!("the queued deployment {name} never started: {waited}"),
    })
}

async fn settle(
    runner: &LocalRunner,
    release: &TrainRelease,
    how: &'static str,
    followed: &Followed,
    started: Instant,
    next_started: bool,
) -> Result<TrainResult> {
    let weights = if next_started {
        None
    } else {
        let records = runner.records().await?;
        let weight = |r: &Option<sluice_core::ports::WeightedRecord>| {
            r.as_ref().map(|r| r.weight).unwrap_or_default()
        };
        Some((weight(&records.stable), weight(&records.canary)))
    };
    Ok(TrainResult {
        version: release.version,
        how,
        deployment: followed.deployment.clone(),
        execution_status: followed.execution.status.clone(),
        weights,
        elapsed: started.elapsed(),
    })
}

/// Where a release's end differs from what the train expects: its status, its slot, and
/// Route 53 carrying all traffic on the slot its end leaves stable.
fn release_mismatches(release: &TrainRelease, result: &TrainResult) -> Vec<String> {
    let mut problems = Vec::new();
    let Some(deployment) = &result.deployment else {
        return vec![format!("{}: no deployment record", release.version)];
    };
    if deployment.status != release.expect_status {
        problems.push(format!(
            "{}: {}, expected {}",
            release.version, deployment.status, release.expect_status
        ));
    }
    if deployment.roles.canary != release.expect_canary.name() {
        problems.push(format!(
            "{}: canary {}, expected {}",
            release.version,
            deployment.roles.canary,
            release.expect_canary.name()
        ));
    }
    let expected_execution = if release.expect_status == Status::Promoted {
        "SUCCEEDED"
    } else {
        "FAILED"
    };
    if result.execution_status != expected_execution {
        problems.push(format!(
            "{}: execution {}, expected {expected_execution}",
            release.version, result.execution_status
        ));
    }
    let serving = serving_slot(deployment);
    let Some((blue, green)) = result.weights else {
        // Checked when the queued release's Validate is read.
        return problems;
    };
    let all_on = match (blue, green) {
        (b, 0) if b > 0 => Some("blue"),
        (0, g) if g > 0 => Some("green"),
        _ => None,
    };
    if all_on != Some(serving) {
        problems.push(format!(
            "{}: Route 53 has blue {blue} / green {green}, expected all traffic on {serving}",
            release.version
        ));
    }
    problems
}

/// The slot an ended deployment left all traffic on.
fn serving_slot(deployment: &Deployment) -> &str {
    if deployment.status == Status::Promoted {
        &deployment.roles.canary
    } else {
        &deployment.roles.stable
    }
}

/// The state item after the train: the last promoted canary is stable, each slot last received
/// the last version deployed to it, nothing is queued.
fn state_mismatches(releases: &[TrainRelease], state: Option<&ServiceState>) -> Vec<String> {
    let Some(state) = state else {
        return vec!["the service has no state item".into()];
    };
    let mut problems = Vec::new();
    let last_promoted = releases
        .iter()
        .rev()
        .find(|r| r.expect_status == Status::Promoted);
    if let Some(promoted) = last_promoted
        && state.stable_slot.as_deref() != Some(promoted.expect_canary.name())
    {
        problems.push(format!(
            "state: stable slot {:?}, expected {}",
            state.stable_slot,
            promoted.expect_canary.name()
        ));
    }
    for slot in Slot::BOTH {
        let expected = releases
            .iter()
            .rev()
            .find(|r| r.expect_canary == slot)
            .map(|r| r.version.to_string());
        let found = state.slot_versions.get(slot.name()).cloned();
        if expected.is_some() && found != expected {
            problems.push(format!(
                "state: slot {} last received {found:?}, expected {expected:?}",
                slot.name()
            ));
        }
    }
    if let Some(queued) = &state.queued {
        problems.push(format!(
            "state: {} is still queued after the train",
            queued.version
        ));
    }
    problems
}

fn describe_result(result: &TrainResult) -> String {
    let Some(deployment) = &result.deployment else {
        return format!("{}: no deployment record", result.version);
    };
    let route53 = match result.weights {
        Some((blue, green)) => format!("Route 53 blue {blue} / green {green}"),
        None => format!(
            "Route 53 all on {} (as the queued release's Validate found it)",
            serving_slot(deployment)
        ),
    };
    format!(
        "{} {} · canary {} · {} · execution {} · {route53} · {:.1} s ({})",
        deployment.service,
        result.version,
        deployment.roles.canary,
        deployment.status,
        result.execution_status,
        secs(result.elapsed),
        result.how
    )
}

fn describe_state(state: &ServiceState) -> Vec<String> {
    let versions: Vec<String> = state
        .slot_versions
        .iter()
        .map(|(slot, version)| format!("{slot} {version}"))
        .collect();
    let mut lines = vec![format!(
        "state       SERVICE#{} / STATE: stable {} · last received: {} · revision {}",
        state.service,
        state.stable_slot.as_deref().unwrap_or("-"),
        versions.join(", "),
        state.revision
    )];
    if let Some(last) = &state.last_deployment {
        lines.push(format!(
            "            last deployment {} ({}, canary {}) {} at {}",
            last.id,
            last.version,
            last.canary_slot,
            last.status,
            last.ended_at.format("%H:%M:%S")
        ));
    }
    lines.push(format!(
        "            queued: {}",
        state
            .queued
            .as_ref()
            .map(|q| format!("{} ({})", q.version, q.execution_name))
            .unwrap_or_else(|| "nothing".into())
    ));
    lines
}

fn print_summary(
    out: &mut (impl Write + Send),
    scenario: &Scenario,
    results: &[TrainResult],
    state: Option<&ServiceState>,
    mismatches: &[String],
) {
    line(out, String::new());
    line(out, format!("── summary: {} ──", scenario.name));
    for result in results {
        line(out, format!("release     {}", describe_result(result)));
    }
    match state {
        Some(state) => {
            for text in describe_state(state) {
                line(out, text);
            }
        }
        None => line(out, "state       none".into()),
    }
    if mismatches.is_empty() {
        line(
            out,
            format!(
                "expected    {} releases, each on the slot the last one left idle, each ended as expected → as expected",
                results.len()
            ),
        );
    } else {
        line(out, "NOT AS EXPECTED:".into());
        for problem in mismatches {
            line(out, format!("  {problem}"));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_train_alternates_slots_on_promotion_and_keeps_them_on_rollback() {
        let releases = train_releases();
        let versions: Vec<&str> = releases.iter().map(|r| r.version).collect();
        assert_eq!(versions, ["v2.0.0", "v2.1.0", "v2.2.0", "v2.3.0"]);
        // Each release's canary is the slot the previous one left idle.
        let mut idle = Slot::Green;
        for release in &releases {
            assert_eq!(release.expect_canary, idle, "{}", release.version);
            if release.expect_status == Status::Promoted {
                idle = match idle {
                    Slot::Blue => Slot::Green,
                    Slot::Green => Slot::Blue,
                };
            }
        }
        assert!(releases[3].tagged_while_previous_runs);
        assert!(releases[..3].iter().all(|r| !r.tagged_while_previous_runs));
        assert!(releases[1].behaviour.error_percent > 2.0);
    }
}
