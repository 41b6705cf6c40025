//! sluice without AWS: the real state machine definition executed by moto, calling the real
//! function binaries, on simulated traffic (DESIGN.md §6).
//!
//! ```text
//!  moto (port A, MOTO_PORT=B) ── every AWS call of its ASL interpreter ──► router (port B)
//!     ▲                                                                    │
//!     │ everything that is not Lambda Invoke (proxied unchanged) ◄─────────┤
//!     │                                                                    │ Invoke (ARN → binary;
//!     │ AWS_ENDPOINT_URL=A   cargo lambda watch --only-lambda-apis ◄───────┘ 500 → 200 +
//!     └────────────────────   (port C: invoke API + runtime API /.rt/<fn>)   X-Amz-Function-Error)
//!                             ▲ one process per function: target/debug/<fn>
//!  SNS http subscriptions ──► router /sns/function/<fn> ──► the function (SNS Lambda event)
//!  alarm evaluator (1 s): DescribeAlarms + GetMetricData ─► SetAlarmState + Publish
//!  traffic simulator (1 s): Route 53 weights ─► PutMetricData for blue and green
//! ```
//!
//! [`LocalRunner::start`] starts it all in this order: build the runner and the function
//! binaries (once per process; see [`workspace::build_args`]), bind the router's port, start
//! moto with `MOTO_PORT` = that port, Step Functions execution enabled and one fix to its
//! interpreter ([`moto_patch`]: a stopped execution stays ABORTED), start cargo lambda
//! watch (APIs only) and every function binary against its runtime API (see [`cargo_lambda`]
//! for why the runner, not cargo lambda watch, starts them), serve the router, create the
//! environment ([`environment::provision`]), subscribe topics to functions, then start the
//! traffic simulator and the alarm evaluator. Logs go to the run directory
//! (`target/sluice-local/<run>/`), never to the terminal. Dropping the runner stops
//! everything it started; [`LocalRunner::shutdown`] also unsubscribes first.
//!
//! The demo ([`demo`]) runs a whole deployment on top of it and prints its progress.
//!
//! With [`RunnerOptions::chaos`], the functions' own AWS calls go through the router too, which
//! injects faults into them and can kill a function between its writes ([`chaos`]; the chaos
//! suite, tests/tests/chaos.rs).

pub mod alarms;
pub mod cargo_lambda;
pub mod chaos;
pub mod demo;
pub mod environment;
mod error;
pub mod execution;
pub mod function_names;
pub mod moto_patch;
pub mod router;
pub mod runner;
mod sync;
pub mod traffic;
pub mod up;
pub mod workspace;

pub use environment::{AlarmSettings, DeploymentRequest, EnvironmentNames, LocalEnvironment};
pub use error::{LocalError, Result};
pub use execution::{Execution, ExecutionEvent};
pub use router::{
    Hold, HoldError, Invocation, InvocationOutcome, InvocationSource, SnsDelivery,
    SubscriptionTarget,
};
pub use runner::{
    EMERGENCY_ROLLBACK_FUNCTION, ExecutionEventDelivery, LOCAL_HOOKS, LocalRunner,
    RECONCILE_FUNCTION, RunnerOptions, SAMPLE_HOOK_FUNCTION, StartTimings, Subscription, Topic,
};
pub use traffic::{TrafficProfile, VersionProfile};
