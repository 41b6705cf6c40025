//! The ports a Lambda runs on: the one bundle ([`Ports`]) that the CLI uses too, built on AWS
//! at cold start from the handler's [`Config`], with the store printing its metrics.

use sluice_aws::{AwsPorts, DynamoDbStore, SdkConfig};
pub use sluice_core::ports::Ports;

use crate::config::{Config, ConfigError};
use crate::emf::MeteredStore;

/// Ports with the settings they were built from, for the steps that read a setting (sync
/// limits, the state machine a function must know).
pub trait Configured: Ports {
    fn config(&self) -> &Config;
}

/// The real ports for a handler.
pub struct HandlerPorts {
    config: Config,
    ports: AwsPorts<MeteredStore<DynamoDbStore>>,
}

impl HandlerPorts {
    /// Reads the configuration from the environment and builds every client.
    pub async fn from_env() -> Result<HandlerPorts, ConfigError> {
        let config = Config::from_env()?;
        let sdk = sluice_aws::config::load().await;
        Ok(HandlerPorts::new(config, &sdk))
    }

    pub fn new(config: Config, sdk: &SdkConfig) -> HandlerPorts {
        let ports = AwsPorts::new(sdk, &config.settings()).map_store(MeteredStore);
        HandlerPorts { config, ports }
    }
}

impl Configured for HandlerPorts {
    fn config(&self) -> &Config {
        &self.config
    }
}

impl Ports for HandlerPorts {
    type Store = MeteredStore<DynamoDbStore>;
    type Router = <AwsPorts as Ports>::Router;
    type Metrics = <AwsPorts as Ports>::Metrics;
    type Alarms = <AwsPorts as Ports>::Alarms;
    type Notifier = <AwsPorts as Ports>::Notifier;
    type Orchestrator = <AwsPorts as Ports>::Orchestrator;
    type Clock = <AwsPorts as Ports>::Clock;

    fn store(&self) -> &Self::Store {
        self.ports.store()
    }
    fn router(&self) -> &Self::Router {
        self.ports.router()
    }
    fn metrics(&self) -> &Self::Metrics {
        self.ports.metrics()
    }
    fn alarms(&self) -> &Self::Alarms {
        self.ports.alarms()
    }
    fn notifier(&self) -> &Self::Notifier {
        self.ports.notifier()
    }
    fn orchestrator(&self) -> &Self::Orchestrator {
        self.ports.orchestrator()
    }
    fn clock(&self) -> &Self::Clock {
        self.ports.clock()
    }
}
