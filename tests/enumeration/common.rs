//! Helpers shared by the enumeration tests: `f64` tensors, brute-force log-marginals and the
//! comparison of `TraceEnumElbo` with them.

use std::collections::BTreeMap;

use pyrite::core::param_store::lock;
use pyrite::prelude::*;

/// A 1-d `f64` tensor.
pub fn f64t(xs: &[f64]) -> Tensor {
    Tensor::from_slice(xs)
}

/// A 2-d `f64` tensor from rows.
pub fn f64m(rows: &[&[f64]]) -> Tensor {
    let flat: Vec<f64> = rows.iter().flat_map(|r| r.iter().copied()).collect();
    Tensor::from_slice(&flat).reshape([rows.len() as i64, rows[0].len() as i64])
}

/// The value of a one-element tensor.
pub fn scalar(t: &Tensor) -> f64 {
    t.double_value(&[])
}

/// The elements of a tensor, flattened, as `f64`.
pub fn to_vec(t: &Tensor) -> Vec<f64> {
    Vec::<f64>::try_from(t.detach().to_kind(Kind::Double).flatten(0, -1)).unwrap()
}

/// The elements of an integer tensor, flattened.
pub fn to_ivec(t: &Tensor) -> Vec<i64> {
    Vec::<i64>::try_from(t.detach().to_kind(Kind::Int64).flatten(0, -1)).unwrap()
}

/// Runs `f` with a fresh, empty param store.
pub fn fresh<R>(f: impl FnOnce() -> R) -> R {
    with_param_store(&new_param_store(), f)
}

/// `log N(x; loc, scale)` as a differentiable tensor op, in the kind of `loc`.
pub fn normal_lp(x: f64, loc: &Tensor, scale: &Tensor) -> Tensor {
    let z = (loc.neg() + x) / scale;
    z.square() * -0.5 - scale.log() - 0.5 * (2.0 * std::f64::consts::PI).ln()
}

/// Element `i` of a 1-d tensor (differentiable).
pub fn at(t: &Tensor, i: i64) -> Tensor {
    t.get(i)
}

/// Element `(i, j)` of a 2-d tensor (differentiable).
pub fn at2(t: &Tensor, i: i64, j: i64) -> Tensor {
    t.get(i).get(j)
}

/// Every assignment of variables with the given numbers of values, first variable slowest.
pub fn assignments(sizes: &[i64]) -> Vec<Vec<i64>> {
    let total: i64 = sizes.iter().product();
    (0..total)
        .map(|mut code| {
            let mut a = vec![0; sizes.len()];
            for (slot, &k) in a.iter_mut().zip(sizes).rev() {
                *slot = code % k;
                code /= k;
            }
            a
        })
        .collect()
}

/// `log sum_a exp(joint(a))` over every assignment `a`, by brute force.
pub fn brute_force(sizes: &[i64], joint: impl Fn(&[i64]) -> Tensor) -> Tensor {
    let terms: Vec<Tensor> = assignments(sizes).iter().map(|a| joint(a)).collect();
    Tensor::stack(&terms, 0).logsumexp([0].as_slice(), false)
}

/// The posterior probability of each assignment (in the order of `assignments(sizes)`).
pub fn brute_posterior(sizes: &[i64], joint: impl Fn(&[i64]) -> Tensor) -> Vec<f64> {
    let lps: Vec<f64> = tch::no_grad(|| assignments(sizes).iter().map(|a| scalar(&joint(a))).collect());
    let m = lps.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
    let z: f64 = lps.iter().map(|l| (l - m).exp()).sum();
    lps.iter().map(|l| (l - m).exp() / z).collect()
}

/// The current store's params: name → (unconstrained leaf, constrained value differentiable
/// with respect to the leaf).
pub struct Params(pub BTreeMap<String, (Tensor, Tensor)>);

impl Params {
    pub fn current() -> Params {
        let store = get_param_store();
        let s = lock(&store);
        Params(s.iter().map(|(n, e)| (n.clone(), (e.unconstrained.shallow_clone(), e.constrained()))).collect())
    }
    /// The constrained value of a param.
    pub fn get(&self, name: &str) -> &Tensor {
        &self.0.get(name).unwrap_or_else(|| panic!("no param `{name}`")).1
    }
}

/// `|a - b| <= tol * max(1, |b|)`.
#[track_caller]
pub fn assert_rel(a: f64, b: f64, tol: f64, what: &str) {
    assert!((a - b).abs() <= tol * b.abs().max(1.0), "{what}: {a} != {b} (relative tolerance {tol})");
}

/// Runs `TraceEnumElbo` once on `model` and `guide` in a fresh param store and checks that its
/// loss is minus the brute-force log-marginal `log sum_a exp(joint(params, a))` (to 1e-5
/// relative) and that the gradients of its surrogate with respect to every param in the store
/// are autograd's gradients of that brute-force loss. Returns the loss.
pub fn check_enum_elbo(
    elbo: &TraceEnumElbo,
    model: &dyn Fn() -> Result<()>,
    guide: &dyn Fn() -> Result<()>,
    sizes: &[i64],
    joint: &dyn Fn(&Params, &[i64]) -> Tensor,
) -> f64 {
    check_enum_elbo_scaled(elbo, model, guide, sizes, joint, 1.0)
}

/// `check_enum_elbo` where the ELBO is `scale` times the brute-force log-marginal (a subsampled
/// plate: the scale multiplies the log of the sum, not the terms inside it).
pub fn check_enum_elbo_scaled(
    elbo: &TraceEnumElbo,
    model: &dyn Fn() -> Result<()>,
    guide: &dyn Fn() -> Result<()>,
    sizes: &[i64],
    joint: &dyn Fn(&Params, &[i64]) -> Tensor,
    scale: f64,
) -> f64 {
    fresh(|| {
        let lp = elbo.loss_and_params(model, guide).unwrap();
        lp.surrogate.backward();
        let params = Params::current();
        assert!(!params.0.is_empty());
        let mut touched: Vec<&str> = lp.params.iter().map(|(n, _)| n.as_str()).collect();
        touched.sort();
        assert_eq!(touched, params.0.keys().map(|s| s.as_str()).collect::<Vec<_>>(), "every param is reported as touched");

        let lse = brute_force(sizes, |a| joint(&params, a)) * scale;
        assert_eq!(lse.kind(), Kind::Double);
        assert_rel(lp.loss, -scalar(&lse), 1e-5, "loss");

        let leaves: Vec<Tensor> = params.0.values().map(|(u, _)| u.shallow_clone()).collect();
        let want = Tensor::run_backward(&[lse.neg()], &leaves, false, false);
        for ((name, (leaf, _)), want) in params.0.iter().zip(want) {
            let got = leaf.grad();
            assert!(got.defined(), "param `{name}` has no gradient");
            let (got, want) = (to_vec(&got), to_vec(&want));
            let scale = want.iter().fold(1.0f64, |m, g| m.max(g.abs()));
            assert!(want.iter().any(|g| g.abs() > 1e-3), "param `{name}`: the brute-force gradient {want:?} is trivially zero");
            for (g, w) in got.iter().zip(&want) {
                assert!((g - w).abs() <= 1e-5 * scale, "param `{name}`: gradient {got:?} != brute force {want:?}");
            }
        }
        lp.loss
    })
}
