//! The message that a primitive sends through the handler stack.

use std::rc::Rc;

use pyrite_distributions::{Constraint, DistRef};
use tch::Tensor;

use crate::error::{PyriteError, Result};

/// What kind of statement produced a message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SiteKind {
    /// `sample` (latent or observed).
    Sample,
    /// `param`.
    Param,
    /// The subsample indices of a plate (its name is the plate's).
    Subsample,
}

impl SiteKind {
    /// `"sample"`, `"param"` or `"subsample"`.
    pub fn as_str(&self) -> &'static str {
        match self {
            SiteKind::Sample => "sample",
            SiteKind::Param => "param",
            SiteKind::Subsample => "subsample",
        }
    }
}

/// How a discrete site is enumerated.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Enumerate {
    /// All values at once, in a new tensor dimension (`infer={"enumerate": "parallel"}`).
    Parallel,
}

/// Per-site inference options (Pyro's `infer` dict).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct InferConfig {
    /// Enumerate this discrete site.
    pub enumerate: Option<Enumerate>,
    /// The tensor dimension its enumerated values occupy (set by the `enumerate` handler).
    pub enumerate_dim: Option<i64>,
    /// The enumerated variable's identity (set by the `enumerate` handler). Under `markov`
    /// several variables take turns on one dimension; this tells them apart.
    pub enumerate_id: Option<usize>,
    /// Which enumerated variable each enumeration dimension held when the site ran
    /// (`(dim, enumerate_id)`; set by the `enumerate` handler on every sample site).
    pub enum_scope: Option<Rc<Vec<(i64, usize)>>>,
    /// Set on `deterministic` sites: recorded, but no log-density.
    pub deterministic: bool,
    /// Set on `factor` sites.
    pub factor: bool,
}

/// One plate a site lies in: its name, the (negative) tensor dimension it owns, its full size and
/// the size of the current subsample.
#[derive(Debug, Clone, PartialEq)]
pub struct PlateFrame {
    /// The plate's name.
    pub name: Rc<str>,
    /// The batch dimension the plate owns, counted from the right (`-1` is the rightmost).
    pub dim: i64,
    /// The full size of the plate (the number of data points it stands for).
    pub size: i64,
    /// The size of the current subsample (equal to `size` when not subsampling).
    pub subsample_size: i64,
}

/// How a param is initialised the first time it is seen.
pub enum ParamInit {
    /// A ready tensor (constrained value).
    Value(Tensor),
    /// A closure run only if the param does not exist yet.
    Lazy(Box<dyn FnOnce() -> Tensor>),
}

impl std::fmt::Debug for ParamInit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ParamInit::Value(t) => write!(f, "Value({:?})", t.size()),
            ParamInit::Lazy(_) => write!(f, "Lazy"),
        }
    }
}

impl From<Tensor> for ParamInit {
    fn from(t: Tensor) -> Self {
        ParamInit::Value(t)
    }
}
impl From<&Tensor> for ParamInit {
    fn from(t: &Tensor) -> Self {
        ParamInit::Value(t.shallow_clone())
    }
}
impl From<f64> for ParamInit {
    fn from(x: f64) -> Self {
        ParamInit::Value(Tensor::from(x as f32))
    }
}

/// A lazily computed param initial value: `param("w", lazy(|| Tensor::randn(...)), ...)`.
pub fn lazy(f: impl FnOnce() -> Tensor + 'static) -> ParamInit {
    ParamInit::Lazy(Box::new(f))
}

/// A message: what a `sample`, `param` or plate statement says, as handlers see and change it.
#[derive(Debug)]
pub struct Message {
    /// The site's name.
    pub name: String,
    /// Which statement sent the message.
    pub kind: SiteKind,
    /// The distribution of a sample site (broadcast to its plates before sampling).
    pub dist: Option<DistRef>,
    /// The value, once some handler or the default behaviour has set it.
    pub value: Option<Tensor>,
    /// Whether the value is data.
    pub is_observed: bool,
    /// Multiplier of the log-density (subsampling, `scale`).
    pub scale: f64,
    /// Boolean mask of the log-density (`mask`).
    pub mask: Option<Tensor>,
    /// The plates this site lies in, innermost first.
    pub plates: Vec<PlateFrame>,
    /// Per-site inference options (Pyro's `msg["infer"]`).
    pub infer: InferConfig,
    /// Param sites: the constraint of the param's support.
    pub constraint: Option<Constraint>,
    /// Param sites: the initial value, used only if the param is not in the store yet.
    pub init: Option<ParamInit>,
    /// Param sites: the unconstrained leaf tensor from the param store.
    pub unconstrained: Option<Tensor>,
    /// Subsample sites: full size and subsample size.
    pub subsample: Option<(i64, i64)>,
    /// Set by a handler to hide the message from the handlers outside it.
    pub stop: bool,
    /// Set by a handler that has supplied the value.
    pub done: bool,
    /// Set by `intervene`: the site's original message, to send through the stack after this one.
    pub(crate) split: Option<Box<Message>>,
    /// Set on a message that `intervene` has already split.
    pub(crate) intervened: bool,
}

impl Message {
    /// The distribution of a sample message. Every sample statement sends one; the error,
    /// [`PyriteError::Model`] naming the site, is for a handler that removed it.
    pub fn require_dist(&self) -> Result<&DistRef> {
        self.dist.as_ref().ok_or_else(|| PyriteError::Model(format!("site `{}`: a handler removed the sample site's distribution", self.name)))
    }

    /// The message's value once it has been through the handler stack, which always sets one;
    /// the error, [`PyriteError::Model`] naming the site, is for a handler that removed it.
    pub(crate) fn into_value(self) -> Result<Tensor> {
        let name = self.name;
        self.value.ok_or_else(|| PyriteError::Model(format!("site `{name}`: a handler left the site without a value")))
    }

    pub(crate) fn new(name: &str, kind: SiteKind) -> Self {
        Message {
            name: name.to_string(),
            kind,
            dist: None,
            value: None,
            is_observed: false,
            scale: 1.0,
            mask: None,
            plates: Vec::new(),
            infer: InferConfig::default(),
            constraint: None,
            init: None,
            unconstrained: None,
            subsample: None,
            stop: false,
            done: false,
            split: None,
            intervened: false,
        }
    }
}
