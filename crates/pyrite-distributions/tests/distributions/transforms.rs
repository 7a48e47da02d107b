//! Transforms: `inverse(forward(x)) = x`, outputs in the codomain, and log|det J| against the
//! log-abs-determinant of the autograd Jacobian (f64), for every transform, compositions and
//! `biject_to` of every supported constraint.

use std::rc::Rc;

use pyrite_distributions::constraints::{self, Bound, Constraint};
use pyrite_distributions::transforms::*;
use tch::{Device, Kind, Tensor};

use crate::util::*;

const F64: (Kind, Device) = (Kind::Double, Device::Cpu);

type Coords = fn(&Tensor) -> Tensor;

fn flat(t: &Tensor) -> Tensor {
    t.reshape([-1])
}

/// Entries on and below the diagonal of one matrix, row-major.
fn lower(t: &Tensor) -> Tensor {
    let n = t.size()[t.dim() - 1];
    let idx = Tensor::tril_indices(n, n, 0, (Kind::Int64, Device::Cpu));
    t.index(&[Some(idx.get(0)), Some(idx.get(1))])
}

/// Entries strictly below the diagonal of one matrix, row-major.
fn strictly_lower(t: &Tensor) -> Tensor {
    let n = t.size()[t.dim() - 1];
    let idx = Tensor::tril_indices(n, n, -1, (Kind::Int64, Device::Cpu));
    t.index(&[Some(idx.get(0)), Some(idx.get(1))])
}

/// The first K-1 coordinates of a K-simplex vector (torch's convention for stick breaking).
fn simplex_coords(t: &Tensor) -> Tensor {
    let k = t.size()[t.dim() - 1];
    t.narrow(-1, 0, k - 1).reshape([-1])
}

/// log |det| of the Jacobian of `cout(forward(x))` with respect to `cin(x)`, one event `x`.
fn autograd_logdet(t: &dyn Transform, x: &Tensor, cin: Coords, cout: Coords) -> f64 {
    let x = x.detach().set_requires_grad(true);
    let y = t.forward(&x);
    let yc = cout(&y);
    let m = yc.numel() as i64;
    let rows: Vec<Tensor> = (0..m).map(|i| cin(&Tensor::run_backward(&[yc.get(i)], &[&x], true, false)[0])).collect();
    let j = Tensor::stack(&rows, 0);
    assert_eq!(j.size(), vec![m, m], "{}: Jacobian is square in the chosen coordinates", t.name());
    let (_, logabsdet) = Tensor::linalg_slogdet(&j);
    scalar(&logabsdet)
}

struct Case {
    label: String,
    t: TransformRef,
    /// A batch of inputs; the first dim is the batch (size 2).
    x: Tensor,
    /// The set the outputs must lie in.
    codomain: Constraint,
    /// The shape of `log_abs_det_jacobian` on `x`.
    ladj_shape: Vec<i64>,
    cin: Coords,
    cout: Coords,
    /// What `inverse(forward(x))` gives back (x itself, or its lower triangle).
    recover: fn(&Tensor) -> Tensor,
}

fn same(x: &Tensor) -> Tensor {
    x.shallow_clone()
}

fn tril(x: &Tensor) -> Tensor {
    x.tril(0)
}

fn case(label: &str, t: TransformRef, x: Tensor, codomain: Constraint, ladj_shape: &[i64]) -> Case {
    Case { label: label.into(), t, x, codomain, ladj_shape: ladj_shape.to_vec(), cin: flat, cout: flat, recover: same }
}

fn check(c: &Case) {
    let Case { label, t, x, codomain, .. } = c;
    let y = t.forward(x);
    assert_eq!(y.size(), t.forward_shape(&x.size()), "{label}: forward_shape");
    assert_eq!(t.inverse_shape(&y.size()), x.size(), "{label}: inverse_shape");
    assert!(codomain.contains_all(&y), "{label}: forward(x) lies in {}: {y}", codomain.name());
    let x2 = t.inverse(&y);
    assert_tensors(&format!("{label}: inverse(forward(x))"), &x2, &(c.recover)(x), 1e-6, 1e-8);
    let ladj = t.log_abs_det_jacobian(x, &y);
    assert_eq!(ladj.size(), c.ladj_shape, "{label}: log_abs_det_jacobian shape");
    assert_eq!(ladj.kind(), Kind::Double, "{label}: ladj dtype");
    for b in 0..x.size()[0] {
        let xb = x.get(b);
        let want = autograd_logdet(t.as_ref(), &xb, c.cin, c.cout);
        let got = scalar(&ladj.get(b).sum(Kind::Double));
        assert!(close(got, want, 1e-6, 1e-8), "{label}: batch element {b}: log|det J| = {got}, autograd Jacobian gives {want}");
        // The same on one event alone.
        let single = scalar(&t.log_abs_det_jacobian(&xb, &t.forward(&xb)).sum(Kind::Double));
        assert!(close(single, got, 1e-10, 1e-10), "{label}: one event alone: {single} vs {got}");
    }
}

fn randn(shape: &[i64], scale: f64) -> Tensor {
    Tensor::randn(shape, F64) * scale
}

#[test]
fn elementary_transforms() {
    let _g = seeded(9000);
    let affine_t = |event_dim| {
        Rc::new(AffineTransform::new(
            Bound::Tensor(Tensor::from_slice(&[0.5, -1.0, 2.0, 0.0])),
            Bound::Tensor(Tensor::from_slice(&[2.0, -0.5, 0.1, 3.0])),
            event_dim,
        )) as TransformRef
    };
    let mut cases = vec![
        case("Identity", Rc::new(IdentityTransform), randn(&[2, 4], 1.0), Constraint::Real, &[2, 4]),
        case("Exp", Rc::new(ExpTransform), randn(&[2, 4], 2.0), Constraint::Positive, &[2, 4]),
        case("Softplus", Rc::new(SoftplusTransform), randn(&[2, 4], 3.0), Constraint::Positive, &[2, 4]),
        case("Sigmoid", Rc::new(SigmoidTransform), randn(&[2, 4], 2.0), Constraint::UnitInterval, &[2, 4]),
        case("Affine scalar", Rc::new(AffineTransform::new(Bound::Scalar(1.5), Bound::Scalar(-2.0), 0)), randn(&[2, 4], 1.0), Constraint::Real, &[2, 4]),
        case("Affine tensor", affine_t(0), randn(&[2, 4], 1.0), Constraint::Real, &[2, 4]),
        case("Affine tensor event_dim 1", affine_t(1), randn(&[2, 4], 1.0), Constraint::Real.independent(1), &[2]),
        case(
            "IndependentTransform(Exp, 1)",
            Rc::new(IndependentTransform::new(Rc::new(ExpTransform), 1)),
            randn(&[2, 4], 1.0),
            Constraint::Positive.independent(1),
            &[2],
        ),
        Case { cout: simplex_coords, ..case("StickBreaking K=4", Rc::new(StickBreakingTransform), randn(&[2, 3], 1.5), Constraint::Simplex, &[2]) },
        Case { cout: simplex_coords, ..case("StickBreaking K=2", Rc::new(StickBreakingTransform), randn(&[2, 1], 1.5), Constraint::Simplex, &[2]) },
        Case {
            cin: lower,
            cout: lower,
            recover: tril,
            ..case("LowerCholesky", Rc::new(LowerCholeskyTransform), randn(&[2, 3, 3], 1.0), Constraint::LowerCholesky, &[2])
        },
        Case {
            cin: lower,
            cout: lower,
            recover: tril,
            ..case("PositiveDefinite", Rc::new(PositiveDefiniteTransform), randn(&[2, 3, 3], 0.7), Constraint::PositiveDefinite, &[2])
        },
        Case { cout: strictly_lower, ..case("CorrCholesky n=3", Rc::new(CorrCholeskyTransform), randn(&[2, 3], 1.0), Constraint::CorrCholesky, &[2]) },
        Case { cout: strictly_lower, ..case("CorrCholesky n=4", Rc::new(CorrCholeskyTransform), randn(&[2, 6], 1.0), Constraint::CorrCholesky, &[2]) },
    ];
    // The domain and codomain say what the transforms expect.
    assert_eq!(StickBreakingTransform.domain_event_dim(), 1);
    assert_eq!(CorrCholeskyTransform.domain_event_dim(), 1);
    assert_eq!(CorrCholeskyTransform.codomain_event_dim(), 2);
    assert_eq!(CorrCholeskyTransform.forward_shape(&[5, 6]), vec![5, 4, 4]);
    assert_eq!(CorrCholeskyTransform.inverse_shape(&[5, 4, 4]), vec![5, 6]);
    assert_eq!(StickBreakingTransform.forward_shape(&[5, 3]), vec![5, 4]);
    assert_eq!(LowerCholeskyTransform.domain_event_dim(), 2);
    for c in cases.drain(..) {
        check(&c);
    }
}

#[test]
fn compositions() {
    let _g = seeded(9001);
    let exp: TransformRef = Rc::new(ExpTransform);
    let aff = |l: f64, s: f64| Rc::new(AffineTransform::new(Bound::Scalar(l), Bound::Scalar(s), 0)) as TransformRef;
    // Scales the strictly lower part of a Cholesky factor of a correlation matrix; the diagonal
    // and upper part keep scale 1 so that log|scale| summed over the matrix is the Jacobian of
    // the strictly-lower coordinates.
    let s = Tensor::ones([3, 3], F64) + Tensor::from_slice(&[0.0, 0.0, 0.0, 1.0, 0.0, 0.0, -0.5, 2.0, 0.0]).reshape([3, 3]);
    let scale_lower = Rc::new(AffineTransform::new(Bound::Scalar(0.0), Bound::Tensor(s), 0)) as TransformRef;
    let corr: TransformRef = Rc::new(CorrCholeskyTransform);
    let sb: TransformRef = Rc::new(StickBreakingTransform);
    let shift3 = Rc::new(AffineTransform::new(Bound::Tensor(Tensor::from_slice(&[0.1, -0.2, 0.3])), Bound::Tensor(Tensor::from_slice(&[1.5, 0.5, -2.0])), 0))
        as TransformRef;

    let corr_then_scale = Rc::new(ComposeTransform::new(vec![corr.clone(), scale_lower.clone()])) as TransformRef;
    assert_eq!(corr_then_scale.domain_event_dim(), 1, "Compose[CorrCholesky, Affine] domain event dim");
    assert_eq!(corr_then_scale.codomain_event_dim(), 2, "Compose[CorrCholesky, Affine] codomain event dim");
    let shift_then_sb = Rc::new(ComposeTransform::new(vec![shift3.clone(), sb.clone()])) as TransformRef;
    assert_eq!(shift_then_sb.domain_event_dim(), 1);
    assert_eq!(shift_then_sb.codomain_event_dim(), 1);

    let cases = vec![
        case("Compose[Affine, Exp]", Rc::new(ComposeTransform::new(vec![aff(0.5, 2.0), exp.clone()])), randn(&[2, 4], 1.0), Constraint::Positive, &[2, 4]),
        case(
            "Compose[Exp, Affine]",
            Rc::new(ComposeTransform::new(vec![exp.clone(), aff(-1.0, 3.0)])),
            randn(&[2, 4], 1.0),
            constraints::greater_than(-1.0),
            &[2, 4],
        ),
        case(
            "Compose[Softplus, Compose[Affine, Sigmoid]]",
            Rc::new(ComposeTransform::new(vec![Rc::new(SoftplusTransform), Rc::new(ComposeTransform::new(vec![aff(-1.0, 0.5), Rc::new(SigmoidTransform)]))])),
            randn(&[2, 4], 1.0),
            Constraint::UnitInterval,
            &[2, 4],
        ),
        Case { cout: simplex_coords, ..case("Compose[Affine tensor, StickBreaking]", shift_then_sb, randn(&[2, 3], 1.0), Constraint::Simplex, &[2]) },
        Case { cout: strictly_lower, ..case("Compose[CorrCholesky, Affine]", corr_then_scale, randn(&[2, 3], 1.0), Constraint::LowerCholesky, &[2]) },
        Case {
            cout: strictly_lower,
            ..case(
                "Compose[Affine, CorrCholesky, Affine]",
                Rc::new(ComposeTransform::new(vec![aff(0.2, 0.7), corr.clone(), scale_lower.clone()])),
                randn(&[2, 3], 1.0),
                Constraint::LowerCholesky,
                &[2],
            )
        },
        case("Compose[] (identity)", Rc::new(ComposeTransform::new(vec![])), randn(&[2, 3], 1.0), Constraint::Real, &[2, 3]),
    ];
    for c in &cases {
        check(c);
    }
}

#[test]
fn biject_to_every_constraint() {
    let _g = seeded(9002);
    let lo = Tensor::from_slice(&[-1.0, 0.0, 2.0, -5.0]);
    let hi = Tensor::from_slice(&[1.0, 0.5, 7.0, -4.0]);
    let scalar_cases: Vec<(Constraint, &[i64])> = vec![
        (Constraint::Real, &[2, 4]),
        (Constraint::Positive, &[2, 4]),
        (Constraint::Nonnegative, &[2, 4]),
        (constraints::greater_than(2.5), &[2, 4]),
        (Constraint::GreaterThanEq(Bound::Scalar(-1.0)), &[2, 4]),
        (Constraint::GreaterThan(Bound::Tensor(lo.shallow_clone())), &[2, 4]),
        (constraints::interval(-2.0, 5.0), &[2, 4]),
        (Constraint::Interval(Bound::Tensor(lo.shallow_clone()), Bound::Tensor(hi.shallow_clone())), &[2, 4]),
        (Constraint::Interval(Bound::Scalar(-10.0), Bound::Tensor(hi.shallow_clone())), &[2, 4]),
        (Constraint::UnitInterval, &[2, 4]),
        (Constraint::Real.independent(1), &[2]),
        (Constraint::Positive.independent(1), &[2]),
        (constraints::interval(0.0, 2.0).independent(1), &[2]),
        (Constraint::Ordered, &[2]),
        (Constraint::PositiveOrdered, &[2]),
    ];
    for (c, ladj_shape) in scalar_cases {
        let t = biject_to(&c).unwrap();
        assert_eq!(t.domain_event_dim(), c.event_dim(), "biject_to({}) domain event dim", c.name());
        assert_eq!(t.codomain_event_dim(), c.event_dim(), "biject_to({}) codomain event dim", c.name());
        let label = format!("biject_to({})", c.name());
        check(&case(&label, t, randn(&[2, 4], 1.5), c, ladj_shape));
    }
    let simplex = biject_to(&Constraint::Simplex).unwrap();
    check(&Case { cout: simplex_coords, ..case("biject_to(simplex)", simplex, randn(&[2, 4], 1.0), Constraint::Simplex, &[2]) });
    let lc = biject_to(&Constraint::LowerCholesky).unwrap();
    check(&Case { cin: lower, cout: lower, recover: tril, ..case("biject_to(lower_cholesky)", lc, randn(&[2, 3, 3], 1.0), Constraint::LowerCholesky, &[2]) });
    let cc = biject_to(&Constraint::CorrCholesky).unwrap();
    check(&Case { cout: strictly_lower, ..case("biject_to(corr_cholesky)", cc, randn(&[2, 3], 1.0), Constraint::CorrCholesky, &[2]) });

    // Bijections onto the real line keep extreme inputs inside the set.
    let t = biject_to(&constraints::interval(0.0, 1.0)).unwrap();
    let y = t.forward(&Tensor::from_slice(&[-800.0, 800.0, 0.0]));
    assert!(constraints::interval(0.0, 1.0).contains_all(&y));
    let y = biject_to(&Constraint::Simplex).unwrap().forward(&Tensor::from_slice(&[50.0, -50.0, 0.0]));
    assert!(Constraint::Simplex.contains_all(&y));

    // biject_to(positive_definite) lands in the set; no bijection onto a discrete set.
    let pd = biject_to(&Constraint::PositiveDefinite).unwrap();
    assert!(Constraint::PositiveDefinite.contains_all(&pd.forward(&Tensor::randn([5, 4, 4], F64))));
    for c in [Constraint::Boolean, Constraint::NonnegativeInteger, constraints::integer_interval(0, 3), Constraint::OneHot] {
        assert!(matches!(biject_to(&c), Err(pyrite_distributions::DistError::Unsupported { .. })), "biject_to({})", c.name());
    }
}
