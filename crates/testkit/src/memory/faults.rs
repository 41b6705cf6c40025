//! Faults and interleaving shared by the in-memory fakes of one world: any port call can be
//! made to fail (the Nth call from now), and every call can yield to the caller's executor
//! first, so a test that polls several futures by hand decides whose call goes next (a crash
//! is then a future dropped between two calls).

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};

/// What a port call meets.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Fault {
    /// The call fails before it takes effect (throttled after retries, a 5xx, a timeout
    /// before the service acted).
    Fail,
    /// Route 53's `PriorRequestNotComplete` (another change to the zone is in progress): a
    /// throttling error, nothing changed. Elsewhere the same as [`Fault::Fail`].
    Busy,
    /// The call takes effect but its answer is lost: the caller sees an error (a timeout after
    /// the service acted). For a read, the same as [`Fault::Fail`].
    Lost,
    /// A Route 53 change accepted (the caller gets its change id, PENDING) but applied only
    /// when the test lands it ([`MemoryRouter::land_late`](super::MemoryRouter::land_late)),
    /// so it can land after a later change. Elsewhere the same as [`Fault::Fail`].
    Late,
}

#[derive(Default)]
struct FaultState {
    interleaved: bool,
    calls: u64,
    planned: BTreeMap<u64, Fault>,
    met: Vec<(u64, &'static str, Fault)>,
    last: Option<&'static str>,
}

/// Faults and interleaving shared by the fakes built `with_faults` on the same value. The
/// default (fakes built with `new`) yields nowhere and never fails.
#[derive(Default, Clone)]
pub struct Faults {
    state: Arc<Mutex<FaultState>>,
}

impl Faults {
    pub fn new() -> Self {
        Self::default()
    }

    /// Every port call yields to the executor once before it acts.
    pub fn interleave(&self) {
        self.state.lock().unwrap().interleaved = true;
    }

    /// The `n`th port call from now (1: the next one), of any fake sharing these faults,
    /// meets `fault`.
    pub fn fail_call(&self, n: u64, fault: Fault) {
        let mut state = self.state.lock().unwrap();
        let at = state.calls + n.max(1);
        state.planned.insert(at, fault);
    }

    /// Forgets the faults planned and not yet met.
    pub fn clear_planned(&self) {
        self.state.lock().unwrap().planned.clear();
    }

    /// How many port calls have been made.
    pub fn calls(&self) -> u64 {
        self.state.lock().unwrap().calls
    }

    /// The operation of the last port call made.
    pub fn last_operation(&self) -> Option<&'static str> {
        self.state.lock().unwrap().last
    }

    /// Every fault met: the call's number, the operation and the fault.
    pub fn met(&self) -> Vec<(u64, &'static str, Fault)> {
        self.state.lock().unwrap().met.clone()
    }

    /// Entered by a fake at the start of each port call: yields when interleaved, counts the
    /// call, and returns the fault it meets, if any.
    pub(crate) async fn enter(&self, operation: &'static str) -> Option<Fault> {
        if self.state.lock().unwrap().interleaved {
            YieldOnce(false).await;
        }
        let mut state = self.state.lock().unwrap();
        state.calls += 1;
        let call = state.calls;
        state.last = Some(operation);
        let fault = state.planned.remove(&call);
        if let Some(fault) = fault {
            state.met.push((call, operation, fault));
        }
        fault
    }
}

/// Pending once (waking the task, so any executor polls again), then ready.
struct YieldOnce(bool);

impl Future for YieldOnce {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        if self.0 {
            Poll::Ready(())
        } else {
            self.0 = true;
            cx.waker().wake_by_ref();
            Poll::Pending
        }
    }
}
