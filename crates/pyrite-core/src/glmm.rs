//! Thin helpers for generalised linear mixed models, written on top of the language: checked
//! data columns and random-effect blocks.

use tch::{Kind, Tensor};

use crate::error::{PyriteError, Result};
use crate::plate::plate;
use crate::primitives::sample;
use pyrite_distributions::Normal;

/// Checks that a data column has `n` rows (shape `[n]`) and only finite values; the error names
/// the column.
///
/// ```
/// use pyrite_core::glmm::check_column;
/// let x = tch::Tensor::from_slice(&[1.0f32, f32::NAN]);
/// assert!(check_column("floor", &x, 2).is_err());
/// assert!(check_column("floor", &x, 3).is_err());
/// ```
pub fn check_column(name: &str, column: &Tensor, n: i64) -> Result<()> {
    if column.size() != [n] {
        return Err(PyriteError::InvalidInput { what: name.to_string(), problem: format!("has shape {:?}, expected [{n}]", column.size()) });
    }
    if column.is_floating_point() && !bool::try_from(column.isfinite().all()).unwrap_or(false) {
        return Err(PyriteError::NonFinite { site: name.to_string(), what: "a value of this data column".into() });
    }
    Ok(())
}

/// Random intercepts: one effect per group, `effect ~ Normal(0, scale)` in a plate
/// `"{name}_plate"` of `num_groups`, returned per row as `effect[group_index]`. Group indices
/// outside `0..num_groups` are an error naming the site.
///
/// ```
/// use pyrite_core::prelude::*;
/// use pyrite_core::glmm::random_intercepts;
/// let groups = tch::Tensor::from_slice(&[0i64, 2, 1, 2]);
/// let scale = tch::Tensor::from(0.5f32);
/// let per_row = random_intercepts("county_effect", &groups, 3, &scale)?;
/// assert_eq!(per_row.size(), vec![4]);
/// assert!(random_intercepts("county_effect", &groups, 2, &scale).is_err());
/// # Ok::<(), PyriteError>(())
/// ```
pub fn random_intercepts(name: &str, group_index: &Tensor, num_groups: i64, scale: &Tensor) -> Result<Tensor> {
    if group_index.dim() != 1 || !matches!(group_index.kind(), Kind::Int64 | Kind::Int) {
        return Err(PyriteError::InvalidInput {
            what: name.to_string(),
            problem: format!("group index must be a 1-d integer tensor, got {:?} {:?}", group_index.kind(), group_index.size()),
        });
    }
    if group_index.numel() > 0 {
        let (lo, hi) = (group_index.min().int64_value(&[]), group_index.max().int64_value(&[]));
        if lo < 0 || hi >= num_groups {
            let bad = if lo < 0 { lo } else { hi };
            return Err(PyriteError::InvalidInput { what: name.to_string(), problem: format!("group index {bad} is out of range 0..{num_groups}") });
        }
    }
    let effect = plate(&format!("{name}_plate"), num_groups, |_| sample(name, Normal::new(0.0, scale)?))?;
    Ok(effect.index_select(-1, group_index))
}
