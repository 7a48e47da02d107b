//! The `Distribution` trait and the helpers every family shares.

use std::fmt;
use std::rc::Rc;

use tch::{Device, Kind, Tensor};

use crate::constraints::Constraint;
use crate::error::{DistError, Result};
use crate::shape::{broadcast_shapes, concat};
use crate::validation::validation_enabled;

/// A shared, type-erased distribution, as sample sites and traces hold them.
pub type DistRef = Rc<dyn Distribution>;

/// A probability distribution with torch.distributions semantics: a batch of independent
/// distributions (`batch_shape`) over events of `event_shape`.
///
/// ```
/// use pyrite_distributions::prelude::*;
/// let d = Normal::new(0.0, 1.0).unwrap();
/// let lp = d.log_prob(&tch::Tensor::from(0.0)).unwrap();
/// assert!((lp.double_value(&[]) + 0.9189385).abs() < 1e-6);
/// ```
pub trait Distribution: AsAny + fmt::Debug {
    /// The family's name, as in `Normal`.
    fn name(&self) -> &'static str;
    /// The shape of the batch of independent distributions.
    fn batch_shape(&self) -> &[i64];
    /// The shape of one event (empty for univariate families).
    fn event_shape(&self) -> &[i64] {
        &[]
    }
    /// The set the values lie in.
    fn support(&self) -> Constraint;
    /// Whether `rsample` gives reparameterised (differentiable) samples.
    fn has_rsample(&self) -> bool {
        false
    }
    /// Whether the family is discrete with a finite support that `enumerate_support` lists.
    fn has_enumerate_support(&self) -> bool {
        false
    }
    /// The dtype and device of the values.
    fn options(&self) -> (Kind, Device);
    /// Draws a sample of shape `sample_shape ++ batch_shape ++ event_shape`, without gradient.
    fn sample(&self, sample_shape: &[i64]) -> Result<Tensor> {
        tch::no_grad(|| self.rsample(sample_shape))
    }
    /// A reparameterised sample, differentiable with respect to the parameters.
    fn rsample(&self, _sample_shape: &[i64]) -> Result<Tensor> {
        Err(DistError::Unsupported { dist: self.name(), op: "rsample" })
    }
    /// Log density (or mass) of `value`, of shape `broadcast(value batch, batch_shape)`.
    fn log_prob(&self, value: &Tensor) -> Result<Tensor>;
    /// The mean, of shape `batch_shape ++ event_shape`.
    fn mean(&self) -> Result<Tensor> {
        Err(DistError::Unsupported { dist: self.name(), op: "mean" })
    }
    /// The variance, of shape `batch_shape ++ event_shape`.
    fn variance(&self) -> Result<Tensor> {
        Err(DistError::Unsupported { dist: self.name(), op: "variance" })
    }
    /// The entropy, of shape `batch_shape`.
    fn entropy(&self) -> Result<Tensor> {
        Err(DistError::Unsupported { dist: self.name(), op: "entropy" })
    }
    /// The same family with parameters broadcast to a larger `batch_shape`.
    fn expand(&self, batch_shape: &[i64]) -> Result<DistRef>;
    /// The support's values along a new leftmost dimension: shape `[n] ++ [1; batch rank]`
    /// (`expand == false`) or `[n] ++ batch_shape` (`expand == true`), plus the event shape.
    fn enumerate_support(&self, _expand: bool) -> Result<Tensor> {
        Err(DistError::Unsupported { dist: self.name(), op: "enumerate_support" })
    }
    /// For `Independent`: how many batch dims were moved to the event. 0 for other families.
    fn reinterpreted_dims(&self) -> usize {
        0
    }
    /// The standard deviation.
    fn stddev(&self) -> Result<Tensor> {
        Ok(self.variance()?.sqrt())
    }
    /// `batch_shape ++ event_shape`.
    fn shape(&self, sample_shape: &[i64]) -> Vec<i64> {
        let mut s = concat(sample_shape, self.batch_shape());
        s.extend_from_slice(self.event_shape());
        s
    }
}

/// Lets a type-erased distribution be downcast to its family.
pub trait AsAny {
    /// `self` as `Any`, for `downcast_ref`.
    fn as_any(&self) -> &dyn std::any::Any;
}

impl<T: std::any::Any> AsAny for T {
    fn as_any(&self) -> &dyn std::any::Any {
        self
    }
}

/// Something a distribution accepts as a parameter: a number or a tensor.
///
/// Numbers become 0-dim `f32` tensors on the thread's [default device](crate::device) (torch's
/// default dtype); they combine with tensors of any dtype without changing them.
pub trait IntoParam {
    /// The parameter as a tensor.
    fn into_param(self) -> Tensor;
    /// The parameter's value when it is a number (families use plain arithmetic for it).
    fn number(&self) -> Option<f64> {
        None
    }
}

thread_local! {
    /// 0-dim tensors for the numbers models use as constant parameters (`Normal::new(0.0, 10.0)`
    /// on every step): created once per thread and device instead of once per call. They are
    /// never modified in place.
    static CONSTANTS: std::cell::RefCell<Vec<(u32, tch::Device, Tensor)>> = const { std::cell::RefCell::new(Vec::new()) };
}

/// A shared 0-dim `f32` tensor holding `x` on the default device (cached per thread, up to 64
/// distinct values).
fn constant(x: f32) -> Tensor {
    let bits = x.to_bits();
    let device = crate::device::default_device();
    CONSTANTS.with(|c| {
        let mut c = c.borrow_mut();
        if let Some((_, _, t)) = c.iter().find(|(b, d, _)| *b == bits && *d == device) {
            return t.shallow_clone();
        }
        // Cannot fail: `set_default_device` only accepts a device that libtorch can use here.
        let t = Tensor::from(x).to_device(device);
        if c.len() < 64 {
            c.push((bits, device, t.shallow_clone()));
        }
        t
    })
}

impl IntoParam for f64 {
    fn into_param(self) -> Tensor {
        constant(self as f32)
    }
    fn number(&self) -> Option<f64> {
        Some(*self)
    }
}
impl IntoParam for f32 {
    fn into_param(self) -> Tensor {
        constant(self)
    }
    fn number(&self) -> Option<f64> {
        Some(f64::from(*self))
    }
}
impl IntoParam for i64 {
    fn into_param(self) -> Tensor {
        constant(self as f32)
    }
    fn number(&self) -> Option<f64> {
        Some(*self as f64)
    }
}
impl IntoParam for Tensor {
    fn into_param(self) -> Tensor {
        self
    }
}
impl IntoParam for &Tensor {
    fn into_param(self) -> Tensor {
        self.shallow_clone()
    }
}

/// Floating parameters: integer tensors become the default float dtype.
pub(crate) fn float_param(t: Tensor) -> Tensor {
    match t.kind() {
        Kind::Float | Kind::Double | Kind::Half | Kind::BFloat16 => t,
        _ => t.to_kind(Kind::Float),
    }
}

fn float_rank(k: Kind) -> u8 {
    match k {
        Kind::Double => 3,
        Kind::Float => 2,
        Kind::Half | Kind::BFloat16 => 1,
        _ => 0,
    }
}

/// Casts a family's floating parameters to one dtype, as torch's `broadcast_all` does: the
/// widest dtype among the parameters that have dimensions (numbers are 0-dim and follow them),
/// or among all of them when every one is 0-dim. So `Normal::new(f64_tensor, 1.0)` computes its
/// samples, log densities, moments and entropy in f64.
pub(crate) fn same_kind<const N: usize>(params: [Tensor; N]) -> [Tensor; N] {
    let pick = |dimmed: bool| params.iter().filter(|t| !dimmed || t.dim() > 0).map(|t| t.kind()).max_by_key(|k| float_rank(*k));
    let Some(kind) = pick(true).or_else(|| pick(false)) else { return params };
    params.map(|t| if t.kind() == kind { t } else { t.to_kind(kind) })
}

/// The broadcast batch shape of several parameters, or a shape error naming the family.
pub(crate) fn broadcast_params(dist: &'static str, params: &[(&'static str, &Tensor)]) -> Result<Vec<i64>> {
    let sizes: Vec<Vec<i64>> = params.iter().map(|(_, t)| t.size()).collect();
    let refs: Vec<&[i64]> = sizes.iter().map(|s| s.as_slice()).collect();
    broadcast_shapes(&refs)
        .ok_or_else(|| DistError::Shape { dist, detail: params.iter().zip(&sizes).map(|((n, _), s)| format!("{n} {s:?}")).collect::<Vec<_>>().join(", ") })
}

/// The dtype and device of a family's values: those of its first parameter that has dimensions,
/// else of its first parameter.
pub(crate) fn options_of(params: &[&Tensor]) -> (Kind, Device) {
    let t = params.iter().find(|t| t.dim() > 0).unwrap_or(&params[0]);
    (t.kind(), t.device())
}

/// Checks a constructor argument against its constraint when validation is on.
pub(crate) fn check_param(dist: &'static str, param: &'static str, value: &Tensor, constraint: &Constraint) -> Result<()> {
    if !validation_enabled() {
        return Ok(());
    }
    if !constraint.contains_all(value) {
        let problem = if crate::host_reads::checking(|| bool::try_from(value.isnan().any()).unwrap_or(false)) {
            "contains NaN".to_string()
        } else {
            format!("must be {} (got values outside it)", constraint.name())
        };
        return Err(DistError::InvalidParameter { dist, param, problem });
    }
    Ok(())
}

/// Checks a value given to `log_prob`: its shape must end in the event shape and broadcast with
/// the batch shape (always checked, since libtorch would abort otherwise), and it must lie in the
/// support (checked when validation is on).
pub fn validate_value(d: &dyn Distribution, value: &Tensor) -> Result<()> {
    let vshape = value.size();
    let event = d.event_shape();
    let e = event.len();
    if vshape.len() < e || &vshape[vshape.len() - e..] != event {
        return Err(DistError::InvalidValue { dist: d.name(), problem: format!("of shape {vshape:?} does not end in the event shape {event:?}") });
    }
    if broadcast_shapes(&[&vshape[..vshape.len() - e], d.batch_shape()]).is_none() {
        return Err(DistError::InvalidValue {
            dist: d.name(),
            problem: format!("of shape {vshape:?} does not broadcast with batch shape {:?} and event shape {event:?}", d.batch_shape()),
        });
    }
    if validation_enabled() && !d.support().contains_all(value) {
        let problem = if crate::host_reads::checking(|| bool::try_from(value.isnan().any()).unwrap_or(false)) {
            "contains NaN".to_string()
        } else {
            format!("lies outside the support {}", d.support().name())
        };
        return Err(DistError::InvalidValue { dist: d.name(), problem });
    }
    Ok(())
}

/// Checks a sample shape given to `sample` or `rsample`: no size may be negative.
pub(crate) fn check_sample_shape(dist: &'static str, sample_shape: &[i64]) -> Result<()> {
    if sample_shape.iter().any(|&n| n < 0) {
        return Err(DistError::Shape { dist, detail: format!("sample shape {sample_shape:?} has a negative size") });
    }
    Ok(())
}

/// Checks that `batch_shape` is a valid expansion of `from` (torch's expand rules); no size may
/// be negative.
pub(crate) fn check_expand(dist: &'static str, from: &[i64], to: &[i64]) -> Result<()> {
    if to.iter().any(|&n| n < 0) {
        return Err(DistError::Shape { dist, detail: format!("cannot expand batch shape {from:?} to {to:?}: a size is negative") });
    }
    match broadcast_shapes(&[from, to]) {
        Some(b) if b == to => Ok(()),
        _ => Err(DistError::Shape { dist, detail: format!("cannot expand batch shape {from:?} to {to:?}") }),
    }
}

/// Expands a parameter (plus `extra` trailing event dims) to a batch shape, as a view.
pub(crate) fn expand_param(t: &Tensor, batch_shape: &[i64], event_shape: &[i64]) -> Tensor {
    let target = concat(batch_shape, event_shape);
    if t.size() == target {
        t.shallow_clone()
    } else {
        t.expand(target.as_slice(), false)
    }
}

/// Any distribution as a [`DistRef`].
pub trait IntoDist {
    /// Wraps (or shares) the distribution as a [`DistRef`].
    fn into_dist(self) -> DistRef;
}

impl<D: Distribution + 'static> IntoDist for D {
    fn into_dist(self) -> DistRef {
        Rc::new(self)
    }
}

impl IntoDist for DistRef {
    fn into_dist(self) -> DistRef {
        self
    }
}

impl IntoDist for &DistRef {
    fn into_dist(self) -> DistRef {
        self.clone()
    }
}

/// What a sample statement accepts: a distribution, or the `Result` of its fallible constructor,
/// so that an invalid argument is reported with the site's name.
///
/// ```
/// use pyrite_distributions::prelude::*;
/// // Both the constructor's `Result` and the distribution itself.
/// assert!(Normal::new(0.0, -1.0).into_site_dist().is_err());
/// assert!(Normal::new(0.0, 1.0).unwrap().into_site_dist().is_ok());
/// ```
pub trait IntoSiteDist {
    /// The distribution, or the error its constructor gave.
    fn into_site_dist(self) -> Result<DistRef>;
}

impl<D: IntoDist> IntoSiteDist for D {
    fn into_site_dist(self) -> Result<DistRef> {
        Ok(self.into_dist())
    }
}

impl<D: IntoDist> IntoSiteDist for Result<D> {
    fn into_site_dist(self) -> Result<DistRef> {
        self.map(IntoDist::into_dist)
    }
}
