//! Checks of the judge's parameters, each error naming the field (as the spec spells it) and
//! the value it got.

/// A judge parameter outside its range.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum JudgeParamError {
    #[error("{field} must be greater than 0 and at most 0.5, got {value}")]
    Alpha { field: String, value: f64 },
    #[error(
        "{field} must be greater than 1 (a canary rate this many times stable's fails), got {value}"
    )]
    MaxRatio { field: String, value: f64 },
    #[error("{field} must be greater than 0.5 and less than 1, got {value}")]
    MaxWorseShare { field: String, value: f64 },
    #[error(
        "{field} ({value} s) must be at least the metric period ({period_seconds} s): a look needs a new period"
    )]
    CheckBelowPeriod {
        field: String,
        value: u64,
        period_seconds: u64,
    },
    #[error(
        "{field} ({value} s) must be at most the bake ({bake_seconds} s): the step needs a look"
    )]
    CheckAboveBake {
        field: String,
        value: u64,
        bake_seconds: u64,
    },
    #[error("{field} must be greater than 0, got {value}")]
    NotPositive { field: String, value: f64 },
    #[error("{field} must be greater than 0 and less than 1, got {value}")]
    NotAShare { field: String, value: f64 },
    #[error("{field} must be at least 1, got 0")]
    NoSteps { field: String },
}

/// `alpha` in `(0, 0.5]`.
pub fn check_alpha(field: &str, value: f64) -> Result<f64, JudgeParamError> {
    if value > 0.0 && value <= 0.5 {
        Ok(value)
    } else {
        Err(JudgeParamError::Alpha {
            field: field.to_owned(),
            value,
        })
    }
}

/// `maxRatio` above 1 (and finite).
pub fn check_max_ratio(field: &str, value: f64) -> Result<f64, JudgeParamError> {
    if value > 1.0 && value.is_finite() {
        Ok(value)
    } else {
        Err(JudgeParamError::MaxRatio {
            field: field.to_owned(),
            value,
        })
    }
}

/// The paired-period test's pass bound in `(0.5, 1)`.
pub fn check_max_worse_share(field: &str, value: f64) -> Result<f64, JudgeParamError> {
    if value > 0.5 && value < 1.0 {
        Ok(value)
    } else {
        Err(JudgeParamError::MaxWorseShare {
            field: field.to_owned(),
            value,
        })
    }
}

/// `checkSeconds` between the metric period and the bake.
pub fn check_check_seconds(
    field: &str,
    value: u64,
    period_seconds: u64,
    bake_seconds: u64,
) -> Result<u64, JudgeParamError> {
    if value < period_seconds {
        return Err(JudgeParamError::CheckBelowPeriod {
            field: field.to_owned(),
            value,
            period_seconds,
        });
    }
    if value > bake_seconds {
        return Err(JudgeParamError::CheckAboveBake {
            field: field.to_owned(),
            value,
            bake_seconds,
        });
    }
    Ok(value)
}

/// Each analysed step's alpha when the deployment's `alpha` is split evenly over `steps`
/// (Bonferroni: each step's test starts fresh, so a union bound keeps the deployment's chance
/// of any false rollback at most `alpha`).
pub fn alpha_per_step(alpha: f64, steps: usize) -> Result<f64, JudgeParamError> {
    let alpha = check_alpha("alpha", alpha)?;
    if steps == 0 {
        return Err(JudgeParamError::NoSteps {
            field: "steps".to_owned(),
        });
    }
    Ok(alpha / steps as f64)
}
