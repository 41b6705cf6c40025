//! The router on moto's `MOTO_PORT`: every AWS call moto's Step Functions interpreter makes
//! arrives here. Lambda Invoke runs the real function binary through `cargo lambda watch`
//! ([`invoke`]); `/sns/...` receives moto's SNS `http` deliveries and turns them into SNS
//! Lambda events ([`sns`]); `/sluice-local/slots/<slot>/version` says which version a slot
//! serves ([`slots`], for the sample hook); everything else is proxied to moto unchanged ([`proxy`]). Tests
//! can make the next invocations of a function fail or wait ([`hooks`]).

#[cfg(test)]
mod chaos_tests;
mod hooks;
mod invoke;
mod proxy;
mod slots;
mod sns;
#[cfg(test)]
mod tests;

use std::collections::BTreeSet;
use std::sync::{Arc, Mutex};

use axum::Router;
use serde_json::Value;

use hooks::TestHooks;
pub use hooks::{Hold, HoldError};
use invoke::Invoker;
pub use invoke::{
    FUNCTION_ERROR_HEADER, Invocation, InvocationOutcome, InvocationSource, UNKNOWN_FUNCTION_ERROR,
};
use proxy::MotoProxy;
pub use slots::{SlotVersions, slot_version_path};
use sns::SnsBridge;
pub use sns::{SnsDelivery, SubscriptionTarget, sns_lambda_event};

use crate::chaos::Chaos;
use crate::function_names::binary_of;

/// The router's shared state; cheap to clone.
#[derive(Clone)]
pub struct LambdaRouter {
    invoker: Arc<Invoker>,
    sns: Arc<SnsBridge>,
    proxy: Arc<MotoProxy>,
    slots: Arc<SlotVersions>,
}

impl LambdaRouter {
    /// A router for `functions` (binary names) run by cargo lambda watch at
    /// `lambda_endpoint`, proxying everything else to `moto_endpoint`.
    pub fn new(
        moto_endpoint: impl Into<String>,
        lambda_endpoint: impl Into<String>,
        functions: impl IntoIterator<Item = String>,
    ) -> Result<LambdaRouter, reqwest::Error> {
        LambdaRouter::with_chaos(moto_endpoint, lambda_endpoint, functions, None)
    }

    /// [`LambdaRouter::new`] with faults injected into the functions' own AWS calls and
    /// kills answered as crashes (see [`crate::chaos`]).
    pub fn with_chaos(
        moto_endpoint: impl Into<String>,
        lambda_endpoint: impl Into<String>,
        functions: impl IntoIterator<Item = String>,
        chaos: Option<Arc<Chaos>>,
    ) -> Result<LambdaRouter, reqwest::Error> {
        let http = reqwest::Client::builder()
            // Loopback only: never through a proxy from the environment.
            .no_proxy()
            // A proxy hands redirects back to its caller.
            .redirect(reqwest::redirect::Policy::none())
            .build()?;
        Ok(LambdaRouter {
            invoker: Arc::new(Invoker {
                lambda_endpoint: lambda_endpoint.into(),
                functions: functions.into_iter().collect(),
                http: http.clone(),
                hooks: TestHooks::default(),
                invocations: Mutex::new(Vec::new()),
                chaos: chaos.clone(),
            }),
            sns: Arc::new(SnsBridge::default()),
            proxy: Arc::new(MotoProxy {
                moto_endpoint: moto_endpoint.into(),
                http,
                chaos,
            }),
            slots: Arc::new(SlotVersions::default()),
        })
    }

    /// The axum app: invoke, SNS bridge, and the proxy to moto for everything else.
    pub fn app(&self) -> Router {
        invoke::routes(self.invoker.clone())
            .merge(sns::routes(self.sns.clone(), self.invoker.clone()))
            .merge(slots::routes(self.slots.clone()))
            .merge(proxy::routes(self.proxy.clone()))
    }

    /// Which version each slot serves, for hooks to ask.
    pub fn slot_versions(&self) -> &SlotVersions {
        &self.slots
    }

    pub fn functions(&self) -> &BTreeSet<String> {
        &self.invoker.functions
    }

    /// The next `count` invocations of `function` answer with `error_type` without running it.
    pub fn fail_next(&self, function: &str, count: usize, error_type: &str, error_message: &str) {
        self.invoker
            .hooks
            .fail_next(function, count, error_type, error_message);
    }

    /// Holds the next invocation of `function` that has no hold yet (each hold takes one
    /// invocation, in order): it waits before the function runs (and before any fault from
    /// [`LambdaRouter::fail_next`]) until the returned [`Hold`] is released or dropped. This is
    /// how tests put something (an alarm) between a state machine entering a task and the
    /// task acting.
    pub fn hold_next(&self, function: &str) -> Hold {
        self.invoker.hooks.hold_next(function)
    }

    /// Every invocation of `function` so far, oldest first.
    pub fn invocations(&self, function: &str) -> Vec<Invocation> {
        let mut invocations = self.invoker.invocations();
        invocations.retain(|i| i.function == function);
        invocations
    }

    /// Every invocation so far, oldest first.
    pub fn all_invocations(&self) -> Vec<Invocation> {
        self.invoker.invocations()
    }

    /// Every SNS notification delivered to the router so far.
    pub fn sns_deliveries(&self) -> Vec<SnsDelivery> {
        self.sns.deliveries()
    }

    /// Remembers which subscription ARN delivers `topic_arn` to `target`.
    pub fn register_subscription(
        &self,
        topic_arn: &str,
        target: SubscriptionTarget,
        subscription_arn: &str,
    ) {
        self.sns
            .register_subscription(topic_arn, target, subscription_arn);
    }

    /// Invokes `function` with `payload` as Lambda would (faults included), and returns how it
    /// ended.
    pub async fn invoke(&self, function: &str, payload: &Value) -> InvocationOutcome {
        let body = serde_json::to_vec(payload).unwrap_or_default();
        let (_, outcome) = self
            .invoker
            .invoke(binary_of(function), body.into(), InvocationSource::Direct)
            .await;
        outcome
    }
}
