//! Autoguides: guides built automatically from a model, one family per module, all behind the
//! [`AutoGuide`] trait; [`AutoGuideList`] combines several over disjoint sites.

mod continuous;
mod delta;
mod family;
mod guide;
mod init;
mod list;
mod normal;
mod prototype;

pub use continuous::{AutoContinuous, AutoDiagonalNormal, AutoLowRankMultivariateNormal, AutoMultivariateNormal};
pub use delta::AutoDelta;
pub use family::{Diagonal, Family, FullRank, LowRank};
pub use guide::{AutoGuide, GuidePosterior};
pub use init::InitStrategy;
pub use list::AutoGuideList;
pub use normal::AutoNormal;
pub use prototype::{LatentSite, PlateInfo, Prototype};

use indexmap::IndexMap;
use pyrite_core::prelude::*;
use tch::Tensor;

use prototype::LatentSite as Site;

/// `sqrt(2) * erfinv(2q - 1)`: the standard normal quantile.
pub(crate) fn normal_quantile(q: f64) -> f64 {
    let t = Tensor::from(2.0 * q - 1.0).erfinv();
    std::f64::consts::SQRT_2 * t.double_value(&[])
}

/// Draws `n` joint samples of a guide's latent sites at once, in an outer plate, hidden from
/// outer handlers: name → tensor with a leading dimension of size `n`.
pub(crate) fn sample_guide(n: i64, max_plate_nesting: usize, guide: &dyn Fn() -> Result<()>, sites: &[Site]) -> Result<IndexMap<String, Tensor>> {
    let dim = -(max_plate_nesting as i64) - 1;
    let tr = tch::no_grad(|| block(BlockSpec::All, || get_trace(|| Plate::new("_autoguide_samples", n).dim(dim).run(|_| guide()))))?;
    let mut out = IndexMap::new();
    for site in sites {
        if let Some(s) = tr.site(&site.name) {
            let mut shape = vec![n];
            shape.extend_from_slice(&site.shape);
            let value = s.value.detach().f_reshape(shape.as_slice()).map_err(|_| PyriteError::Shape {
                site: site.name.clone(),
                detail: format!("{n} posterior draws of shape {:?} do not fill the site's shape {:?} (a subsampled plate?)", s.value.size(), site.shape),
            })?;
            out.insert(site.name.clone(), value);
        }
    }
    Ok(out)
}
