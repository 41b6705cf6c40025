//! A service's stored defaults under each request.

use serde_json::Value;

/// The request as sent, laid over the service's stored defaults: objects merge key by key,
/// anything else in the request (arrays included) replaces the default.
pub fn merge_over_defaults(defaults: &Value, request: &Value) -> Value {
    match (defaults, request) {
        // A request that names another kind (of strategy, of query) replaces the default whole:
        // a canary's steps mean nothing to a linear strategy.
        (Value::Object(base), Value::Object(over))
            if base
                .get("kind")
                .is_none_or(|kind| over.get("kind").is_none_or(|k| k == kind)) =>
        {
            let mut merged = base.clone();
            for (key, value) in over {
                let next = match merged.get(key) {
                    Some(existing) => merge_over_defaults(existing, value),
                    None => value.clone(),
                };
                merged.insert(key.clone(), next);
            }
            Value::Object(merged)
        }
        (_, over) => over.clone(),
    }
}
