//! One scenario run: the execution and the other controllers take turns port call by port call
//! as the generated actions say, faults and crashes land where they say, and the invariant is
//! checked at every quiescent point and, after everything still alive has finished (the
//! drain), at the end.

use std::future::Future;
use std::task::Poll;

use sluice_core::ports::{AlarmState, ExecutionStatus};
use sluice_testkit::memory::Fault;

use super::actors::{Actor, Kind, Step};
use super::check;
use super::execution::{Execution, Progress, describe};
use super::world::{ALARM, EXECUTION, Shape, World};

/// What happens next.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// The execution makes up to this many port calls.
    Run(u8),
    /// Controller `who` (0: the execution; else one of the others running, counted round)
    /// makes its next port call, which meets `fault`, if any.
    Call { who: u8, fault: Option<Fault> },
    /// Controller `who`'s running invocation dies before its next port call.
    Crash { who: u8 },
    /// A controller starts: the alarm's notification arrives, or an operator's command runs.
    Start(Kind),
    /// A controller runs to its end at once, no other call in between.
    Atomic(Kind),
    /// The alarm goes to ALARM but its notification is lost.
    AlarmUnheard,
    /// The alarm goes back to OK.
    AlarmClears,
    /// The oldest Route 53 change accepted late lands.
    LandLate,
    /// Hours pass (an operator takes their time).
    Hours(u8),
}

#[derive(Debug, Clone)]
pub struct Scenario {
    pub shape: Shape,
    pub actions: Vec<Action>,
    /// Whether a promotion while the alarm is in ALARM counts as a violation (the alarm
    /// re-check of issue 13 defect 6).
    pub alarm_blocks_promotion: bool,
}

/// How many polls the drain gives the execution before calling it stuck.
const DRAIN_POLLS: usize = 50_000;

pub struct Run {
    pub world: World,
    pub execution: Execution,
    actors: Vec<Actor>,
    started: usize,
    pub log: Vec<String>,
    /// The canary share the state machine's Rollback last wrote (it must never go up).
    rollback_share: Option<f64>,
    /// Whether the alarm was in ALARM when the running Finalize began.
    finalize_began_in_alarm: bool,
    alarm_blocks_promotion: bool,
    /// Whether the execution's end went to EventBridge's rule already.
    end_reported: bool,
}

/// Runs a future made only of in-memory calls to its end.
pub fn block_on<T>(future: impl Future<Output = T>) -> T {
    let mut future = std::pin::pin!(future);
    let mut context = std::task::Context::from_waker(std::task::Waker::noop());
    loop {
        if let Poll::Ready(value) = future.as_mut().poll(&mut context) {
            return value;
        }
    }
}

/// Runs a scenario; `Err` carries the violation and the run's log.
pub fn run(scenario: &Scenario) -> Result<(), String> {
    let world = World::new(scenario.shape);
    let execution = block_on(Execution::start(&world));
    let mut run = Run {
        alarm_blocks_promotion: scenario.alarm_blocks_promotion,
        world,
        execution,
        actors: Vec::new(),
        started: 0,
        log: Vec::new(),
        rollback_share: None,
        finalize_began_in_alarm: false,
        end_reported: false,
    };
    let result = run.play(&scenario.actions);
    result.map_err(|violation| {
        let mut report = format!("VIOLATION: {violation}\n  log:\n");
        for line in run.log.iter().chain(run.execution.trace.iter()) {
            report.push_str(&format!("    {line}\n"));
        }
        report
    })
}

impl Run {
    fn play(&mut self, actions: &[Action]) -> Result<(), String> {
        for (i, action) in actions.iter().enumerate() {
            self.act(i, *action)?;
            self.report_end(i.to_string());
            self.take_trace();
            self.observe()?;
            if self.is_quiescent() {
                check::quiescent(self)
                    .map_err(|v| format!("after action {i} ({action:?}): {v}"))?;
            }
        }
        let drained = self.drain();
        self.take_trace();
        drained?;
        check::at_rest(self).map_err(|v| format!("after the drain: {v}"))
    }

    fn act(&mut self, i: usize, action: Action) -> Result<(), String> {
        match action {
            Action::Run(calls) => {
                for _ in 0..calls {
                    if self.poll_execution() != Progress::Moved {
                        break;
                    }
                }
            }
            Action::Call { who, fault } => {
                let met = self.world.faults.met().len();
                if let Some(fault) = fault {
                    self.world.faults.fail_call(1, fault);
                }
                let calls = self.world.faults.calls();
                let who = match self.pick(who) {
                    None => {
                        self.poll_execution();
                        format!("execution ({})", self.execution.state)
                    }
                    Some(a) => {
                        let name = self.actors[a].name();
                        self.poll_actor(a)?;
                        name
                    }
                };
                if self.world.faults.calls() > calls {
                    let operation = self.world.faults.last_operation().unwrap_or("?");
                    self.log.push(format!("{i}: {who}: {operation}"));
                }
                self.world.faults.clear_planned();
                if let Some((_, operation, fault)) = self.world.faults.met().get(met) {
                    self.log.push(format!("{i}: {operation} meets {fault:?}"));
                }
            }
            Action::Crash { who } => match self.pick(who) {
                None => {
                    if self.execution.crash(&self.world) {
                        self.log
                            .push(format!("{i}: the execution's invocation crashed"));
                    }
                }
                Some(a) => {
                    let actor = &mut self.actors[a];
                    if actor.crash() {
                        self.log.push(format!("{i}: {} crashed", actor.name()));
                        if !actor.will_retry() {
                            self.actors.remove(a);
                        }
                    }
                }
            },
            Action::Start(kind) => {
                if kind == Kind::Alarm {
                    self.world.alarms.set(ALARM, AlarmState::Alarm);
                }
                self.started += 1;
                let actor = Actor::new(kind, self.started);
                self.log.push(format!("{i}: {} starts", actor.name()));
                self.actors.push(actor);
            }
            Action::Atomic(kind) => {
                self.act(i, Action::Start(kind))?;
                let a = self.actors.len() - 1;
                let id = self.actors[a].id;
                while self.actors.get(a).is_some_and(|actor| actor.id == id) {
                    self.poll_actor(a)?;
                }
            }
            Action::AlarmUnheard => {
                self.world.alarms.set(ALARM, AlarmState::Alarm);
                self.log
                    .push(format!("{i}: the alarm goes to ALARM, notification lost"));
            }
            Action::AlarmClears => {
                self.world.alarms.set(ALARM, AlarmState::Ok);
                // Defect 6's property is about an alarm in ALARM all along: once it cleared,
                // Finalize's one alarm check may rightly pass, and an alarm firing again after
                // that check is the notification's to stop (lost here by the scenario's choice).
                self.finalize_began_in_alarm = false;
                self.log.push(format!("{i}: the alarm clears"));
            }
            Action::Hours(hours) => {
                // Only a wait for an operator (or a dead execution) lets hours pass.
                let waiting = self.execution.token.is_some() && !self.execution.is_invoking();
                let until = self.world.now() + chrono::Duration::hours(i64::from(hours));
                let deadline = self.execution.token_deadline().filter(|d| *d <= until);
                if let (true, Some(deadline)) = (waiting, deadline) {
                    // Step Functions times the wait out: the execution goes on from there.
                    self.world.clock.set(deadline);
                    self.execution.time_out(&self.world);
                    self.log
                        .push(format!("{i}: the approval wait times out at {deadline}"));
                } else if waiting || !self.execution.is_running(&self.world) {
                    self.world.clock.advance(i64::from(hours) * 3600);
                    self.log.push(format!("{i}: {hours} h pass"));
                }
            }
            Action::LandLate => {
                if self.world.router.land_late() {
                    self.log.push(format!("{i}: a late Route 53 change lands"));
                }
            }
        }
        Ok(())
    }

    /// Moves the execution's trace into the log, in order with the actions.
    fn take_trace(&mut self) {
        for line in self.execution.trace.drain(..) {
            self.log.push(format!("   execution: {line}"));
        }
    }

    /// `None`: the execution; otherwise the index of one of the other controllers.
    fn pick(&self, who: u8) -> Option<usize> {
        let n = usize::from(who) % (self.actors.len() + 1);
        n.checked_sub(1)
    }

    fn poll_execution(&mut self) -> Progress {
        let state = self.execution.state.clone();
        if state == "Finalize" && !self.execution.is_invoking() {
            self.finalize_began_in_alarm = self.alarm_in_alarm();
        }
        // Rollback's own writes, as it issued them: another controller's earlier change that
        // lands late during the rollback is not the rollback raising the share (the invariant
        // check at rest judges where traffic ends).
        let issued = self.world.router.changes().len();
        let progress = self.execution.poll(&self.world);
        if state == "Rollback" {
            for weights in &self.world.router.changes()[issued..] {
                let share = f64::from(weights.canary())
                    / f64::from(u16::from(weights.canary()) + u16::from(weights.stable()));
                if let Some(last) = self.rollback_share
                    && share > last
                {
                    self.log.push(format!(
                        "the rollback raised the canary from {:.1} % to {:.1} %",
                        last * 100.0,
                        share * 100.0
                    ));
                    self.rollback_share = Some(f64::INFINITY);
                    return progress;
                }
                self.rollback_share = Some(share);
            }
        }
        progress
    }

    fn poll_actor(&mut self, a: usize) -> Result<(), String> {
        let Step::Finished(result) = self.actors[a].poll(&self.world) else {
            return Ok(());
        };
        let actor = &self.actors[a];
        let name = actor.name();
        self.log
            .push(format!("{name} finished: {}", describe(&result)));
        let unrecorded_answer =
            actor.kind == Kind::Approve && result.is_err() && actor.answered_success;
        if unrecorded_answer && !self.approval_recorded() {
            return Err(format!(
                "{name} answered the waiting task with success but did not record the approval: {}",
                describe(&result)
            ));
        }
        if result.is_ok() || !self.actors[a].will_retry() {
            self.actors.remove(a);
        }
        Ok(())
    }

    /// Whether the deployment's history holds an approval.
    fn approval_recorded(&self) -> bool {
        self.world.store.deployments().iter().any(|d| {
            self.world
                .store
                .events(&d.id)
                .iter()
                .any(|e| matches!(e.kind, sluice_core::deployment::EventKind::Approved { .. }))
        })
    }

    pub fn alarm_in_alarm(&self) -> bool {
        self.world.alarms.state_of(ALARM) == Some(AlarmState::Alarm)
    }

    /// No controller is mid-change: nothing running, nothing to be retried, no Route 53 change
    /// in flight.
    fn is_quiescent(&self) -> bool {
        !self.execution.is_invoking()
            && self
                .actors
                .iter()
                .all(|a| !a.is_running() && !a.will_retry())
            && self.world.router.late_count() == 0
    }

    /// Properties checked after every action, quiescent or not.
    fn observe(&mut self) -> Result<(), String> {
        if self.rollback_share == Some(f64::INFINITY) {
            return Err("the state machine's rollback raised the canary's share again".into());
        }
        if let Some(deployment) = self.world.store.deployments().first()
            && deployment.status == sluice_core::deployment::Status::Promoted
            && deployment.controller == sluice_core::deployment::Controller::StateMachine
            && self.alarm_blocks_promotion
            && self.finalize_began_in_alarm
            && self.alarm_in_alarm()
        {
            return Err(format!(
                "promoted by Finalize although alarm {ALARM} was in ALARM before Finalize began"
            ));
        }
        Ok(())
    }

    /// Everything still alive finishes, without faults: late changes land, running commands
    /// and redelivered alarms run to their end, the execution runs until it ends or waits for
    /// an operator.
    /// EventBridge's rule on the execution's status: an end other than success (FAILED,
    /// TIMED_OUT, ABORTED) invokes the reconciler.
    fn report_end(&mut self, at: String) {
        if self.end_reported {
            return;
        }
        let status = self
            .world
            .orchestrator
            .executions()
            .into_iter()
            .find(|(name, _, _)| name == EXECUTION)
            .map(|(_, _, status)| status);
        let Some(status) = status.filter(|s| !s.is_running()) else {
            return;
        };
        self.end_reported = true;
        if status != ExecutionStatus::Succeeded {
            self.started += 1;
            let actor = Actor::new(Kind::ExecutionEnded(status), self.started);
            self.log.push(format!("{at}: {} starts", actor.name()));
            self.actors.push(actor);
        }
    }

    fn finish_actors(&mut self) -> Result<(), String> {
        while !self.actors.is_empty() {
            let calls = self.world.faults.calls();
            let name = self.actors[0].name();
            self.poll_actor(0)?;
            if self.world.faults.calls() > calls {
                let operation = self.world.faults.last_operation().unwrap_or("?");
                self.log.push(format!("drain: {name}: {operation}"));
            }
        }
        Ok(())
    }

    /// Late changes land, every controller finishes, the execution runs until it ends or
    /// waits for an operator (its end reported to the reconciler), and the reconciler's
    /// schedule sweeps once more.
    fn drain(&mut self) -> Result<(), String> {
        self.log.push("drain".into());
        while self.world.router.land_late() {
            self.log.push("a late Route 53 change lands".into());
        }
        self.finish_actors()?;
        let mut polls = 0;
        while self.poll_execution() == Progress::Moved {
            self.observe()?;
            polls += 1;
            if polls > DRAIN_POLLS {
                return Err(format!(
                    "the execution is still running after {DRAIN_POLLS} polls, in {}",
                    self.execution.state
                ));
            }
        }
        self.observe()?;
        self.report_end("drain".into());
        self.finish_actors()?;
        self.started += 1;
        let sweep = Actor::new(Kind::Reconcile, self.started);
        self.log
            .push(format!("drain: {} (the schedule) starts", sweep.name()));
        self.actors.push(sweep);
        self.finish_actors()?;
        self.observe()
    }
}
