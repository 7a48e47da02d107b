//! Constraints: the sets that parameters and values live in, as `torch.distributions.constraints`.

use tch::{Kind, Tensor};

/// A bound of an interval constraint: a number, or a tensor that broadcasts with the value.
#[derive(Debug)]
pub enum Bound {
    /// A fixed number.
    Scalar(f64),
    /// A tensor (one bound per element, broadcasting with the value).
    Tensor(Tensor),
}

impl Clone for Bound {
    fn clone(&self) -> Self {
        match self {
            Bound::Scalar(x) => Bound::Scalar(*x),
            Bound::Tensor(t) => Bound::Tensor(t.shallow_clone()),
        }
    }
}

impl PartialEq for Bound {
    fn eq(&self, other: &Self) -> bool {
        match (self, other) {
            (Bound::Scalar(a), Bound::Scalar(b)) => a == b,
            (Bound::Tensor(a), Bound::Tensor(b)) => a.size() == b.size() && a.kind() == b.kind() && bool::try_from(a.eq_tensor(b).all()).unwrap_or(false),
            _ => false,
        }
    }
}

impl Bound {
    /// The bound as a tensor shaped like `like` allows (a scalar becomes a 0-dim tensor).
    pub fn to_tensor(&self, like: &Tensor) -> Tensor {
        match self {
            // Cannot fail: the target is `like`'s own device.
            Bound::Scalar(x) => Tensor::from(*x).to_kind(like.kind()).to_device(like.device()),
            Bound::Tensor(t) => t.shallow_clone(),
        }
    }
    fn describe(&self) -> String {
        match self {
            Bound::Scalar(x) => format!("{x}"),
            Bound::Tensor(t) if t.numel() == 1 => format!("{}", t.double_value(&[])),
            Bound::Tensor(t) => format!("tensor{:?}", t.size()),
        }
    }
}

/// The set a value or parameter lives in.
#[derive(Debug, Clone, PartialEq)]
pub enum Constraint {
    /// All reals.
    Real,
    /// `n` rightmost dimensions of reals (the support of a `to_event(n)` real distribution).
    Independent(Box<Constraint>, usize),
    /// Strictly positive reals.
    Positive,
    /// Reals `>= 0`.
    Nonnegative,
    /// Reals `> bound`.
    GreaterThan(Bound),
    /// Reals `>= bound`.
    GreaterThanEq(Bound),
    /// The open-or-closed interval `[low, high]` (bounds are not excluded in checks, as in torch).
    Interval(Bound, Bound),
    /// `[0, 1]`.
    UnitInterval,
    /// Vectors of nonnegative entries summing to one (event dim 1).
    Simplex,
    /// Strictly increasing vectors (Stan's `ordered`; event dim 1).
    Ordered,
    /// Strictly increasing vectors of positive entries (Stan's `positive_ordered`; event dim 1).
    PositiveOrdered,
    /// Lower-triangular matrices with positive diagonal (event dim 2).
    LowerCholesky,
    /// Cholesky factors of correlation matrices (event dim 2).
    CorrCholesky,
    /// Symmetric positive-definite matrices (event dim 2).
    PositiveDefinite,
    /// Integers in `[low, high]`.
    IntegerInterval(i64, i64),
    /// Integers `>= 0`.
    NonnegativeInteger,
    /// `{0, 1}`.
    Boolean,
    /// One-hot vectors (event dim 1).
    OneHot,
}

/// `constraints.greater_than(lb)`.
pub fn greater_than(lb: f64) -> Constraint {
    Constraint::GreaterThan(Bound::Scalar(lb))
}

/// `constraints.interval(low, high)`.
pub fn interval(low: f64, high: f64) -> Constraint {
    Constraint::Interval(Bound::Scalar(low), Bound::Scalar(high))
}

/// `constraints.integer_interval(low, high)`.
pub fn integer_interval(low: i64, high: i64) -> Constraint {
    Constraint::IntegerInterval(low, high)
}

impl Constraint {
    /// How many rightmost dimensions make up one event of this constraint.
    pub fn event_dim(&self) -> usize {
        match self {
            Constraint::Independent(base, n) => base.event_dim() + n,
            Constraint::Simplex | Constraint::OneHot | Constraint::Ordered | Constraint::PositiveOrdered => 1,
            Constraint::LowerCholesky | Constraint::CorrCholesky | Constraint::PositiveDefinite => 2,
            _ => 0,
        }
    }

    /// Whether the set is discrete (integers, booleans, one-hot vectors).
    pub fn is_discrete(&self) -> bool {
        match self {
            Constraint::IntegerInterval(..) | Constraint::NonnegativeInteger | Constraint::Boolean | Constraint::OneHot => true,
            Constraint::Independent(base, _) => base.is_discrete(),
            _ => false,
        }
    }

    /// Wraps this constraint so that its `n` rightmost further dimensions form one event.
    pub fn independent(self, n: usize) -> Constraint {
        if n == 0 {
            self
        } else if let Constraint::Independent(base, m) = self {
            Constraint::Independent(base, m + n)
        } else {
            Constraint::Independent(Box::new(self), n)
        }
    }

    /// The constraint without `Independent` wrappers.
    pub fn base(&self) -> &Constraint {
        match self {
            Constraint::Independent(base, _) => base.base(),
            c => c,
        }
    }

    /// A short name for messages and for the param store's files.
    pub fn name(&self) -> String {
        match self {
            Constraint::Real => "real".into(),
            Constraint::Independent(b, n) => format!("independent({}, {n})", b.name()),
            Constraint::Positive => "positive".into(),
            Constraint::Nonnegative => "nonnegative".into(),
            Constraint::GreaterThan(b) => format!("greater_than({})", b.describe()),
            Constraint::GreaterThanEq(b) => format!("greater_than_eq({})", b.describe()),
            Constraint::Interval(l, h) => format!("interval({}, {})", l.describe(), h.describe()),
            Constraint::UnitInterval => "unit_interval".into(),
            Constraint::Simplex => "simplex".into(),
            Constraint::Ordered => "ordered".into(),
            Constraint::PositiveOrdered => "positive_ordered".into(),
            Constraint::LowerCholesky => "lower_cholesky".into(),
            Constraint::CorrCholesky => "corr_cholesky".into(),
            Constraint::PositiveDefinite => "positive_definite".into(),
            Constraint::IntegerInterval(l, h) => format!("integer_interval({l}, {h})"),
            Constraint::NonnegativeInteger => "nonnegative_integer".into(),
            Constraint::Boolean => "boolean".into(),
            Constraint::OneHot => "one_hot".into(),
        }
    }

    /// Elementwise (per event) membership: a boolean tensor of the value's shape less the event dims.
    pub fn check(&self, value: &Tensor) -> Tensor {
        let is_int = |v: &Tensor| v.eq_tensor(&v.floor());
        match self {
            Constraint::Real => value.eq_tensor(value), // false only for NaN
            Constraint::Independent(base, n) => {
                let mut r = base.check(value);
                for _ in 0..*n {
                    r = r.all_dim(-1, false);
                }
                r
            }
            Constraint::Positive => value.gt(0.0),
            Constraint::Nonnegative => value.ge(0.0),
            Constraint::GreaterThan(b) => value.gt_tensor(&b.to_tensor(value)),
            Constraint::GreaterThanEq(b) => value.ge_tensor(&b.to_tensor(value)),
            Constraint::Interval(l, h) => value.ge_tensor(&l.to_tensor(value)).logical_and(&value.le_tensor(&h.to_tensor(value))),
            Constraint::UnitInterval => value.ge(0.0).logical_and(&value.le(1.0)),
            Constraint::Ordered | Constraint::PositiveOrdered => {
                let k = value.size().last().copied().unwrap_or(0);
                let increasing = (value.narrow(-1, 1, (k - 1).max(0)) - value.narrow(-1, 0, (k - 1).max(0))).gt(0.0).all_dim(-1, false);
                if *self == Constraint::PositiveOrdered {
                    increasing.logical_and(&value.narrow(-1, 0, k.min(1)).gt(0.0).all_dim(-1, false))
                } else {
                    increasing.logical_and(&value.eq_tensor(value).all_dim(-1, false))
                }
            }
            Constraint::Simplex => {
                let nonneg = value.ge(0.0).all_dim(-1, false);
                let sums = value.sum_dim_intlist(-1, false, value.kind());
                let tol = if value.kind() == Kind::Double { 1e-10 } else { 1e-6 };
                nonneg.logical_and(&(sums - 1.0).abs().lt(tol * 10.0))
            }
            Constraint::LowerCholesky => {
                let lower = value.tril(0).eq_tensor(value).all_dim(-1, false).all_dim(-1, false);
                let pos = value.diagonal(0, -2, -1).gt(0.0).all_dim(-1, false);
                lower.logical_and(&pos)
            }
            Constraint::CorrCholesky => {
                let lc = Constraint::LowerCholesky.check(value);
                let tol = if value.kind() == Kind::Double { 1e-8 } else { 1e-4 };
                let norms = value.square().sum_dim_intlist(-1, false, value.kind()).sqrt();
                lc.logical_and(&(norms - 1.0).abs().le(tol).all_dim(-1, false))
            }
            Constraint::PositiveDefinite => {
                let sym = value.isclose(&value.transpose(-2, -1), 1e-5, 1e-6, false).all_dim(-1, false).all_dim(-1, false);
                let (_, info) = value.linalg_cholesky_ex(false, false);
                sym.logical_and(&info.eq(0))
            }
            Constraint::IntegerInterval(l, h) => is_int(value).logical_and(&value.ge(*l as f64)).logical_and(&value.le(*h as f64)),
            Constraint::NonnegativeInteger => is_int(value).logical_and(&value.ge(0.0)),
            Constraint::Boolean => value.eq(0.0).logical_or(&value.eq(1.0)),
            Constraint::OneHot => {
                let binary = value.eq(0.0).logical_or(&value.eq(1.0)).all_dim(-1, false);
                binary.logical_and(&value.sum_dim_intlist(-1, false, Kind::Double).eq(1.0))
            }
        }
    }

    /// Whether every point of this set lies in `outer` (a guide's support inside the model's):
    /// `Some(true)` or `Some(false)` when the two decide it, `None` when they cannot (tensor
    /// bounds that do not broadcast, a structured set against a bounded one).
    ///
    /// ```
    /// use pyrite_distributions::constraints::{interval, Constraint};
    /// assert_eq!(Constraint::Positive.is_within(&Constraint::Nonnegative), Some(true));
    /// assert_eq!(Constraint::Real.is_within(&Constraint::Positive), Some(false));
    /// assert_eq!(Constraint::UnitInterval.is_within(&interval(0.0, 1.0)), Some(true));
    /// assert_eq!(Constraint::Simplex.is_within(&Constraint::Real.independent(1)), Some(true));
    /// ```
    pub fn is_within(&self, outer: &Constraint) -> Option<bool> {
        if self.event_dim() != outer.event_dim() || self.is_discrete() != outer.is_discrete() {
            return Some(false);
        }
        if self == outer {
            return Some(true);
        }
        let (inner, outer) = (self.base(), outer.base());
        match (inner.range(), outer.range()) {
            (_, Range::Continuous(None, None)) => Some(!matches!(inner, Constraint::OneHot)),
            (Range::Continuous(ilo, ihi), Range::Continuous(olo, ohi)) => {
                Some(edge_within(ilo.as_ref(), olo.as_ref(), false)? && edge_within(ihi.as_ref(), ohi.as_ref(), true)?)
            }
            (Range::Integers(ilo, ihi), Range::Integers(olo, ohi)) => {
                Some(olo.is_none_or(|o| ilo.is_some_and(|i| i >= o)) && ohi.is_none_or(|o| ihi.is_some_and(|i| i <= o)))
            }
            (Range::Structured, Range::Structured) => Some(inner == outer || matches!((inner, outer), (Constraint::CorrCholesky, Constraint::LowerCholesky))),
            (Range::Structured, _) => None,
            _ => Some(false),
        }
    }

    /// The set as a range of numbers, for [`is_within`](Self::is_within).
    fn range(&self) -> Range {
        let closed = |b: &Bound| Some((b.clone(), true));
        let open = |b: &Bound| Some((b.clone(), false));
        let zero = Bound::Scalar(0.0);
        match self {
            Constraint::Real | Constraint::Independent(..) => Range::Continuous(None, None),
            Constraint::Positive => Range::Continuous(open(&zero), None),
            Constraint::Nonnegative => Range::Continuous(closed(&zero), None),
            Constraint::GreaterThan(b) => Range::Continuous(open(b), None),
            Constraint::GreaterThanEq(b) => Range::Continuous(closed(b), None),
            Constraint::Interval(l, h) => Range::Continuous(closed(l), closed(h)),
            Constraint::UnitInterval => Range::Continuous(closed(&zero), closed(&Bound::Scalar(1.0))),
            Constraint::IntegerInterval(l, h) => Range::Integers(Some(*l), Some(*h)),
            Constraint::NonnegativeInteger => Range::Integers(Some(0), None),
            Constraint::Boolean => Range::Integers(Some(0), Some(1)),
            Constraint::Simplex
            | Constraint::Ordered
            | Constraint::PositiveOrdered
            | Constraint::LowerCholesky
            | Constraint::CorrCholesky
            | Constraint::PositiveDefinite
            | Constraint::OneHot => Range::Structured,
        }
    }

    /// Whether every element (event) of `value` lies in the set.
    pub fn contains_all(&self, value: &Tensor) -> bool {
        if value.numel() == 0 {
            return true;
        }
        crate::host_reads::checking(|| bool::try_from(self.check(value).all()).unwrap_or(false))
    }
}

/// A constraint seen as a range of numbers: continuous with optional lower and upper edges (a
/// bound and whether it is included), integers between optional ends, or a structured set
/// (simplex, Cholesky factors, positive-definite matrices, one-hot vectors).
enum Range {
    Continuous(Option<(Bound, bool)>, Option<(Bound, bool)>),
    Integers(Option<i64>, Option<i64>),
    Structured,
}

/// Whether an inner edge lies within an outer one (`upper` for upper edges); `None` (infinite)
/// edges contain everything and are contained only by infinite edges. Tensor bounds compare
/// elementwise, `None` when they do not broadcast.
fn edge_within(inner: Option<&(Bound, bool)>, outer: Option<&(Bound, bool)>, upper: bool) -> Option<bool> {
    let (Some((ib, iclosed)), Some((ob, oclosed))) = (inner, outer) else {
        return Some(outer.is_none());
    };
    // an included inner end may touch the outer end only where that end is included too
    let touching_ok = *oclosed || !*iclosed;
    if let (Bound::Scalar(i), Bound::Scalar(o)) = (ib, ob) {
        let strictly_inside = if upper { i < o } else { i > o };
        return Some(strictly_inside || (i == o && touching_ok));
    }
    let like = Tensor::from(0.0f64);
    let (i, o) = (ib.to_tensor(&like).to_kind(Kind::Double), ob.to_tensor(&like).to_kind(Kind::Double));
    let inside = if upper { i.f_lt_tensor(&o).ok()? } else { i.f_gt_tensor(&o).ok()? };
    let ok = if touching_ok { inside.logical_or(&i.eq_tensor(&o)) } else { inside };
    bool::try_from(ok.all()).ok()
}
