//! The posterior families of the continuous autoguides: full-rank, diagonal and low-rank
//! Gaussians over the flat unconstrained vector, each with its params and constructors.

use pyrite_core::prelude::*;
use pyrite_distributions::prelude::*;
use tch::Tensor;

use super::continuous::AutoContinuous;
use super::init::InitStrategy;

mod sealed {
    /// Only this crate's families can parameterise [`AutoContinuous`](super::AutoContinuous).
    pub trait Sealed {}
}

/// The family of the joint posterior of an [`AutoContinuous`] guide: its distribution, its
/// params and their names (sealed: the three families below).
pub trait Family: sealed::Sealed {
    /// The posterior's distribution.
    type Dist: Distribution + 'static;
    /// Pyro's name of the guide: the default prefix of its params and of its joint site.
    const NAME: &'static str;
    /// The names of its params after `loc` (the param `{prefix}.{name}`), in order of creation.
    const PARAMS: &'static [&'static str];
    /// The posterior over a flat vector with mean `loc` (`[d]`); `names` are the full names of
    /// the params of [`PARAMS`](Self::PARAMS), initialised from `init_scale` on first use.
    ///
    /// # Errors
    ///
    /// A param the store holds with another shape or constraint; the distribution refusing the
    /// params.
    fn posterior(&self, loc: Tensor, names: &[String], init_scale: f64) -> Result<Self::Dist>;
    /// The posterior's covariance matrix (`[d, d]`).
    ///
    /// # Errors
    ///
    /// The distribution's, for moments it cannot give.
    fn covariance(&self, posterior: &Self::Dist) -> Result<Tensor>;
}

/// A full-rank multivariate normal: Pyro's `AutoMultivariateNormal`.
#[derive(Debug, Clone, Copy)]
pub struct FullRank;

/// A diagonal normal: Pyro's `AutoDiagonalNormal`.
#[derive(Debug, Clone, Copy)]
pub struct Diagonal;

/// A low-rank-plus-diagonal normal of a given rank: Pyro's `AutoLowRankMultivariateNormal`.
#[derive(Debug, Clone, Copy)]
pub struct LowRank {
    rank: i64,
}

impl LowRank {
    /// The rank of the covariance's factor.
    pub fn rank(&self) -> i64 {
        self.rank
    }
}

impl sealed::Sealed for FullRank {}
impl sealed::Sealed for Diagonal {}
impl sealed::Sealed for LowRank {}

/// `[d]` and the options of the flat vector.
fn layout(loc: &Tensor) -> (i64, (tch::Kind, tch::Device)) {
    (loc.size()[0], (loc.kind(), loc.device()))
}

impl Family for FullRank {
    type Dist = MultivariateNormal;
    const NAME: &'static str = "AutoMultivariateNormal";
    const PARAMS: &'static [&'static str] = &["scale_tril", "scale"];

    fn posterior(&self, loc: Tensor, names: &[String], init_scale: f64) -> Result<MultivariateNormal> {
        let (d, opts) = layout(&loc);
        // Pyro's parameterisation: per-coordinate scales times a unit lower-triangular factor,
        // which optimises far better than a raw Cholesky factor.
        let scale = param(&names[1], lazy(move || Tensor::full([d], init_scale, opts)), Constraint::Positive)?;
        let strict = param(&names[0], lazy(move || Tensor::zeros([d, d], opts)), Constraint::Real)?;
        let unit = strict.tril(-1) + Tensor::eye(d, opts);
        Ok(MultivariateNormal::from_scale_tril(loc, scale.unsqueeze(-1) * unit)?)
    }

    fn covariance(&self, posterior: &MultivariateNormal) -> Result<Tensor> {
        Ok(posterior.covariance())
    }
}

impl Family for Diagonal {
    type Dist = Independent;
    const NAME: &'static str = "AutoDiagonalNormal";
    const PARAMS: &'static [&'static str] = &["scale"];

    fn posterior(&self, loc: Tensor, names: &[String], init_scale: f64) -> Result<Independent> {
        let (d, opts) = layout(&loc);
        let scale = param(&names[0], lazy(move || Tensor::full([d], init_scale, opts)), Constraint::Positive)?;
        Ok(Normal::new(loc, scale)?.to_event(1)?)
    }

    fn covariance(&self, posterior: &Independent) -> Result<Tensor> {
        Ok(posterior.variance()?.diag_embed(0, -2, -1))
    }
}

impl Family for LowRank {
    type Dist = LowRankMultivariateNormal;
    const NAME: &'static str = "AutoLowRankMultivariateNormal";
    const PARAMS: &'static [&'static str] = &["cov_factor", "cov_diag"];

    fn posterior(&self, loc: Tensor, names: &[String], init_scale: f64) -> Result<LowRankMultivariateNormal> {
        let (d, opts) = layout(&loc);
        let rank = self.rank;
        let w = param(&names[0], lazy(move || Tensor::zeros([d, rank], opts)), Constraint::Real)?;
        let diag = param(&names[1], lazy(move || Tensor::full([d], init_scale * init_scale, opts)), Constraint::Positive)?;
        Ok(LowRankMultivariateNormal::new(loc, w, diag)?)
    }

    fn covariance(&self, posterior: &LowRankMultivariateNormal) -> Result<Tensor> {
        let w = &posterior.cov_factor;
        Ok(w.matmul(&w.transpose(-2, -1)) + posterior.cov_diag.diag_embed(0, -2, -1))
    }
}

impl AutoContinuous<FullRank> {
    /// A full-rank multivariate normal guide (Pyro's `AutoMultivariateNormal`), with
    /// `init_to_median` and an initial scale of 0.1.
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
    /// let guide = AutoMultivariateNormal::new(&model, &data)?;
    /// let mut svi = Svi::new(&model, &guide, Optimizer::adam(0.05), TraceElbo::new());
    /// for _ in 0..20 {
    ///     svi.step(&data)?;
    /// }
    /// // One Gaussian over the unconstrained (mu, log sigma), with a full covariance.
    /// assert_eq!(guide.covariance()?.size(), vec![2, 2]);
    /// assert_eq!(guide.posterior()?.scale_tril.size(), vec![2, 2]);
    /// let draws = guide.sample_posterior(100)?;
    /// assert_eq!(draws["sigma"].size(), vec![100]);
    /// assert!(draws["sigma"].min().double_value(&[]) > 0.0);
    /// # Ok::<(), PyriteError>(())
    /// ```
    ///
    /// # Errors
    ///
    /// The model's errors in the prototype run; [`PyriteError::Enumerate`] for a discrete latent
    /// site not marked for enumeration; [`PyriteError::Plate`] for a subsampled plate.
    pub fn new<A: ?Sized, R>(model: &impl Fn(&A) -> Result<R>, args: &A) -> Result<Self> {
        Self::with_init(model, args, InitStrategy::Median, 0.1)
    }

    /// The same with a given init strategy and initial scale.
    ///
    /// # Errors
    ///
    /// As [`new`](Self::new).
    pub fn with_init<A: ?Sized, R>(model: &impl Fn(&A) -> Result<R>, args: &A, init: InitStrategy, init_scale: f64) -> Result<Self> {
        Self::build(model, args, FullRank, init, init_scale)
    }
}

impl AutoContinuous<Diagonal> {
    /// A diagonal normal guide (Pyro's `AutoDiagonalNormal`): one flat vector of independent
    /// normals, with `init_to_median` and an initial scale of 0.1.
    ///
    /// ```
    /// use pyrite_core::prelude::*;
    /// use pyrite_distributions::prelude::*;
    /// use pyrite_infer::prelude::*;
    /// let model = |_: &()| -> Result<()> {
    ///     sample("mu", Normal::new(0.0, 1.0)?)?;
    ///     sample("sigma", LogNormal::new(0.0, 1.0)?)?;
    ///     Ok(())
    /// };
    /// let guide = AutoDiagonalNormal::new(&model, &())?;
    /// assert_eq!(guide.prefix(), "AutoDiagonalNormal");
    /// // The covariance of the unconstrained (mu, log sigma): 0.1² on the diagonal.
    /// let cov = guide.covariance()?;
    /// assert!((cov.double_value(&[1, 1]) - 0.01).abs() < 1e-6 && cov.double_value(&[0, 1]) == 0.0);
    /// # Ok::<(), PyriteError>(())
    /// ```
    ///
    /// # Errors
    ///
    /// As [`AutoMultivariateNormal::new`](super::AutoMultivariateNormal::new).
    pub fn new<A: ?Sized, R>(model: &impl Fn(&A) -> Result<R>, args: &A) -> Result<Self> {
        Self::with_init(model, args, InitStrategy::Median, 0.1)
    }

    /// The same with a given init strategy and initial scale.
    ///
    /// # Errors
    ///
    /// As [`AutoMultivariateNormal::new`](super::AutoMultivariateNormal::new).
    pub fn with_init<A: ?Sized, R>(model: &impl Fn(&A) -> Result<R>, args: &A, init: InitStrategy, init_scale: f64) -> Result<Self> {
        Self::build(model, args, Diagonal, init, init_scale)
    }
}

impl AutoContinuous<LowRank> {
    /// A low-rank-plus-diagonal guide of the given rank (Pyro's
    /// `AutoLowRankMultivariateNormal`), with `init_to_median` and an initial scale of 0.1.
    ///
    /// ```
    /// use pyrite_core::prelude::*;
    /// use pyrite_distributions::prelude::*;
    /// use pyrite_infer::prelude::*;
    /// let model = |_: &()| -> Result<()> {
    ///     sample("x", Normal::new(tch::Tensor::zeros([3], (tch::Kind::Float, tch::Device::Cpu)), 1.0)?.to_event(1)?)?;
    ///     Ok(())
    /// };
    /// let guide = AutoLowRankMultivariateNormal::new(&model, &(), 2)?;
    /// assert_eq!(guide.family().rank(), 2);
    /// assert_eq!(guide.posterior()?.cov_factor.size(), vec![3, 2]);
    /// assert!(AutoLowRankMultivariateNormal::new(&model, &(), 0).is_err());
    /// # Ok::<(), PyriteError>(())
    /// ```
    ///
    /// # Errors
    ///
    /// [`PyriteError::InvalidInput`] for a rank that is not positive; as
    /// [`AutoMultivariateNormal::new`](super::AutoMultivariateNormal::new).
    pub fn new<A: ?Sized, R>(model: &impl Fn(&A) -> Result<R>, args: &A, rank: i64) -> Result<Self> {
        Self::with_init(model, args, rank, InitStrategy::Median, 0.1)
    }

    /// The same with a given init strategy and initial scale.
    ///
    /// # Errors
    ///
    /// As [`new`](Self::new).
    pub fn with_init<A: ?Sized, R>(model: &impl Fn(&A) -> Result<R>, args: &A, rank: i64, init: InitStrategy, init_scale: f64) -> Result<Self> {
        if rank <= 0 {
            return Err(PyriteError::InvalidInput { what: "rank".into(), problem: format!("must be positive, got {rank}") });
        }
        Self::build(model, args, LowRank { rank }, init, init_scale)
    }
}
