//! Notifications in memory: every one sent is kept.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::{Arc, Mutex};

use sluice_core::ports::*;

use super::Faults;

/// Keeps every notification sent.
#[derive(Default, Clone)]
pub struct MemoryNotifier {
    sent: Arc<Mutex<Vec<Notification>>>,
    failing: Arc<Mutex<bool>>,
    faults: Faults,
}

impl MemoryNotifier {
    pub fn new() -> Self {
        Self::default()
    }

    /// A topic whose publishes meet the faults (and yield as) `faults` says.
    pub fn with_faults(faults: &Faults) -> Self {
        MemoryNotifier {
            faults: faults.clone(),
            ..Self::default()
        }
    }

    pub fn sent(&self) -> Vec<Notification> {
        self.sent.lock().unwrap().clone()
    }

    /// Every publish fails from now on.
    pub fn break_topic(&self) {
        *self.failing.lock().unwrap() = true;
    }
}

impl Notifier for MemoryNotifier {
    async fn notify(&self, notification: &Notification) -> Result<(), NotifyError> {
        let injected = self.faults.enter("Publish").await.is_some();
        if injected || *self.failing.lock().unwrap() {
            return Err(NotifyError::Unavailable {
                topic: "memory".into(),
                message: "broken".into(),
            });
        }
        self.sent.lock().unwrap().push(notification.clone());
        Ok(())
    }
}
