//! The test hooks of the router: faults (the next invocations of a function answer with an
//! error without running it) and holds (the next invocation waits before it runs until the
//! test releases it).

use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::sync::locked;

/// A function error to answer instead of running the function.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Fault {
    pub(super) error_type: String,
    pub(super) error_message: String,
}

/// An invocation held before it runs (see [`TestHooks::hold_next`]): the router tells the
/// [`Hold`] when it arrives, with its payload, and waits for the hold to be released.
struct PendingHold {
    arrived: tokio::sync::oneshot::Sender<Value>,
    release: tokio::sync::oneshot::Receiver<()>,
}

/// The caller's side of a held invocation. The invocation waits, before its function runs,
/// until [`Hold::release`] or until this is dropped, so a test that fails half way never
/// leaves an execution hanging on it.
#[derive(Debug)]
pub struct Hold {
    function: String,
    arrived: Option<tokio::sync::oneshot::Receiver<Value>>,
    release: Option<tokio::sync::oneshot::Sender<()>>,
}

/// Why a held invocation did not arrive.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HoldError {
    #[error("no invocation of {function} arrived within {waited:?} to be held")]
    NotArrived { function: String, waited: Duration },
    #[error("the hold on {function} was already used: it arrives once")]
    AlreadyArrived { function: String },
    #[error("the router stopped before an invocation of {function} arrived")]
    RouterStopped { function: String },
}

impl Hold {
    pub fn function(&self) -> &str {
        &self.function
    }

    /// Waits up to `timeout` for the held invocation to arrive and returns its payload; the
    /// invocation then waits for [`Hold::release`].
    pub async fn arrived(&mut self, timeout: Duration) -> Result<Value, HoldError> {
        let Some(arrived) = self.arrived.as_mut() else {
            return Err(HoldError::AlreadyArrived {
                function: self.function.clone(),
            });
        };
        let payload = match tokio::time::timeout(timeout, arrived).await {
            Ok(Ok(payload)) => payload,
            Ok(Err(_)) => {
                return Err(HoldError::RouterStopped {
                    function: self.function.clone(),
                });
            }
            Err(_) => {
                return Err(HoldError::NotArrived {
                    function: self.function.clone(),
                    waited: timeout,
                });
            }
        };
        self.arrived = None;
        Ok(payload)
    }

    /// Lets the held invocation run (or, if it has not arrived yet, pass when it does).
    pub fn release(mut self) {
        if let Some(release) = self.release.take() {
            // A closed receiver: the invocation is already gone (the router stopped).
            let _ = release.send(());
        }
    }
}

/// The faults and holds waiting for the next invocations, per function binary.
#[derive(Default)]
pub(super) struct TestHooks {
    faults: Mutex<HashMap<String, VecDeque<Fault>>>,
    holds: Mutex<HashMap<String, VecDeque<PendingHold>>>,
}

impl TestHooks {
    /// The next `count` invocations of `function` answer with `error_type`.
    pub(super) fn fail_next(
        &self,
        function: &str,
        count: usize,
        error_type: &str,
        error_message: &str,
    ) {
        let mut faults = locked(&self.faults);
        let queue = faults.entry(function.to_string()).or_default();
        for n in 1..=count {
            queue.push_back(Fault {
                error_type: error_type.to_string(),
                error_message: format!(
                    "{error_message} (injected by sluice-local, {n} of {count})"
                ),
            });
        }
    }

    /// The oldest fault waiting for `binary`, taken.
    pub(super) fn take_fault(&self, binary: &str) -> Option<Fault> {
        locked(&self.faults)
            .get_mut(binary)
            .and_then(VecDeque::pop_front)
    }

    /// A hold on the next invocation of `function` that has no hold yet.
    pub(super) fn hold_next(&self, function: &str) -> Hold {
        let (arrived_tx, arrived_rx) = tokio::sync::oneshot::channel();
        let (release_tx, release_rx) = tokio::sync::oneshot::channel();
        locked(&self.holds)
            .entry(function.to_string())
            .or_default()
            .push_back(PendingHold {
                arrived: arrived_tx,
                release: release_rx,
            });
        Hold {
            function: function.to_string(),
            arrived: Some(arrived_rx),
            release: Some(release_tx),
        }
    }

    /// Waits for the release of the oldest pending hold on `binary`, if there is one.
    pub(super) async fn wait_if_held(&self, binary: &str, input: &Value) {
        let hold = locked(&self.holds)
            .get_mut(binary)
            .and_then(VecDeque::pop_front);
        let Some(hold) = hold else {
            return;
        };
        tracing::info!(function = binary, "invocation held until released");
        let held = Instant::now();
        // Whoever holds it may have given up already; then the release below is immediate.
        let _ = hold.arrived.send(input.clone());
        // Released, or the hold was dropped: either way the invocation goes on.
        let _ = hold.release.await;
        tracing::info!(function = binary, held_for = ?held.elapsed(), "held invocation released");
    }
}
