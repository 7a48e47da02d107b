//! The `AutoGuide` trait: what every autoguide offers, and the posterior it returns.

use indexmap::IndexMap;
use pyrite_core::prelude::*;
use pyrite_distributions::DistRef;
use tch::Tensor;

use super::prototype::Prototype;
use super::sample_guide;
use crate::svi::Guide;

/// An automatic guide: it covers the latent sites of a model found by one run of it, draws them
/// (its guide call), and summarises the posterior it fits. Pyro's `AutoGuide`.
///
/// An autoguide does not read the model's arguments once it is built, so each is a
/// [`Guide<A>`] for every `A` (and so is `dyn AutoGuide`); its methods need no `A` either, so
/// `guide.median()` needs no annotation. Implemented by [`AutoNormal`](super::AutoNormal),
/// [`AutoDelta`](super::AutoDelta), [`AutoMultivariateNormal`](super::AutoMultivariateNormal),
/// [`AutoDiagonalNormal`](super::AutoDiagonalNormal),
/// [`AutoLowRankMultivariateNormal`](super::AutoLowRankMultivariateNormal) and
/// [`AutoGuideList`](super::AutoGuideList).
///
/// ```
/// use pyrite_core::prelude::*;
/// use pyrite_distributions::prelude::*;
/// use pyrite_infer::prelude::*;
/// use tch::Tensor;
/// let data = Tensor::from_slice(&[1.0f32, 2.0, 3.0]);
/// let model = |x: &Tensor| -> Result<()> {
///     let mu = sample("mu", Normal::new(0.0, 10.0)?)?;
///     let sigma = sample("sigma", LogNormal::new(0.0, 1.0)?)?;
///     plate("data", 3, |_| observe("obs", Normal::new(&mu, &sigma)?, x))?;
///     Ok(())
/// };
/// // One code path for either family, through `dyn AutoGuide`.
/// for full_rank in [false, true] {
///     let guide: Box<dyn AutoGuide> =
///         if full_rank { Box::new(AutoMultivariateNormal::new(&model, &data)?) } else { Box::new(AutoNormal::new(&model, &data)?) };
///     let mut svi = Svi::new(&model, &*guide, Optimizer::adam(0.05), TraceElbo::new());
///     for _ in 0..20 {
///         svi.step(&data)?;
///     }
///     let (qs, median) = (guide.quantiles(&[0.05, 0.95])?, guide.median()?);
///     assert!(qs[0]["sigma"].double_value(&[]) < median["sigma"].double_value(&[]));
///     assert!(median["sigma"].double_value(&[]) < qs[1]["sigma"].double_value(&[]));
///     assert_eq!(guide.sample_posterior(10)?["mu"].size(), vec![10]);
/// }
/// # Ok::<(), PyriteError>(())
/// ```
pub trait AutoGuide {
    /// The latent sites the guide covers, in the order it draws them, and their plates.
    fn prototype(&self) -> &Prototype;

    /// Draws every latent site once inside plates already built by
    /// [`Prototype::build_plates`]: the guide's own, or those an
    /// [`AutoGuideList`](super::AutoGuideList) shares among its parts, so that a subsampled plate
    /// draws one subsample for all of them.
    ///
    /// # Errors
    ///
    /// A param of the guide's that the store holds with another shape or constraint
    /// ([`PyriteError::Param`]); a distribution refusing the params.
    fn sample_sites_in(&self, plates: &[(String, BuiltPlate)]) -> Result<()>;

    /// The `q`-quantile of each site's posterior marginal, in the constrained space: the
    /// transformed quantile of each unconstrained coordinate (exact for univariate supports).
    ///
    /// # Errors
    ///
    /// As [`sample_sites_in`](Self::sample_sites_in).
    fn quantile(&self, q: f64) -> Result<IndexMap<String, Tensor>>;

    /// The posterior the guide fits: for the continuous family, the joint distribution of the
    /// flat unconstrained vector (Pyro's `get_posterior`); for `AutoNormal` and `AutoDelta`, the
    /// distribution each site is drawn from (Pyro's `AutoNormalMessenger.get_posterior` and
    /// `AutoDeltaMessenger.get_posterior`).
    ///
    /// # Errors
    ///
    /// As [`sample_sites_in`](Self::sample_sites_in).
    fn get_posterior(&self) -> Result<GuidePosterior>;

    /// Draws every latent site once: the guide call (`Guide::call` ignores its arguments).
    ///
    /// # Errors
    ///
    /// A plate the model refuses ([`PyriteError::Plate`]); as
    /// [`sample_sites_in`](Self::sample_sites_in).
    fn sample_sites(&self) -> Result<()> {
        let plates = self.prototype().build_plates()?;
        self.sample_sites_in(&plates)
    }

    /// The posterior median of each site.
    ///
    /// # Errors
    ///
    /// As [`quantile`](Self::quantile).
    fn median(&self) -> Result<IndexMap<String, Tensor>> {
        self.quantile(0.5)
    }

    /// Quantiles for several levels: level → site → tensor.
    ///
    /// # Errors
    ///
    /// As [`quantile`](Self::quantile).
    fn quantiles(&self, qs: &[f64]) -> Result<Vec<IndexMap<String, Tensor>>> {
        qs.iter().map(|&q| self.quantile(q)).collect()
    }

    /// `n` joint posterior samples of every latent site, drawn at once in an outer plate: site
    /// → tensor with a leading dimension of size `n`.
    ///
    /// # Errors
    ///
    /// As [`sample_sites`](Self::sample_sites); [`PyriteError::Shape`] for a site of a
    /// subsampled plate (its draws cover the subsample, not the whole plate).
    fn sample_posterior(&self, n: i64) -> Result<IndexMap<String, Tensor>> {
        let proto = self.prototype();
        sample_guide(n, proto.max_plate_nesting, &|| self.sample_sites(), &proto.sites)
    }
}

/// Every autoguide is a [`Guide`]: by value, by reference and shared in an `Rc` (so that an
/// [`Svi`](crate::svi::Svi) can own it while the caller keeps a handle).
macro_rules! autoguide_is_guide {
    ($([$($generics:tt)*] $t:ty),* $(,)?) => {$(
        impl<A: ?Sized, $($generics)*> Guide<A> for $t {
            fn call(&self, _args: &A) -> Result<()> {
                self.sample_sites()
            }
        }
        impl<A: ?Sized, $($generics)*> Guide<A> for &$t {
            fn call(&self, _args: &A) -> Result<()> {
                (**self).sample_sites()
            }
        }
        impl<A: ?Sized, $($generics)*> Guide<A> for std::rc::Rc<$t> {
            fn call(&self, _args: &A) -> Result<()> {
                (**self).sample_sites()
            }
        }
    )*};
}

autoguide_is_guide!(
    [] super::AutoNormal,
    [] super::AutoDelta,
    [] super::AutoGuideList,
    [F: super::Family] super::AutoContinuous<F>,
);

impl<A: ?Sized> Guide<A> for dyn AutoGuide + '_ {
    fn call(&self, _args: &A) -> Result<()> {
        self.sample_sites()
    }
}

impl<A: ?Sized> Guide<A> for &(dyn AutoGuide + '_) {
    fn call(&self, _args: &A) -> Result<()> {
        self.sample_sites()
    }
}

/// The posterior an autoguide fits, as [`AutoGuide::get_posterior`] returns it.
pub enum GuidePosterior {
    /// One distribution over the flat vector of all latent sites' unconstrained values, laid out
    /// in the order of the guide's [`Prototype`] (the `AutoContinuous` family).
    Joint(DistRef),
    /// One distribution per latent site, over its constrained value.
    Sites(IndexMap<String, DistRef>),
    /// The parts' posteriors of an [`AutoGuideList`](super::AutoGuideList), in order.
    Parts(Vec<GuidePosterior>),
}

impl GuidePosterior {
    /// The joint distribution, for a guide of the continuous family.
    pub fn joint(&self) -> Option<&DistRef> {
        match self {
            GuidePosterior::Joint(d) => Some(d),
            _ => None,
        }
    }

    /// The distribution of one site, for a guide that has one per site (or a list with such a
    /// part).
    pub fn site(&self, name: &str) -> Option<&DistRef> {
        match self {
            GuidePosterior::Joint(_) => None,
            GuidePosterior::Sites(sites) => sites.get(name),
            GuidePosterior::Parts(parts) => parts.iter().find_map(|p| p.site(name)),
        }
    }
}
