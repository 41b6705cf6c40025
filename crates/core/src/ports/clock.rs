//! Time.

use std::future::Future;
use std::time::Duration;

use chrono::{DateTime, Utc};

/// The current time, and waiting. The core never reads the clock or sleeps by itself, so
/// tests can run hours of deployment in no time.
pub trait Clock: Send + Sync {
    fn now(&self) -> DateTime<Utc>;

    fn sleep(&self, duration: Duration) -> impl Future<Output = ()> + Send;
}
