//! One deployment's state, the transitions it may take, and its history events.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use thiserror::Error;

use crate::analysis::{AnalysisCounters, Decision, MetricResult, OperatorRequests, Verdict};
use crate::metrics::TimeWindow;
use crate::plan::{StepPlan, WeightPair};
use crate::slots::SlotRoles;
use crate::spec::{DeploymentSpec, SpecWarning};

/// A deployment's id: its Step Functions execution name, so a retried execution finds its own
/// record and the console shows the same name. 1–80 letters, digits, '-' or '_'.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct DeploymentId(String);

#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error(
    "deployment id {0:?} must be 1–80 letters, digits, '-' or '_' (a Step Functions execution name)"
)]
pub struct InvalidDeploymentId(pub String);

impl DeploymentId {
    pub fn parse(id: impl Into<String>) -> Result<Self, InvalidDeploymentId> {
        let id = id.into();
        let valid = !id.is_empty()
            && id.len() <= 80
            && id
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
        if valid {
            Ok(DeploymentId(id))
        } else {
            Err(InvalidDeploymentId(id))
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for DeploymentId {
    type Error = InvalidDeploymentId;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        DeploymentId::parse(value)
    }
}

impl From<DeploymentId> for String {
    fn from(id: DeploymentId) -> Self {
        id.0
    }
}

impl std::fmt::Display for DeploymentId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Status {
    Pending,
    Validating,
    /// Weights of a step are being changed and synced.
    Shifting,
    /// A step is live and collecting data.
    Baking,
    Analyzing,
    /// Held for an operator: a pause, an approval gate, or an inconclusive analysis.
    AwaitingApproval,
    Promoted,
    RollingBack,
    RolledBack,
    Failed,
}

impl Status {
    pub const ALL: [Status; 10] = [
        Status::Pending,
        Status::Validating,
        Status::Shifting,
        Status::Baking,
        Status::Analyzing,
        Status::AwaitingApproval,
        Status::Promoted,
        Status::RollingBack,
        Status::RolledBack,
        Status::Failed,
    ];

    pub fn is_terminal(&self) -> bool {
        matches!(self, Status::Promoted | Status::RolledBack | Status::Failed)
    }

    /// Whether a deployment in this status may move to `next`. Staying in a non-terminal
    /// status is allowed (a step records its change id while still shifting); nothing leaves a
    /// terminal status. Any live status may start a rollback or fail.
    pub fn can_become(&self, next: Status) -> bool {
        use Status::*;
        if self.is_terminal() {
            return false;
        }
        if *self == next {
            return true;
        }
        match (self, next) {
            (_, RollingBack) => *self != Pending,
            (_, Failed) => true,
            (Pending, Validating) => true,
            (Validating, Shifting) => true,
            (Shifting, Baking) => true,
            (Baking, Analyzing | Shifting | AwaitingApproval) => true,
            // An operator's forced promotion skips what is left.
            (Shifting | Baking, Promoted) => true,
            (Analyzing, Shifting | Baking | AwaitingApproval | Promoted) => true,
            (AwaitingApproval, Shifting | Baking | Analyzing | Promoted) => true,
            (RollingBack, RolledBack) => true,
            _ => false,
        }
    }
}

impl std::fmt::Display for Status {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let text = serde_json::to_value(self)
            .ok()
            .and_then(|v| v.as_str().map(str::to_string))
            .unwrap_or_default();
        f.write_str(&text)
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum TransitionError {
    #[error("deployment {id} cannot go from {from} to {to}")]
    Illegal {
        id: DeploymentId,
        from: Status,
        to: Status,
    },
    #[error("deployment {id} has ended ({status}); it cannot change any more")]
    Ended { id: DeploymentId, status: Status },
}

/// Who drives the deployment now. The state machine does until an emergency rollback or an
/// operator's abort takes it over; from then on every state-machine step is fenced off.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "by", rename_all = "kebab-case")]
pub enum Controller {
    StateMachine,
    Alarm {
        alarm: String,
    },
    Operator {
        who: String,
    },
    /// The reconciler: the execution that drove the deployment ended without ending it.
    Reconciler,
}

/// Where a takeover drives a deployment: all traffic back to stable (an alarm, an abort, a
/// reject), or all traffic to the canary (an operator's forced promotion). Takeovers with the
/// same target finish each other's work; one with another target is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TakeoverTarget {
    Stable,
    Canary,
}

impl TakeoverTarget {
    /// The status a takeover to this target must be able to reach from where it finds the
    /// deployment: a rollback starts rolling back, a forced promotion promotes.
    pub fn next_status(self) -> Status {
        match self {
            TakeoverTarget::Stable => Status::RollingBack,
            TakeoverTarget::Canary => Status::Promoted,
        }
    }

    pub fn weights(self) -> WeightPair {
        match self {
            TakeoverTarget::Stable => WeightPair::ALL_STABLE,
            TakeoverTarget::Canary => WeightPair::ALL_CANARY,
        }
    }

    pub fn describe(self) -> &'static str {
        match self {
            TakeoverTarget::Stable => "a rollback to stable",
            TakeoverTarget::Canary => "a forced promotion to the canary",
        }
    }
}

impl Controller {
    pub fn describe(&self) -> String {
        match self {
            Controller::StateMachine => "the state machine".into(),
            Controller::Alarm { alarm } => format!("alarm {alarm}"),
            Controller::Operator { who } => format!("operator {who}"),
            Controller::Reconciler => "the reconciler".into(),
        }
    }
}

/// Where traffic was last put, and when that step went live.
#[serde_with::skip_serializing_none]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TrafficState {
    pub asked_percent: f64,
    pub weights: WeightPair,
    pub canary_share: f64,
    pub change_id: String,
    pub changed_at: DateTime<Utc>,
    pub live_at: Option<DateTime<Utc>>,
}

impl TrafficState {
    /// Every request on the canary slot since `at`, after change `change_id`.
    pub fn all_canary(change_id: String, at: DateTime<Utc>) -> TrafficState {
        TrafficState {
            asked_percent: 100.0,
            weights: WeightPair::ALL_CANARY,
            canary_share: 100.0,
            change_id,
            changed_at: at,
            live_at: Some(at),
        }
    }
}

/// How a deployment ended.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Outcome {
    pub reason: String,
    pub at: DateTime<Utc>,
}

/// One deployment's record. `revision` is its version number: every write is conditional on
/// it and bumps it, which is also what fences the state machine off after a takeover.
#[serde_with::skip_serializing_none]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Deployment {
    pub id: DeploymentId,
    pub service: String,
    pub started_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub execution_arn: Option<String>,
    pub spec: DeploymentSpec,
    pub plan: StepPlan,
    /// Which slot is stable and which is the canary, decided at Validate from the live weights.
    #[serde(default)]
    pub roles: SlotRoles,
    pub status: Status,
    /// Index into the plan of the step in progress.
    pub step: Option<usize>,
    pub traffic: Option<TrafficState>,
    #[serde(default)]
    pub counters: AnalysisCounters,
    pub controller: Controller,
    pub outcome: Option<Outcome>,
    /// Task token of the approval the state machine waits on, while it waits.
    pub task_token: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub warnings: Vec<SpecWarning>,
    /// The latest analysis, so a retried analyze returns its decision instead of judging
    /// (and counting) twice.
    pub last_analysis: Option<AnalysisMark>,
    /// Pause and promotion requests, applied at the next analysis.
    #[serde(default)]
    pub requests: OperatorRequests,
    /// The task token an approval answered: the approval is recorded before its answer is
    /// sent, so a retried `approve` can send the answer again. Cleared by the next wait.
    pub approved_token: Option<String>,
    pub revision: u64,
}

/// Which analysis was last done and what it decided.
#[serde_with::skip_serializing_none]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AnalysisMark {
    pub step: usize,
    /// When the analysis was due (the end of the bake it judged).
    pub due_at: DateTime<Utc>,
    pub verdict: Verdict,
    pub decision: Decision,
    /// The decision an approval carries out, when the analysis held one back.
    pub held: Option<Decision>,
}

impl Deployment {
    /// A new deployment, validating, at revision 0: it is never stored as such, its first
    /// transition (to shifting) is the write that creates it at revision 1.
    pub fn new(
        id: DeploymentId,
        spec: DeploymentSpec,
        execution_arn: Option<String>,
        now: DateTime<Utc>,
    ) -> Deployment {
        let plan = spec.plan();
        let warnings = spec.sample_size_warnings();
        Deployment {
            id,
            service: spec.service.clone(),
            started_at: now,
            updated_at: now,
            execution_arn,
            spec,
            plan,
            roles: SlotRoles::default(),
            status: Status::Validating,
            step: None,
            traffic: None,
            counters: AnalysisCounters::default(),
            controller: Controller::StateMachine,
            outcome: None,
            task_token: None,
            warnings,
            last_analysis: None,
            requests: OperatorRequests::default(),
            approved_token: None,
            revision: 0,
        }
    }

    /// Moves to `next` (or stays, for a non-terminal status), bumps the revision and returns
    /// the history event to store in the same write.
    pub fn transition(
        &mut self,
        next: Status,
        now: DateTime<Utc>,
        event: EventKind,
    ) -> Result<HistoryEvent, TransitionError> {
        if self.status.is_terminal() {
            return Err(TransitionError::Ended {
                id: self.id.clone(),
                status: self.status,
            });
        }
        if !self.status.can_become(next) {
            return Err(TransitionError::Illegal {
                id: self.id.clone(),
                from: self.status,
                to: next,
            });
        }
        self.status = next;
        self.updated_at = now;
        self.revision += 1;
        Ok(HistoryEvent {
            seq: self.revision,
            at: now,
            kind: event,
        })
    }

    /// Whether the state machine may still act on this deployment.
    pub fn is_driven_by_state_machine(&self) -> bool {
        self.controller == Controller::StateMachine && !self.status.is_terminal()
    }

    /// The target of the takeover that drives the deployment, `None` while the state machine
    /// does. A rollback's fence moves the status to rolling-back at once; a forced promotion's
    /// keeps the status until the traffic moved, so any other status under a takeover is a
    /// promotion in progress.
    pub fn takeover_target(&self) -> Option<TakeoverTarget> {
        if self.controller == Controller::StateMachine {
            return None;
        }
        Some(match self.status {
            Status::RollingBack | Status::RolledBack | Status::Failed => TakeoverTarget::Stable,
            _ => TakeoverTarget::Canary,
        })
    }

    /// The weights the record says Route 53 carries once nobody is mid-change (the safety
    /// invariant): stable 100 % unless promoted. `None` while a controller is mid-change (a
    /// state-machine step, a forced promotion that has not moved the traffic yet), whose own
    /// writes and checks decide.
    pub fn settled_weights(&self) -> Option<WeightPair> {
        match self.status {
            Status::Promoted => Some(WeightPair::ALL_CANARY),
            Status::RollingBack | Status::RolledBack | Status::Failed => {
                Some(WeightPair::ALL_STABLE)
            }
            _ => None,
        }
    }

    pub fn current_canary_share(&self) -> f64 {
        self.traffic.as_ref().map(|t| t.canary_share).unwrap_or(0.0)
    }
}

/// One entry of a deployment's append-only history. `seq` is the revision the write produced,
/// so history and record cannot disagree.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct HistoryEvent {
    pub seq: u64,
    pub at: DateTime<Utc>,
    #[serde(flatten)]
    pub kind: EventKind,
}

#[serde_with::skip_serializing_none]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "kebab-case")]
pub enum EventKind {
    #[serde(rename_all = "camelCase")]
    Started {
        version: String,
        steps: Vec<f64>,
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        warnings: Vec<SpecWarning>,
    },
    #[serde(rename_all = "camelCase")]
    ShiftStarted {
        step: usize,
        asked_percent: f64,
        weights: WeightPair,
    },
    #[serde(rename_all = "camelCase")]
    TrafficShifted {
        step: usize,
        asked_percent: f64,
        weights: WeightPair,
        canary_share: f64,
        change_id: String,
    },
    #[serde(rename_all = "camelCase")]
    StepLive { step: usize, live_at: DateTime<Utc> },
    #[serde(rename_all = "camelCase")]
    Analyzed {
        step: usize,
        window: TimeWindow,
        verdict: Verdict,
        metrics: Vec<MetricResult>,
        decision: Decision,
    },
    #[serde(rename_all = "camelCase")]
    ApprovalRequested { step: usize, reason: String },
    #[serde(rename_all = "camelCase")]
    Approved { by: String, comment: Option<String> },
    /// An operator asked for a pause, a resume or an early promotion.
    #[serde(rename_all = "camelCase")]
    OperatorRequested { by: String, request: String },
    #[serde(rename_all = "camelCase")]
    RollbackStarted {
        reason: String,
        controller: Controller,
    },
    #[serde(rename_all = "camelCase")]
    RolledBack {
        reason: String,
        weights: WeightPair,
        change_id: String,
        /// From the alarm's state change to Route 53 accepting the change.
        alarm_to_traffic_ms: Option<i64>,
    },
    /// Finalize claimed the promotion: the canary goes to 100 % next. A takeover after this
    /// fences the finalize, which then restores what the record says.
    #[serde(rename_all = "camelCase")]
    PromotionStarted { weights: WeightPair },
    #[serde(rename_all = "camelCase")]
    Promoted {
        weights: WeightPair,
        change_id: String,
    },
    #[serde(rename_all = "camelCase")]
    Failed { error: String },
    /// A pre- or post-traffic hook answered `{"status": "Succeeded"}`.
    #[serde(rename_all = "camelCase")]
    HookPassed {
        hook: crate::spec::HookKind,
        function_arn: String,
        /// The hook's own `message`, when it gave one.
        message: Option<String>,
    },
    /// A hook failed, timed out or answered something else.
    #[serde(rename_all = "camelCase")]
    HookFailed {
        hook: crate::spec::HookKind,
        function_arn: String,
        /// What was wrong.
        problem: String,
        /// The reason the deployment ends with: the hook, its ARN and the problem.
        reason: String,
    },
    /// One step of a gradual rollback: the canary's share lowered on the way to 0.
    #[serde(rename_all = "camelCase")]
    RampedDown {
        asked_percent: f64,
        weights: WeightPair,
        canary_share: f64,
        change_id: String,
    },
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::spec::DeploymentSpec;
    use chrono::TimeZone;
    use proptest::prelude::*;

    fn at(seconds: i64) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 11, 1, 12, 0, 0).unwrap() + chrono::Duration::seconds(seconds)
    }

    fn deployment() -> Deployment {
        let spec: DeploymentSpec = serde_json::from_value(serde_json::json!({
            "service": "checkout-api", "version": "v2"
        }))
        .unwrap();
        Deployment::new(DeploymentId::parse("dep-1").unwrap(), spec, None, at(0))
    }

    fn failed() -> EventKind {
        EventKind::Failed { error: "x".into() }
    }

    #[test]
    fn ids_follow_execution_name_rules() {
        assert!(DeploymentId::parse("checkout-api_v2-4-0").is_ok());
        assert!(DeploymentId::parse("").is_err());
        assert!(DeploymentId::parse("has space").is_err());
        assert!(DeploymentId::parse("a".repeat(81)).is_err());
        assert!(serde_json::from_str::<DeploymentId>("\"bad/id\"").is_err());
        let err = DeploymentId::parse("bad/id").unwrap_err();
        assert!(err.to_string().contains("bad/id"));
    }

    #[test]
    fn a_healthy_path_is_legal_and_bumps_the_revision_each_write() {
        let mut d = deployment();
        let path = [
            Status::Shifting,
            Status::Shifting,
            Status::Baking,
            Status::Analyzing,
            Status::Shifting,
            Status::Baking,
            Status::Analyzing,
            Status::Baking,
            Status::Analyzing,
            Status::AwaitingApproval,
            Status::Promoted,
        ];
        for (i, next) in path.into_iter().enumerate() {
            let event = d.transition(next, at(i as i64), failed()).unwrap();
            assert_eq!(event.seq, i as u64 + 1);
            assert_eq!(d.revision, i as u64 + 1);
        }
        assert_eq!(d.updated_at, at(10));
    }

    #[test]
    fn illegal_transitions_are_typed_errors_and_change_nothing() {
        let mut d = deployment();
        let before = d.clone();
        let err = d.transition(Status::Promoted, at(1), failed()).unwrap_err();
        assert_eq!(
            err,
            TransitionError::Illegal {
                id: d.id.clone(),
                from: Status::Validating,
                to: Status::Promoted
            }
        );
        assert_eq!(d, before);
        assert!(!Status::Shifting.can_become(Status::Analyzing));
        assert!(!Status::Validating.can_become(Status::Promoted));
        assert!(!Status::RollingBack.can_become(Status::Promoted));
        assert!(!Status::RollingBack.can_become(Status::Shifting));
        assert!(!Status::Pending.can_become(Status::RollingBack));
    }

    #[test]
    fn rollback_path_ends_rolled_back_and_stays_there() {
        let mut d = deployment();
        d.transition(Status::Shifting, at(1), failed()).unwrap();
        d.transition(Status::RollingBack, at(2), failed()).unwrap();
        d.transition(Status::RolledBack, at(3), failed()).unwrap();
        let err = d
            .transition(Status::RolledBack, at(4), failed())
            .unwrap_err();
        assert_eq!(
            err,
            TransitionError::Ended {
                id: d.id.clone(),
                status: Status::RolledBack
            }
        );
        assert_eq!(d.revision, 3);
    }

    #[test]
    fn a_new_deployment_carries_its_plan_and_is_driven_by_the_state_machine() {
        let d = deployment();
        assert_eq!(d.plan.steps.len(), 5);
        assert_eq!(d.revision, 0);
        assert!(d.is_driven_by_state_machine());
        assert_eq!(d.current_canary_share(), 0.0);
        let mut taken = d.clone();
        taken.controller = Controller::Alarm { alarm: "a".into() };
        assert!(!taken.is_driven_by_state_machine());
    }

    #[test]
    fn records_and_events_round_trip_through_json() {
        let mut d = deployment();
        let event = d
            .transition(
                Status::Shifting,
                at(5),
                EventKind::TrafficShifted {
                    step: 0,
                    asked_percent: 1.0,
                    weights: WeightPair::for_percent(1.0),
                    canary_share: 1.0,
                    change_id: "C1".into(),
                },
            )
            .unwrap();
        let json = serde_json::to_value(&event).unwrap();
        assert_eq!(json["type"], "traffic-shifted");
        assert_eq!(json["changeId"], "C1");
        assert_eq!(serde_json::from_value::<HistoryEvent>(json).unwrap(), event);
        let json = serde_json::to_value(&d).unwrap();
        assert_eq!(json["status"], "shifting");
        assert_eq!(serde_json::from_value::<Deployment>(json).unwrap(), d);
        assert_eq!(Status::AwaitingApproval.to_string(), "awaiting-approval");
    }

    proptest! {
        #[test]
        fn terminal_states_stay_terminal(walk in proptest::collection::vec(0usize..10, 1..40)) {
            let mut d = deployment();
            let mut ended: Option<Status> = None;
            for (i, pick) in walk.into_iter().enumerate() {
                let next = Status::ALL[pick];
                let result = d.transition(next, at(i as i64), failed());
                if let Some(status) = ended {
                    prop_assert!(result.is_err());
                    prop_assert_eq!(d.status, status);
                }
                if d.status.is_terminal() { ended = Some(d.status); }
            }
        }

        #[test]
        fn only_allowed_transitions_happen(from in 0usize..10, to in 0usize..10) {
            let (from, to) = (Status::ALL[from], Status::ALL[to]);
            let mut d = deployment();
            d.status = from;
            let result = d.transition(to, at(1), failed());
            prop_assert_eq!(result.is_ok(), from.can_become(to));
            prop_assert_eq!(d.status, if result.is_ok() { to } else { from });
        }
    }
}
