//! The commands other than watch and report: start, status, history, show, and the operator
//! actions. Each takes the ports, writes what it has to say to `out`, and returns its exit
//! code.

mod operator;
mod start;
mod unlock;

pub use operator::*;
pub use start::*;
pub use unlock::*;

use std::io::Write;

use serde::Serialize;
use serde_json::json;
use sluice_core::deployment::{Deployment, DeploymentId};
use sluice_core::ports::{Clock, DeploymentKey, Deployments, ServiceLocks, ServiceStates};
use sluice_core::service_state::ServiceState;
use sluice_core::timeline::Timeline;

use crate::args::Output;
use crate::backend::Ports;
use crate::error::{CliError, exit};
use crate::print;
use crate::rows::{ActiveRow, HistoryRow};

// ---------------------------------------------------------------------------------------------
// status, history, show

/// The deployments in progress: every service's lock holder and unfinished recent records.
pub async fn active(ports: &impl Ports, service: Option<&str>) -> Result<Vec<ActiveRow>, CliError> {
    let services = match service {
        Some(service) => vec![service.to_string()],
        None => crate::backend::services(ports).await?,
    };
    let mut rows = Vec::new();
    for service in services {
        let mut found: Vec<Deployment> = ports
            .store()
            .list(&service, 10)
            .await?
            .into_iter()
            .filter(|d| !d.status.is_terminal())
            .collect();
        if let Some(lock) = ports.store().lock(&service).await?
            && !found.iter().any(|d| d.id == lock.deployment.id)
            && let Some(holder) = ports.store().get(&lock.deployment).await?
            && !holder.status.is_terminal()
        {
            found.push(holder);
        }
        rows.extend(found.iter().map(ActiveRow::of));
    }
    rows.sort_by(|a, b| (&a.service, a.started_at).cmp(&(&b.service, b.started_at)));
    Ok(rows)
}

/// The state items (stable slot, versions, last deployment, queued release) of `service`, or
/// of every service that has one.
pub async fn service_states(
    ports: &impl Ports,
    service: Option<&str>,
) -> Result<Vec<ServiceState>, CliError> {
    let services = match service {
        Some(service) => vec![service.to_string()],
        None => crate::backend::services(ports).await?,
    };
    let mut states = Vec::new();
    for service in services {
        states.extend(ports.store().service_state(&service).await?);
    }
    Ok(states)
}

/// `status -o json`: the deployments in progress and the services' state items.
#[derive(Debug, Serialize)]
struct StatusJson<'a> {
    deployments: &'a [ActiveRow],
    services: &'a [ServiceState],
}

pub async fn status(
    ports: &impl Ports,
    service: Option<&str>,
    output: Output,
    out: &mut (dyn Write + Send),
) -> Result<u8, CliError> {
    let rows = active(ports, service).await?;
    let states = service_states(ports, service).await?;
    if output == Output::Json {
        let body = StatusJson {
            deployments: &rows,
            services: &states,
        };
        writeln!(out, "{}", serde_json::to_string_pretty(&body)?)?;
        return Ok(exit::OK);
    }
    let now = ports.clock().now();
    write!(out, "{}", print::status(&rows, service, now))?;
    if !states.is_empty() {
        write!(out, "\n{}", print::service_states(&states))?;
    }
    Ok(exit::OK)
}

pub async fn history_rows(
    ports: &impl Ports,
    service: &str,
    limit: usize,
) -> Result<Vec<HistoryRow>, CliError> {
    let now = ports.clock().now();
    Ok(ports
        .store()
        .list(service, limit)
        .await?
        .iter()
        .map(|d| {
            let ended_at = d
                .status
                .is_terminal()
                .then(|| d.outcome.as_ref().map(|o| o.at).unwrap_or(d.updated_at));
            HistoryRow {
                deployment_id: d.id.to_string(),
                version: d.spec.version.clone(),
                roles: d.roles.clone(),
                status: d.status,
                started_at: d.started_at,
                ended_at,
                duration_seconds: (ended_at.unwrap_or(now) - d.started_at).num_seconds(),
                outcome: d.outcome.as_ref().map(|o| o.reason.clone()),
                controller: d.controller.clone(),
            }
        })
        .collect())
}

/// `history -o json`: the service's state item and its deployments.
#[derive(Debug, Serialize)]
struct HistoryJson<'a> {
    state: Option<&'a ServiceState>,
    deployments: &'a [HistoryRow],
}

pub async fn history(
    ports: &impl Ports,
    service: &str,
    limit: usize,
    output: Output,
    out: &mut (dyn Write + Send),
) -> Result<u8, CliError> {
    let rows = history_rows(ports, service, limit).await?;
    let state = ports.store().service_state(service).await?;
    if output == Output::Json {
        let body = HistoryJson {
            state: state.as_ref(),
            deployments: &rows,
        };
        writeln!(out, "{}", serde_json::to_string_pretty(&body)?)?;
        return Ok(exit::OK);
    }
    if let Some(state) = &state {
        writeln!(
            out,
            "{}",
            print::service_states(std::slice::from_ref(state))
        )?;
    }
    write!(out, "{}", print::history(&rows, service))?;
    Ok(exit::OK)
}

/// A deployment by id, or `NotFound`.
pub async fn find(store: &impl Deployments, id: &str) -> Result<Deployment, CliError> {
    let parsed = DeploymentId::parse(id).map_err(|e| CliError::BadArgument {
        what: "deployment id".into(),
        message: e.to_string(),
    })?;
    store
        .find(&parsed)
        .await?
        .ok_or_else(|| CliError::NotFound(id.to_string()))
}

/// A deployment and its timeline.
pub async fn timeline(ports: &impl Ports, id: &str) -> Result<(Deployment, Timeline), CliError> {
    let found = find(ports.store(), id).await?;
    // `find` may lag a write; the keyed read is strongly consistent.
    let deployment = ports
        .store()
        .get(&DeploymentKey::of(&found))
        .await?
        .unwrap_or(found);
    let history = ports.store().history(&deployment.id).await?;
    let timeline = Timeline::build(&deployment, &history);
    Ok((deployment, timeline))
}

pub async fn show(
    ports: &impl Ports,
    id: &str,
    output: Output,
    out: &mut (dyn Write + Send),
) -> Result<u8, CliError> {
    let (deployment, timeline) = timeline(ports, id).await?;
    if output == Output::Json {
        let body = json!({"deployment": deployment, "timeline": timeline});
        writeln!(out, "{}", serde_json::to_string_pretty(&body)?)?;
        return Ok(exit::OK);
    }
    let history = ports.store().history(&deployment.id).await?;
    let now = ports.clock().now();
    write!(
        out,
        "{}",
        print::show(&deployment, &timeline, &history, now)
    )?;
    Ok(exit::OK)
}
