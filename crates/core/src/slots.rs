//! Slots and their roles: a service's two weighted records are permanent slots (by default
//! `blue` and `green`); which one is stable and which one is the canary is decided per
//! deployment, from where the traffic is when it starts.

use serde::{Deserialize, Serialize};

/// The two roles of one deployment, by slot name (the records' set identifiers).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SlotRoles {
    /// The slot that carried all traffic when the deployment started: the baseline, and where
    /// every rollback returns traffic.
    pub stable: String,
    /// The idle slot that runs the new version; after a promotion it is the next deployment's
    /// stable slot.
    pub canary: String,
}

impl SlotRoles {
    pub fn new(stable: impl Into<String>, canary: impl Into<String>) -> SlotRoles {
        SlotRoles {
            stable: stable.into(),
            canary: canary.into(),
        }
    }

    /// The roles of the next deployment after this one was promoted.
    pub fn swapped(&self) -> SlotRoles {
        SlotRoles {
            stable: self.canary.clone(),
            canary: self.stable.clone(),
        }
    }
}

impl Default for SlotRoles {
    /// The roles of a service's first deployment with the default slot names.
    fn default() -> Self {
        SlotRoles::new("blue", "green")
    }
}

impl std::fmt::Display for SlotRoles {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "stable {} / canary {}", self.stable, self.canary)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn swapping_makes_the_canary_the_next_stable_slot() {
        let roles = SlotRoles::new("blue", "green");
        assert_eq!(roles.swapped(), SlotRoles::new("green", "blue"));
        assert_eq!(roles.swapped().swapped(), roles);
    }
}
