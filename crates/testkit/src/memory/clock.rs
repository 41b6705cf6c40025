//! A clock that only moves when told to.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{DateTime, TimeZone, Utc};
use sluice_core::ports::*;

/// A clock that only moves when told to, or when something sleeps on it.
#[derive(Clone)]
pub struct ManualClock {
    now: Arc<Mutex<DateTime<Utc>>>,
}

impl Default for ManualClock {
    fn default() -> Self {
        ManualClock {
            now: Arc::new(Mutex::new(
                Utc.with_ymd_and_hms(2026, 11, 1, 12, 0, 0).unwrap(),
            )),
        }
    }
}

impl ManualClock {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn advance(&self, seconds: i64) {
        *self.now.lock().unwrap() += chrono::Duration::seconds(seconds);
    }

    pub fn set(&self, at: DateTime<Utc>) {
        *self.now.lock().unwrap() = at;
    }
}

impl Clock for ManualClock {
    fn now(&self) -> DateTime<Utc> {
        *self.now.lock().unwrap()
    }

    async fn sleep(&self, duration: Duration) {
        *self.now.lock().unwrap() += chrono::Duration::from_std(duration).unwrap_or_default();
    }
}
