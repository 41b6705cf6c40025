//! The safety invariant (DESIGN §2): whenever no controller is mid-change, Route 53 carries
//! exactly what the deployment's record says (stable 100 % unless promoted; a split only as
//! recorded while the state machine drives), and the service's lock is free or held by a live
//! controller.

use sluice_core::deployment::{Controller, Deployment, Status};
use sluice_core::plan::WeightPair;
use sluice_core::ports::{RecordSet, ServiceLock};

use super::run::Run;
use super::world::SERVICE;

fn deployment(run: &Run) -> Option<Deployment> {
    let all = run.world.store.deployments();
    assert!(all.len() <= 1, "the model runs one deployment");
    all.into_iter().next()
}

fn lock(run: &Run) -> Option<ServiceLock> {
    run.world.store.lock_of(SERVICE)
}

fn describe(weights: Option<WeightPair>) -> String {
    match weights {
        Some(w) => format!("{}/{} (stable/canary)", w.stable(), w.canary()),
        None => "no usable weights".into(),
    }
}

fn share(weights: WeightPair) -> f64 {
    f64::from(weights.canary())
        / (f64::from(weights.canary()) + f64::from(weights.stable())).max(1.0)
}

/// What an ended deployment's record says Route 53 carries.
fn ended_weights(deployment: &Deployment) -> WeightPair {
    if deployment.status == Status::Promoted {
        WeightPair::ALL_CANARY
    } else {
        WeightPair::ALL_STABLE
    }
}

/// The check at a quiescent point of the run: traffic agrees with the record; a lease held by
/// a running deployment has not run out.
pub fn quiescent(run: &Run) -> Result<(), String> {
    let Some(deployment) = deployment(run) else {
        let weights = run.world.weights();
        return match weights == Some(WeightPair::ALL_STABLE) {
            true => Ok(()),
            false => Err(format!(
                "no deployment recorded, yet Route 53 carries {}",
                describe(weights)
            )),
        };
    };
    let weights = run.world.router.current(&RecordSet::of(&deployment));
    let status = deployment.status;
    if status.is_terminal() {
        let expected = ended_weights(&deployment);
        if weights != Some(expected) {
            return Err(format!(
                "deployment {status} by {}, yet Route 53 carries {}",
                deployment.controller.describe(),
                describe(weights)
            ));
        }
        return Ok(());
    }
    let driven = deployment.controller == Controller::StateMachine;
    if driven && run.execution.is_running(&run.world) {
        let recorded = deployment
            .traffic
            .as_ref()
            .map(|t| t.weights)
            .unwrap_or(WeightPair::ALL_STABLE);
        let claimed = (status == Status::Shifting)
            .then(|| deployment.step.and_then(|s| deployment.plan.step(s)))
            .flatten()
            .map(|s| s.weights);
        let ramping = status == Status::RollingBack
            && weights.is_some_and(|w| share(w) <= share(recorded) + 1e-9);
        let agrees = weights == Some(WeightPair::ALL_STABLE)
            || weights == Some(recorded)
            || (claimed.is_some() && weights == claimed)
            || ramping;
        if !agrees {
            return Err(format!(
                "deployment {status} driven by the state machine records {}, yet Route 53 carries {}",
                describe(Some(recorded)),
                describe(weights)
            ));
        }
        if let Some(lock) = lock(run)
            && lock.deployment.id == deployment.id
            && lock.lease_until < run.world.now()
        {
            return Err(format!(
                "the lock's lease ran out at {} while deployment {status} still runs (now {})",
                lock.lease_until,
                run.world.now()
            ));
        }
    }
    Ok(())
}

/// The check once everything alive has finished: an ended deployment's traffic is its end's and
/// its lock is free; one not ended waits for an operator in a live execution, with its
/// recorded traffic and its lock.
pub fn at_rest(run: &Run) -> Result<(), String> {
    let lock = lock(run);
    let execution = if run.execution.is_running(&run.world) {
        format!("running in {}", run.execution.state)
    } else {
        format!(
            "ended in {}",
            run.execution.ended_in.as_deref().unwrap_or("a stop")
        )
    };
    let Some(deployment) = deployment(run) else {
        let weights = run.world.weights();
        if weights != Some(WeightPair::ALL_STABLE) {
            return Err(format!(
                "no deployment recorded, yet Route 53 carries {}",
                describe(weights)
            ));
        }
        if let Some(lock) = lock {
            return Err(format!(
                "no deployment recorded, yet the lock is held for {} (lease until {}); the execution {execution}",
                lock.deployment.id, lock.lease_until
            ));
        }
        return Ok(());
    };
    let weights = run.world.router.current(&RecordSet::of(&deployment));
    let status = deployment.status;
    let by = deployment.controller.describe();
    let holds = lock
        .as_ref()
        .is_some_and(|l| l.deployment.id == deployment.id);
    if status.is_terminal() {
        let expected = ended_weights(&deployment);
        if weights != Some(expected) {
            return Err(format!(
                "deployment {status} by {by}, yet Route 53 carries {}",
                describe(weights)
            ));
        }
        if holds {
            return Err(format!(
                "deployment {status} by {by}, yet its lock is still held; the execution {execution}"
            ));
        }
        return Ok(());
    }
    let waiting = run.execution.is_running(&run.world) && run.execution.token.is_some();
    if deployment.controller != Controller::StateMachine || !waiting {
        return Err(format!(
            "deployment stranded: {status} under {by}, Route 53 carries {}, lock {}; the execution {execution}",
            describe(weights),
            if holds { "held" } else { "free" }
        ));
    }
    let recorded = deployment
        .traffic
        .as_ref()
        .map(|t| t.weights)
        .unwrap_or(WeightPair::ALL_STABLE);
    if weights != Some(recorded) {
        return Err(format!(
            "deployment {status} waits for approval recording {}, yet Route 53 carries {}",
            describe(Some(recorded)),
            describe(weights)
        ));
    }
    match lock {
        Some(lock) if holds && lock.lease_until >= run.world.now() => Ok(()),
        Some(lock) if holds => Err(format!(
            "deployment {status} waits for approval, but its lease ran out at {} (now {})",
            lock.lease_until,
            run.world.now()
        )),
        _ => Err(format!(
            "deployment {status} waits for approval without holding the lock"
        )),
    }
}
