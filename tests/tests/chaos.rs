//! The chaos suite (issue 13, DESIGN.md §7): many deployments end to end through the real
//! state machine on moto, each on a service of its own on one local runner, with the router
//! faulting the functions' AWS calls (throttling and 5xx in each service's shape, latency),
//! killing functions between their writes, and operators and alarms racing the state machine.
//! After every run the invariant of DESIGN.md §2 is read back: Route 53 carries what the
//! deployment's record says (stable 100 % unless promoted), the record and its history have
//! ended, and the service's lock is free. It prints a table of what it injected and found.
//!
//! CI size by default (about 3-4 minutes on 2 cores); `SLUICE_CHAOS_FULL=1` (scripts/chaos)
//! for the full size (over 200 runs). `SLUICE_CHAOS_SEED`, `SLUICE_CHAOS_RUNS` (faulted
//! runs), `SLUICE_CHAOS_GRACE_SECONDS` (how long a run may take to settle after its
//! execution ended: the emergency path finishing, a reconciler) tune it.
//!
//! What today's code is expected to survive is asserted (see [`SURVIVED_TODAY`]); the rest is
//! reported, so the table says what is still broken.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;
mod fleet;

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::Arc;
use std::time::Duration;

use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde_json::json;
use sluice_local::chaos::{Chaos, FaultPlan, KillPlan};
use sluice_local::{LocalRunner, RunnerOptions, VersionProfile};
use tokio::task::JoinSet;

use common::runner_with;
use fleet::{RunCheck, Service, Tally, add, check_run, cli_ports, quick_request, sluice};

/// The categories whose runs today's code must end with no violation and no stranded lock.
/// Faults the SDK retries away; crashes and races break the invariant until the fixes of
/// issue 13 land (then this list grows to every category).
const SURVIVED_TODAY: &[&str] = &["faulted"];

/// Where a race's actors strike.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Stage {
    /// While Validate is about to take the lock.
    Validate,
    /// While a step's Route 53 change is about to be made.
    ShiftTraffic,
    /// While the step's change is about to be checked for sync.
    WaitForSync,
    /// During a step's bake (a Wait state: no function to hold; green has traffic).
    Bake,
    /// While a step is about to be judged.
    Analyze,
    /// While the promotion is about to be written.
    Finalize,
    /// Half way down a gradual rollback of a bad canary.
    RollbackRamp,
}

impl Stage {
    /// The function whose next invocation is held while the actors strike.
    fn function(self) -> Option<&'static str> {
        Some(match self {
            Stage::Validate => "validate",
            Stage::ShiftTraffic => "shift-traffic",
            Stage::WaitForSync => "wait-for-sync",
            Stage::Bake => return None,
            Stage::Analyze => "analyze",
            Stage::Finalize => "finalize",
            Stage::RollbackRamp => "rollback",
        })
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Actor {
    Alarm,
    SecondAlarm,
    Abort,
    ForcePromote,
}

#[derive(Debug, Clone)]
enum Scenario {
    /// A deployment under the fault plan alone, green healthy or bad.
    Faulted { bad_green: bool },
    /// `function` killed after its `after_writes`-th write (0: at its first, before it).
    Crash {
        function: &'static str,
        after_writes: u32,
    },
    /// `actors` at once at `stage`.
    Race {
        stage: Stage,
        actors: &'static [Actor],
    },
}

impl Scenario {
    fn category(&self) -> String {
        match self {
            Scenario::Faulted { .. } => "faulted".into(),
            Scenario::Crash { function, .. } => format!("crash {function}"),
            Scenario::Race { stage, .. } => format!("race {stage:?}"),
        }
    }

    fn bad_green(&self) -> bool {
        match self {
            Scenario::Faulted { bad_green } => *bad_green,
            Scenario::Crash { function, .. } => *function == "rollback",
            Scenario::Race { stage, .. } => *stage == Stage::RollbackRamp,
        }
    }
}

const ACTOR_SETS: &[&[Actor]] = &[
    &[Actor::Alarm, Actor::SecondAlarm],
    &[Actor::Alarm, Actor::Abort],
    &[Actor::Alarm, Actor::ForcePromote],
    &[Actor::Abort, Actor::ForcePromote],
    &[Actor::Alarm, Actor::Abort, Actor::ForcePromote],
];
const STAGES: [Stage; 7] = [
    Stage::Validate,
    Stage::ShiftTraffic,
    Stage::WaitForSync,
    Stage::Bake,
    Stage::Analyze,
    Stage::Finalize,
    Stage::RollbackRamp,
];
const CRASHED: [&str; 5] = [
    "validate",
    "shift-traffic",
    "finalize",
    "rollback",
    "emergency-rollback",
];

/// The suite's size.
struct Size {
    faulted: usize,
    faulted_at_once: usize,
    crash_boundaries: Vec<u32>,
    crashes_at_once: usize,
    races: Vec<(Stage, &'static [Actor])>,
}

impl Size {
    fn from_env() -> Size {
        let full = fleet::full_size();
        let faulted = fleet::env_number("SLUICE_CHAOS_RUNS", if full { 150 } else { 6 });
        let races: Vec<(Stage, &'static [Actor])> = if full {
            STAGES
                .iter()
                .flat_map(|stage| ACTOR_SETS.iter().map(move |actors| (*stage, *actors)))
                .collect()
        } else {
            vec![
                (Stage::ShiftTraffic, ACTOR_SETS[0]),
                (Stage::Analyze, ACTOR_SETS[2]),
                (Stage::Finalize, ACTOR_SETS[1]),
                (Stage::Bake, ACTOR_SETS[3]),
                (Stage::RollbackRamp, ACTOR_SETS[4]),
            ]
        };
        Size {
            faulted,
            faulted_at_once: if full { 6 } else { 3 },
            crash_boundaries: if full { (0..=6).collect() } else { vec![1, 2] },
            crashes_at_once: if full { 4 } else { 2 },
            races,
        }
    }
}

struct RunResult {
    scenario: Scenario,
    check: RunCheck,
    notes: Vec<String>,
}

/// Everything one run needs, shared by the tasks running at once.
struct Suite {
    runner: LocalRunner,
    chaos: Arc<Chaos>,
    ports: sluice_aws::AwsPorts,
    seed: u64,
    grace: Duration,
}

impl Suite {
    async fn run(self: Arc<Self>, index: usize, scenario: Scenario) -> RunResult {
        let runner = &self.runner;
        // Fixed width: no name is a prefix of another (kills are aimed by name).
        let name = format!("chaos-{index:04}");
        let green = if scenario.bad_green() {
            VersionProfile::healthy().with_errors(10.0)
        } else {
            VersionProfile::healthy()
        };
        let service = Service::create(runner, &name, green, 2).await;
        let mut request = quick_request(&format!("v{index}.0.0"));
        let ramps_down = matches!(
            scenario,
            Scenario::Race {
                stage: Stage::RollbackRamp,
                ..
            } | Scenario::Crash {
                function: "rollback",
                ..
            }
        );
        if ramps_down {
            request =
                request.with_field("rollback", json!({"steps": [25.0, 10.0], "stepSeconds": 1}));
        }
        let request = service.request(&request);
        let id = format!("{name}-{}", self.seed);
        let mut notes = Vec::new();
        let mut rng = ChaCha8Rng::seed_from_u64(self.seed ^ index as u64);

        let mut hold = None;
        match &scenario {
            Scenario::Crash {
                function,
                after_writes,
            } if *function != "emergency-rollback" => self.chaos.arm_kill(KillPlan {
                function: function.to_string(),
                after_writes: *after_writes,
                only_for: Some(name.clone()),
            }),
            Scenario::Race { stage, .. } => {
                hold = stage.function().map(|f| runner.hold_next(f).unwrap());
            }
            _ => {}
        }

        let arn = match runner.start_deployment(&id, &request).await {
            Ok(arn) => arn,
            Err(error) => {
                self.chaos.disarm_kills_for(&name);
                service.retire(runner).await;
                return RunResult {
                    scenario,
                    check: RunCheck {
                        outcome: "not-started".into(),
                        violations: vec![format!("StartExecution failed: {error}")],
                        stranded_lock: None,
                    },
                    notes,
                };
            }
        };

        match &scenario {
            Scenario::Crash {
                function: "emergency-rollback",
                after_writes,
            } => {
                // The alarm lands while the first step is live.
                if self.wait_for_traffic(&service).await {
                    self.chaos.arm_kill(KillPlan {
                        function: "emergency-rollback".into(),
                        after_writes: *after_writes,
                        only_for: Some(name.clone()),
                    });
                    runner
                        .force_alarm(&service.alarms[0], "chaos: alarm with a crash")
                        .await
                        .unwrap();
                } else {
                    notes.push("no traffic on green to alarm on".into());
                }
            }
            Scenario::Race {
                stage: Stage::Bake,
                actors,
            } => {
                if self.wait_for_traffic(&service).await {
                    // Past the shift and its sync: baking.
                    tokio::time::sleep(Duration::from_millis(rng.random_range(500..1500))).await;
                    notes.extend(self.clone().act(&id, &service, actors).await);
                } else {
                    notes.push("stage not reached: green never took traffic".into());
                }
            }
            Scenario::Race { stage, actors } => {
                let mut hold = hold.take().unwrap();
                match hold.arrived(Duration::from_secs(90)).await {
                    Err(error) => notes.push(format!("stage not reached: {error}")),
                    Ok(_) => {
                        let actions = self.clone().act(&id, &service, actors);
                        if *stage == Stage::RollbackRamp {
                            // Let the ramp start, then strike half way down it.
                            hold.release();
                            tokio::time::sleep(Duration::from_millis(1500)).await;
                            notes.extend(actions.await);
                        } else {
                            let jitter = Duration::from_millis(rng.random_range(0..300));
                            let actions = tokio::spawn(actions);
                            tokio::time::sleep(jitter).await;
                            hold.release();
                            notes.extend(actions.await.unwrap());
                        }
                    }
                }
            }
            _ => {}
        }

        let check = match runner.wait_for_execution(&arn, fleet::RUN_TIMEOUT).await {
            Ok(execution) => check_run(runner, &service, &id, &execution, self.grace).await,
            Err(error) => RunCheck {
                outcome: "execution-stuck".into(),
                violations: vec![format!("the execution did not end: {error}")],
                stranded_lock: None,
            },
        };
        for unfired in self.chaos.disarm_kills_for(&name) {
            notes.push(format!(
                "kill not reached: {} made fewer than {} writes",
                unfired.function, unfired.after_writes
            ));
        }
        service.retire(runner).await;
        RunResult {
            scenario,
            check,
            notes,
        }
    }

    /// Waits until green takes traffic (the first step is live); false if it never does.
    async fn wait_for_traffic(&self, service: &Service) -> bool {
        use sluice_core::ports::TrafficRouter;
        sluice_testkit::eventually(Duration::from_secs(60), || async {
            let weights = self
                .runner
                .route53()
                .read_weights(&service.records)
                .await
                .ok()
                .and_then(|w| w.weights());
            match weights {
                Some(w) if w.canary_percent() > 0.0 => Ok(()),
                other => Err(other),
            }
        })
        .await
        .is_ok()
    }

    /// Fires `actors` at once at deployment `id`; what each answered.
    fn act(
        self: Arc<Self>,
        id: &str,
        service: &Service,
        actors: &'static [Actor],
    ) -> impl std::future::Future<Output = Vec<String>> + Send + 'static {
        let id = id.to_string();
        let alarms = service.alarms.clone();
        async move {
            let mut set = JoinSet::new();
            for actor in actors {
                let suite = self.clone();
                let (id, alarms) = (id.clone(), alarms.clone());
                set.spawn(async move {
                    let answer = match actor {
                        Actor::Alarm | Actor::SecondAlarm => {
                            let alarm = &alarms[usize::from(*actor == Actor::SecondAlarm)];
                            suite
                                .runner
                                .force_alarm(alarm, "chaos: racing alarm")
                                .await
                                .map(|_| "fired".to_string())
                                .map_err(|e| e.to_string())
                        }
                        Actor::Abort => {
                            let (code, out) =
                                sluice(&suite.ports, &["abort", &id, "--reason", "chaos"]).await;
                            code.map(|c| format!("exit {c}: {}", out.trim()))
                        }
                        Actor::ForcePromote => {
                            let (code, out) =
                                sluice(&suite.ports, &["promote", &id, "--force"]).await;
                            code.map(|c| format!("exit {c}: {}", out.trim()))
                        }
                    };
                    match answer {
                        Ok(answer) => format!("{actor:?}: {answer}"),
                        Err(error) => format!("{actor:?} refused: {error}"),
                    }
                });
            }
            set.join_all().await
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn chaos_runs_keep_the_invariant() {
    let size = Size::from_env();
    let seed: u64 = fleet::env_number("SLUICE_CHAOS_SEED", 13);
    let grace = Duration::from_secs(fleet::env_number("SLUICE_CHAOS_GRACE_SECONDS", 10));
    let chaos = Chaos::new();
    let plan = FaultPlan {
        throttle_rate: 0.03,
        server_error_rate: 0.02,
        latency_rate: 0.2,
        max_latency: Duration::from_millis(300),
        ..FaultPlan::quiet(seed)
    };
    chaos.set_plan(Some(plan.clone()));
    let started = std::time::Instant::now();

    // Faulted runs, several at once; every third one with a bad canary.
    let faulted: Vec<Scenario> = (0..size.faulted)
        .map(|i| Scenario::Faulted {
            bad_green: i % 3 == 2,
        })
        .collect();
    // A crash at each write boundary of each function (kills aimed at the run's deployment).
    let crashes: Vec<Scenario> = size
        .crash_boundaries
        .iter()
        .flat_map(|k| {
            CRASHED.iter().map(|function| Scenario::Crash {
                function,
                after_writes: *k,
            })
        })
        .collect();
    // Races one at a time: a hold catches the next invocation of its function, whoever's.
    let races: Vec<Scenario> = size
        .races
        .iter()
        .map(|(stage, actors)| Scenario::Race {
            stage: *stage,
            actors,
        })
        .collect();
    let phases = [
        (faulted, size.faulted_at_once),
        (crashes, size.crashes_at_once),
        (races, 1),
    ];

    // A fresh runner (its own moto) every `epoch` runs: moto answers metric queries by
    // scanning every datapoint it holds, so one moto slows down as the runs pile up.
    let epoch: usize = fleet::env_number("SLUICE_CHAOS_EPOCH", 40);
    let mut results = Vec::new();
    let mut suite: Option<Arc<Suite>> = None;
    let (mut index, mut used) = (0, 0);
    for (scenarios, at_once) in phases {
        for chunk in scenarios.chunks(epoch.max(1)) {
            if suite.is_none() || used + chunk.len() > epoch {
                if let Some(old) = suite.take() {
                    shutdown(old).await;
                }
                suite = Some(start_suite(&chaos, seed, grace).await);
                used = 0;
            }
            let current = suite.clone().unwrap();
            let indexes = index..index + chunk.len();
            index += chunk.len();
            used += chunk.len();
            results.extend(run_batches(&current, indexes, chunk.to_vec(), at_once).await);
        }
    }
    if let Some(last) = suite.take() {
        shutdown(last).await;
    }
    chaos.set_plan(None);

    let table = table(&results, &chaos, &plan, started.elapsed());
    println!("{table}");
    if let Ok(path) = std::env::var("SLUICE_CHAOS_REPORT") {
        std::fs::write(path, &table).unwrap();
    }

    let counts = chaos.counts();
    assert!(
        counts.keys().any(|k| k.to_string().starts_with("throttle")),
        "no throttling was injected: is chaos wired? {counts:?}"
    );
    assert!(
        counts.keys().any(|k| k.to_string().starts_with("crash")),
        "no function was killed: {counts:?}"
    );
    let strict = matches!(
        std::env::var("SLUICE_CHAOS_STRICT").as_deref(),
        Ok("1") | Ok("true") | Ok("yes")
    );
    let must_hold: Vec<&RunResult> = results
        .iter()
        .filter(|r| strict || SURVIVED_TODAY.contains(&r.scenario.category().as_str()))
        .filter(|r| !r.check.violations.is_empty() || r.check.stranded_lock.is_some())
        .collect();
    assert!(
        must_hold.is_empty(),
        "runs that must keep the invariant today did not:\n{}",
        must_hold
            .iter()
            .map(|r| format!(
                "{:?}: {:?} {:?}",
                r.scenario, r.check.violations, r.check.stranded_lock
            ))
            .collect::<Vec<_>>()
            .join("\n")
    );
}

async fn start_suite(chaos: &Arc<Chaos>, seed: u64, grace: Duration) -> Arc<Suite> {
    let runner = runner_with(RunnerOptions::new("chaos").chaos(chaos.clone())).await;
    Arc::new(Suite {
        ports: cli_ports(&runner),
        runner,
        chaos: chaos.clone(),
        seed,
        grace,
    })
}

async fn shutdown(suite: Arc<Suite>) {
    match Arc::try_unwrap(suite) {
        Ok(suite) => suite.runner.shutdown().await,
        Err(_) => panic!("a run still holds the suite"),
    }
}

/// Runs `scenarios` (numbered from `indexes`) `at_once` at a time.
async fn run_batches(
    suite: &Arc<Suite>,
    indexes: std::ops::Range<usize>,
    scenarios: Vec<Scenario>,
    at_once: usize,
) -> Vec<RunResult> {
    let mut results = Vec::new();
    let mut work = indexes.zip(scenarios);
    let mut running = JoinSet::new();
    loop {
        while running.len() < at_once.max(1) {
            let Some((index, scenario)) = work.next() else {
                break;
            };
            running.spawn(suite.clone().run(index, scenario));
        }
        match running.join_next().await {
            Some(result) => {
                let result = result.unwrap();
                // A line per run as it ends, so a long run shows its progress.
                println!(
                    "chaos run {:?}: {}{}{}",
                    result.scenario,
                    result.check.outcome,
                    if result.check.violations.is_empty() {
                        ""
                    } else {
                        " VIOLATION"
                    },
                    if result.check.stranded_lock.is_some() {
                        " STRANDED-LOCK"
                    } else {
                        ""
                    },
                );
                results.push(result);
            }
            None => return results,
        }
    }
}

/// The printed table: runs, faults injected by kind, outcomes, invariant violations and
/// stranded locks per category, then each violation.
fn table(results: &[RunResult], chaos: &Chaos, plan: &FaultPlan, took: Duration) -> String {
    let mut out = String::new();
    let categories: Vec<String> = {
        let mut c: Vec<String> = results.iter().map(|r| r.scenario.category()).collect();
        c.sort();
        c.dedup();
        c
    };
    let _ = writeln!(
        out,
        "\n== chaos: {} runs in {:.0} s, seed {}, per call: throttle {:.0} %, 5xx {:.0} %, latency {:.0} % (up to {} ms)",
        results.len(),
        took.as_secs_f64(),
        plan.seed,
        plan.throttle_rate * 100.0,
        plan.server_error_rate * 100.0,
        plan.latency_rate * 100.0,
        plan.max_latency.as_millis()
    );
    let _ = writeln!(out, "-- faults injected by kind");
    for (kind, count) in chaos.counts() {
        let _ = writeln!(out, "   {:<28} {count:>6}", kind.to_string());
    }
    let _ = writeln!(
        out,
        "-- {:<26} {:>5} {:>11} {:>9}  outcomes (record/execution)",
        "category", "runs", "violations", "stranded"
    );
    let (mut total_violations, mut total_stranded) = (0, 0);
    for category in &categories {
        let runs: Vec<&RunResult> = results
            .iter()
            .filter(|r| &r.scenario.category() == category)
            .collect();
        let violations = runs
            .iter()
            .filter(|r| !r.check.violations.is_empty())
            .count();
        let stranded = runs
            .iter()
            .filter(|r| r.check.stranded_lock.is_some())
            .count();
        total_violations += violations;
        total_stranded += stranded;
        let mut outcomes = Tally::new();
        for run in &runs {
            add(&mut outcomes, run.check.outcome.clone());
        }
        let outcomes: Vec<String> = outcomes.iter().map(|(o, n)| format!("{o} {n}")).collect();
        let _ = writeln!(
            out,
            "   {category:<26} {:>5} {violations:>11} {stranded:>9}  {}",
            runs.len(),
            outcomes.join(", ")
        );
    }
    let _ = writeln!(
        out,
        "   {:<26} {:>5} {total_violations:>11} {total_stranded:>9}",
        "TOTAL",
        results.len()
    );
    let mut found: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for run in results {
        let what = run
            .check
            .violations
            .iter()
            .cloned()
            .chain(
                run.check
                    .stranded_lock
                    .iter()
                    .map(|l| format!("stranded lock: {l}")),
            )
            .collect::<Vec<_>>();
        if !what.is_empty() {
            found
                .entry(format!("{:?}", run.scenario))
                .or_default()
                .push(format!("{} [{}]", what.join("; "), run.notes.join(" | ")));
        }
    }
    if !found.is_empty() {
        let _ = writeln!(out, "-- violations and stranded locks");
        for (scenario, lines) in found {
            for line in lines {
                let _ = writeln!(out, "   {scenario}: {line}");
            }
        }
    }
    let notes: Vec<String> = results
        .iter()
        .filter(|r| !r.notes.is_empty())
        .map(|r| {
            format!(
                "   {:?} -> {}: {}",
                r.scenario,
                r.check.outcome,
                r.notes.join(" | ")
            )
        })
        .collect();
    if !notes.is_empty() {
        let _ = writeln!(out, "-- what the actors and crashes met");
        for note in notes {
            let _ = writeln!(out, "{note}");
        }
    }
    out
}
