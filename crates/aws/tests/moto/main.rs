//! The adapters against moto server: real HTTP, the real SDK clients, built by
//! `sluice_aws::config`. Every test names its resources uniquely, so all of them can share one
//! moto (`SLUICE_MOTO_ENDPOINT`) and run concurrently.
#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "../fixtures/mod.rs"]
mod fixtures;

mod cloudwatch;
mod dynamodb;
mod route53;
mod service_state;
mod sfn;
mod sns;

use sluice_aws::SdkConfig;
use sluice_testkit::moto::Moto;

/// A moto (shared or private; a private one stops when this is dropped) and an SDK
/// configuration pointing at it.
pub struct Aws {
    pub moto: Moto,
    pub config: SdkConfig,
}

pub async fn aws() -> Aws {
    let moto = Moto::from_env()
        .await
        .expect("moto server (run scripts/setup)");
    let config = sluice_aws::config::load_for_endpoint(moto.endpoint_url()).await;
    Aws { moto, config }
}
