//! The scenario catalogue: what each demo deploys, how it starts, what it does to the world
//! mid-deployment and what its outcome must be.

use std::time::Duration;

use sluice_core::Status;

use crate::environment::DeploymentRequest;
use crate::traffic::{TrafficProfile, VersionProfile};

/// How the deployment is started.
#[derive(Debug, Clone, PartialEq)]
pub enum Start {
    /// StartExecution with the request, named after the service, version and scenario.
    StartExecution,
    /// As a release does: the service's CONFIG item (the request without a version) is
    /// registered with a `release` section naming `repository`, then a CodeCommit tag event
    /// for the request's version is delivered to the real `release-trigger` function, which
    /// starts the execution (named by service and version).
    ReleaseTag { repository: &'static str },
    /// Release after release on one service, each tag through `release-trigger`
    /// ([`super::train_releases`]); the expectation is the last release's.
    ReleaseTrain { repository: &'static str },
}

/// When a cue acts, in terms of the deployment's history.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum When {
    /// Step `n` (0-based) went live.
    StepLive(usize),
    /// Step `n` was analysed.
    Analyzed(usize),
}

/// Something a scenario does to the world mid-deployment.
#[derive(Debug, Clone, PartialEq)]
pub enum Action {
    SetGreen(VersionProfile),
    SetBlue(VersionProfile),
    /// Forces the environment's alarm into ALARM (its notification goes to the alarm topic).
    ForceAlarm {
        reason: String,
    },
}

#[derive(Debug, Clone, PartialEq)]
pub struct Cue {
    pub when: When,
    pub action: Action,
}

/// What a scenario must end in.
#[derive(Debug, Clone, PartialEq)]
pub struct Expectation {
    pub status: Status,
    /// Green's share of the traffic at the end, in percent.
    pub canary_percent: f64,
    /// `SUCCEEDED`, `FAILED`, `ABORTED`.
    pub execution_status: &'static str,
    /// The error the execution ended with: DescribeExecution's, or else that of its
    /// `ExecutionFailed`/`ExecutionAborted` event. A stopped (ABORTED) execution may have
    /// none: moto drops the error and cause StopExecution gives.
    pub execution_error: Option<&'static str>,
    /// The environment's alarm took the deployment over: the record's controller is the
    /// alarm, its outcome names the alarm, and its rollback says how long the alarm took to
    /// reach traffic.
    pub taken_over_by_alarm: bool,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Scenario {
    pub name: &'static str,
    pub about: &'static str,
    pub traffic: TrafficProfile,
    pub request: DeploymentRequest,
    pub start: Start,
    pub cues: Vec<Cue>,
    pub expect: Expectation,
    /// The whole deployment must end within this.
    pub timeout: Duration,
}

/// The version every demo deploys.
pub const DEMO_VERSION: &str = "v2.0.0";

/// Green as healthy as blue: promoted step by step to 100 %.
pub fn healthy() -> Scenario {
    Scenario {
        name: "healthy",
        about: "green is as healthy as blue: every analysis passes and it is promoted to 100 %",
        traffic: TrafficProfile {
            blue: VersionProfile::healthy(),
            green: VersionProfile::new(1000.0, 0.3, 130.0),
        },
        request: DeploymentRequest::new(DEMO_VERSION),
        start: Start::StartExecution,
        cues: Vec::new(),
        expect: Expectation {
            status: Status::Promoted,
            canary_percent: 100.0,
            execution_status: "SUCCEEDED",
            execution_error: None,
            taken_over_by_alarm: false,
        },
        timeout: Duration::from_secs(120),
    }
}

/// Green fails 10 % of its requests: the first analysis fails and traffic goes back to blue.
pub fn bad_canary() -> Scenario {
    Scenario {
        name: "bad-canary",
        about: "green fails 10 % of its requests: the first step's analysis fails and the deployment rolls back to 100 % blue",
        traffic: TrafficProfile {
            blue: VersionProfile::healthy(),
            green: VersionProfile::healthy().with_errors(10.0),
        },
        request: DeploymentRequest::new(DEMO_VERSION),
        start: Start::StartExecution,
        cues: Vec::new(),
        expect: Expectation {
            status: Status::RolledBack,
            canary_percent: 0.0,
            execution_status: "FAILED",
            execution_error: Some("Sluice.RolledBack"),
            taken_over_by_alarm: false,
        },
        timeout: Duration::from_secs(120),
    }
}

/// Green turns bad once step 2 (25 %) is live; the runner's alarm evaluator sees green's
/// errors cross the alarm's threshold and notifies the alarm topic, and `emergency-rollback`
/// takes the deployment over during step 2's bake: 100 % blue, the execution stopped.
pub fn alarm() -> Scenario {
    Scenario {
        name: "alarm",
        about: "green starts failing half its requests once step 2 (25 %) is live: the alarm on green's errors fires and the emergency rollback takes over mid-bake (100 % blue, execution ABORTED)",
        traffic: TrafficProfile {
            blue: VersionProfile::healthy(),
            green: VersionProfile::new(1000.0, 0.3, 130.0),
        },
        // Bakes long enough that the alarm (a couple of seconds of 125 errors/s against more
        // than 200 in 10 s) fires well before step 2's analysis would catch the errors: this
        // scenario shows the alarm path, not the analysis.
        request: DeploymentRequest::new(DEMO_VERSION).bake_seconds(8),
        start: Start::StartExecution,
        cues: vec![Cue {
            when: When::StepLive(1),
            action: Action::SetGreen(VersionProfile::healthy().with_errors(50.0)),
        }],
        expect: Expectation {
            status: Status::RolledBack,
            canary_percent: 0.0,
            execution_status: "ABORTED",
            execution_error: Some("Sluice.TakenOver"),
            taken_over_by_alarm: true,
        },
        timeout: Duration::from_secs(120),
    }
}

/// The repository whose tags release the demo's service.
pub const DEMO_REPOSITORY: &str = "checkout-api";

/// A release tag starts the deployment: CodeCommit's tag event through `release-trigger`.
pub fn release_tag() -> Scenario {
    Scenario {
        name: "release-tag",
        about: "a CodeCommit tag v2.0.0 on the service's repository goes through release-trigger, which starts the deployment from the service's CONFIG; green is healthy and promoted to 100 %",
        start: Start::ReleaseTag {
            repository: DEMO_REPOSITORY,
        },
        ..healthy()
    }
}

/// Four tags on one service: promoted (canary green), bad and rolled back (canary blue),
/// promoted (canary blue), and one tagged while the third runs, queued, then promoted (canary
/// green).
pub fn release_train() -> Scenario {
    Scenario {
        name: "release-train",
        about: "four tags through release-trigger on one service: v2.0.0 promoted (canary green), v2.1.0 bad and rolled back (canary blue), v2.2.0 promoted (canary blue), v2.3.0 tagged while v2.2.0 runs, queued, then promoted (canary green)",
        traffic: TrafficProfile::healthy(),
        start: Start::ReleaseTrain {
            repository: DEMO_REPOSITORY,
        },
        // The last release's outcome; each release's is in `train_releases`.
        expect: Expectation {
            status: Status::Promoted,
            canary_percent: 100.0,
            execution_status: "SUCCEEDED",
            execution_error: None,
            taken_over_by_alarm: false,
        },
        timeout: Duration::from_secs(300),
        ..healthy()
    }
}

/// Every scenario `demo --scenario` knows, in the order `scripts/demo` runs them.
pub fn scenarios() -> Vec<Scenario> {
    vec![
        healthy(),
        bad_canary(),
        alarm(),
        release_tag(),
        release_train(),
    ]
}

/// The EventBridge event CodeCommit sends when a tag is created (the shape of
pub fn scenario(name: &str) -> Option<Scenario> {
    scenarios().into_iter().find(|s| s.name == name)
}

/// The execution name (and deployment id) of a scenario's deployment: deterministic, so the
/// same demo started twice on one environment is one execution.
pub fn execution_name(service: &str, version: &str, scenario: &str) -> String {
    let raw = format!("{service}-{version}-{scenario}");
    raw.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '-'
            }
        })
        .take(80)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeSet;

    #[test]
    fn execution_names_are_valid_deployment_ids() {
        let name = execution_name("checkout-api", "v2.0.0", "bad-canary");
        assert_eq!(name, "checkout-api-v2-0-0-bad-canary");
        assert!(sluice_core::DeploymentId::parse(name).is_ok());
    }

    #[test]
    fn scenarios_have_unique_names_and_valid_requests() {
        let names: BTreeSet<&str> = scenarios().iter().map(|s| s.name).collect();
        assert_eq!(names.len(), scenarios().len());
        for name in [
            "healthy",
            "bad-canary",
            "alarm",
            "release-tag",
            "release-train",
        ] {
            assert!(scenario(name).is_some(), "{name}");
        }
        assert!(scenario("nope").is_none());
    }

    #[test]
    fn the_alarm_scenario_turns_green_bad_after_its_first_step_and_expects_the_takeover() {
        let alarm = alarm();
        assert_eq!(alarm.cues.len(), 1);
        assert_eq!(alarm.cues[0].when, When::StepLive(1));
        let Action::SetGreen(bad) = alarm.cues[0].action else {
            panic!("{:?}", alarm.cues[0].action);
        };
        // At step 2 (25 % of 1000 requests a second), more errors than the environment's
        // alarm allows (200 in 10 s) within 2 s: the alarm fires well inside the bake.
        let errors_per_second =
            bad.requests_per_second * alarm.request.steps[1] / 100.0 * bad.error_percent / 100.0;
        let settings = crate::AlarmSettings::default();
        assert!(
            2.0 * errors_per_second > settings.threshold,
            "{errors_per_second}"
        );
        assert!(
            alarm.request.bake_seconds >= 2 * 3,
            "{}",
            alarm.request.bake_seconds
        );
        assert_eq!(alarm.expect.execution_status, "ABORTED");
        assert!(alarm.expect.taken_over_by_alarm);
    }
}
