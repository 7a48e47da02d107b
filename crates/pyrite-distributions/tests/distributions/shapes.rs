//! Batch and event shapes: `sample`, `log_prob`, `expand`, `to_event`, `mask` and
//! `enumerate_support`.

use pyrite_distributions::prelude::*;
use tch::{Device, Kind, Tensor};

use crate::util::*;

const F64: (Kind, Device) = (Kind::Double, Device::Cpu);

fn full(shape: &[i64], v: f64) -> Tensor {
    Tensor::full(shape, v, F64)
}

/// One distribution of every family, each with batch shape [2, 3] (built by broadcasting
/// where the family has several parameters).
fn zoo() -> Vec<(&'static str, DistRef, Vec<i64>)> {
    let probs = Tensor::from_slice(&[0.1, 0.2, 0.3, 0.4]).expand([2, 3, 4], false);
    vec![
        ("Normal", Normal::new(full(&[2, 1], 0.5), full(&[3], 2.0)).unwrap().into_dist(), vec![]),
        ("HalfNormal", HalfNormal::new(full(&[2, 3], 1.5)).unwrap().into_dist(), vec![]),
        ("LogNormal", LogNormal::new(full(&[3], 0.0), full(&[2, 1], 0.5)).unwrap().into_dist(), vec![]),
        ("Uniform", Uniform::new(full(&[2, 3], -1.0), full(&[3], 1.0)).unwrap().into_dist(), vec![]),
        ("Exponential", Exponential::new(full(&[2, 3], 2.0)).unwrap().into_dist(), vec![]),
        ("Gamma", Gamma::new(full(&[2, 1], 0.7), full(&[3], 2.0)).unwrap().into_dist(), vec![]),
        ("InverseGamma", InverseGamma::new(full(&[2, 3], 3.0), 1.0f64).unwrap().into_dist(), vec![]),
        ("Beta", Beta::new(full(&[2, 3], 0.5), full(&[3], 2.0)).unwrap().into_dist(), vec![]),
        ("Dirichlet", Dirichlet::new(full(&[2, 3, 4], 0.8)).unwrap().into_dist(), vec![4]),
        ("StudentT", StudentT::new(full(&[3], 4.0), full(&[2, 1], 0.0), 1.0f64).unwrap().into_dist(), vec![]),
        ("Cauchy", Cauchy::new(full(&[2, 3], 0.0), 1.0f64).unwrap().into_dist(), vec![]),
        ("HalfCauchy", HalfCauchy::new(full(&[2, 3], 1.0)).unwrap().into_dist(), vec![]),
        ("Laplace", Laplace::new(full(&[2, 3], 0.0), full(&[2, 3], 1.0)).unwrap().into_dist(), vec![]),
        ("MultivariateNormal", MultivariateNormal::from_scale_tril(full(&[2, 3, 2], 0.0), Tensor::eye(2, F64)).unwrap().into_dist(), vec![2]),
        (
            "LowRankMultivariateNormal",
            LowRankMultivariateNormal::new(full(&[2, 1, 2], 0.0), full(&[3, 2, 1], 0.5), full(&[2], 1.0)).unwrap().into_dist(),
            vec![2],
        ),
        ("Categorical", Categorical::new(&probs).unwrap().into_dist(), vec![]),
        ("OneHotCategorical", OneHotCategorical::new(&probs).unwrap().into_dist(), vec![4]),
        ("Bernoulli", Bernoulli::new(full(&[2, 3], 0.3)).unwrap().into_dist(), vec![]),
        ("Binomial", Binomial::new(5.0f64, full(&[2, 3], 0.3)).unwrap().into_dist(), vec![]),
        ("Poisson", Poisson::new(full(&[2, 3], 3.0)).unwrap().into_dist(), vec![]),
        ("NegativeBinomial", NegativeBinomial::new(full(&[2, 1], 2.0), full(&[3], 0.4)).unwrap().into_dist(), vec![]),
    ]
}

fn with_event(prefix: &[i64], event: &[i64]) -> Vec<i64> {
    prefix.iter().chain(event).copied().collect()
}

fn all_finite(t: &Tensor) -> bool {
    vals(t).iter().all(|x| x.is_finite())
}

#[test]
fn sample_and_log_prob_shapes() {
    let _g = seeded(7000);
    for (name, d, event) in zoo() {
        assert_eq!(d.name(), name);
        assert_eq!(d.batch_shape(), &[2, 3], "{name}: batch_shape");
        assert_eq!(d.event_shape(), event.as_slice(), "{name}: event_shape");
        assert_eq!(d.sample(&[]).unwrap().size(), with_event(&[2, 3], &event), "{name}: sample(&[])");
        assert_eq!(d.sample(&[4, 5]).unwrap().size(), with_event(&[4, 5, 2, 3], &event), "{name}: sample(&[4, 5])");
        let x = d.sample(&[5]).unwrap();
        assert_eq!(x.size(), with_event(&[5, 2, 3], &event), "{name}: sample(&[5])");
        assert_eq!(x.size(), d.shape(&[5]), "{name}: shape()");
        let lp = d.log_prob(&x).unwrap();
        assert_eq!(lp.size(), vec![5, 2, 3], "{name}: log_prob of samples");
        assert!(all_finite(&lp), "{name}: log_prob of its own samples is finite: {:?}", vals(&lp));
        if d.has_rsample() {
            let r = d.rsample(&[5]).unwrap();
            assert_eq!(r.size(), with_event(&[5, 2, 3], &event), "{name}: rsample(&[5])");
        } else {
            assert!(matches!(d.rsample(&[5]), Err(DistError::Unsupported { .. })), "{name}: rsample unsupported");
        }
        // A value with fewer batch dims broadcasts.
        let one = x.get(0).get(0);
        assert_eq!(d.log_prob(&one).unwrap().size(), vec![2, 3], "{name}: log_prob of a [3]-batch value");
        if let Ok(m) = d.mean() {
            assert_eq!(m.size(), with_event(&[2, 3], &event), "{name}: mean shape");
        }
        if let Ok(v) = d.variance() {
            assert_eq!(v.size(), with_event(&[2, 3], &event), "{name}: variance shape");
        }
        if let Ok(h) = d.entropy() {
            assert_eq!(h.size(), vec![2, 3], "{name}: entropy shape");
        }
    }
}

#[test]
fn expand_shapes() {
    let _g = seeded(7001);
    for (name, d, event) in zoo() {
        let e = d.expand(&[7, 2, 3]).unwrap();
        assert_eq!(e.name(), name);
        assert_eq!(e.batch_shape(), &[7, 2, 3], "{name}: expanded batch_shape");
        assert_eq!(e.event_shape(), event.as_slice(), "{name}: expanded event_shape");
        let x = e.sample(&[2]).unwrap();
        assert_eq!(x.size(), with_event(&[2, 7, 2, 3], &event), "{name}: expanded sample");
        let lp = e.log_prob(&x).unwrap();
        assert_eq!(lp.size(), vec![2, 7, 2, 3], "{name}: expanded log_prob");
        // The expanded family has the same log density, broadcast.
        let base_lp = d.log_prob(&x).unwrap();
        assert_tensors(&format!("{name}: expanded log_prob"), &lp, &base_lp, 1e-12, 1e-12);
        if let (Ok(m), Ok(m0)) = (e.mean(), d.mean()) {
            assert_tensors(&format!("{name}: expanded mean"), &m, &m0.expand(m.size().as_slice(), false), 0.0, 0.0);
        }
        if let (Ok(h), Ok(h0)) = (e.entropy(), d.entropy()) {
            assert_tensors(&format!("{name}: expanded entropy"), &h, &h0.expand([7, 2, 3], false), 0.0, 0.0);
        }
        // Same shape is fine; a non-broadcasting one is a shape error.
        assert_eq!(d.expand(&[2, 3]).unwrap().batch_shape(), &[2, 3]);
        assert!(matches!(d.expand(&[3, 3]), Err(DistError::Shape { .. })), "{name}: expand to [3, 3]");
        assert!(matches!(d.expand(&[3]), Err(DistError::Shape { .. })), "{name}: expand to [3]");
        // expand_to is the chainable spelling.
        assert_eq!(d.clone().expand_to(&[1, 2, 3]).unwrap().batch_shape(), &[1, 2, 3]);
    }
    // Expanding a size-1 dim.
    let n = Normal::new(full(&[2, 1], 0.0), 1.0f64).unwrap();
    let e = n.expand(&[4, 2, 5]).unwrap();
    assert_eq!(e.sample(&[3]).unwrap().size(), vec![3, 4, 2, 5]);
}

#[test]
fn to_event_shapes() {
    let _g = seeded(7002);
    for (name, d, event) in zoo() {
        let i1 = d.clone().to_event(1).unwrap();
        assert_eq!(i1.batch_shape(), &[2], "{name}: to_event(1) batch");
        assert_eq!(i1.event_shape(), with_event(&[3], &event).as_slice(), "{name}: to_event(1) event");
        assert_eq!(i1.reinterpreted_dims(), 1);
        assert_eq!(i1.has_rsample(), d.has_rsample());
        let x = i1.sample(&[4]).unwrap();
        assert_eq!(x.size(), with_event(&[4, 2, 3], &event));
        let lp = i1.log_prob(&x).unwrap();
        assert_eq!(lp.size(), vec![4, 2], "{name}: to_event(1) log_prob");
        let summed = d.log_prob(&x).unwrap().sum_dim_intlist(-1, false, None::<Kind>);
        assert_tensors(&format!("{name}: to_event(1) log_prob"), &lp, &summed, 1e-12, 1e-12);
        assert_eq!(i1.support().event_dim(), d.support().event_dim() + 1, "{name}: support event dim");

        let i2 = d.clone().to_event(2).unwrap();
        assert_eq!(i2.batch_shape(), &[] as &[i64]);
        assert_eq!(i2.event_shape(), with_event(&[2, 3], &event).as_slice());
        assert_eq!(i2.log_prob(&x).unwrap().size(), vec![4]);

        // Nested to_event flattens into one Independent.
        let nested = d.clone().to_event(1).unwrap().to_event(1).unwrap();
        assert_eq!(nested.batch_shape(), &[] as &[i64]);
        assert_eq!(nested.event_shape(), i2.event_shape());
        assert_eq!(nested.reinterpreted_dims(), 2, "{name}: nested to_event flattens");
        assert_tensors(&format!("{name}: nested to_event"), &nested.log_prob(&x).unwrap(), &i2.log_prob(&x).unwrap(), 1e-12, 1e-12);

        // to_event(0) keeps the batch shape; expanding an Independent expands its base.
        let i0 = d.clone().to_event(0).unwrap();
        assert_eq!(i0.batch_shape(), &[2, 3]);
        let e = i1.expand(&[5, 2]).unwrap();
        assert_eq!(e.batch_shape(), &[5, 2]);
        assert_eq!(e.event_shape(), i1.event_shape());
        assert_eq!(e.sample(&[]).unwrap().size(), with_event(&[5, 2, 3], &event));
        if let (Ok(h), Ok(h0)) = (i1.entropy(), d.entropy()) {
            assert_tensors(&format!("{name}: to_event entropy"), &h, &h0.sum_dim_intlist(-1, false, None::<Kind>), 1e-12, 1e-12);
        }
    }
}

#[test]
fn mask_shapes_and_values() {
    let _g = seeded(7003);
    let mask = Tensor::from_slice(&[true, false, true]);
    for (name, d, event) in zoo() {
        let m = d.clone().mask(&mask).unwrap();
        assert_eq!(m.batch_shape(), &[2, 3]);
        assert_eq!(m.event_shape(), event.as_slice());
        let x = d.sample(&[4]).unwrap();
        let lp = m.log_prob(&x).unwrap();
        let base = d.log_prob(&x).unwrap();
        assert_eq!(lp.size(), vec![4, 2, 3]);
        assert!(vals(&lp.select(-1, 1)).iter().all(|&v| v == 0.0), "{name}: masked entries are zero");
        assert_tensors(&format!("{name}: unmasked entries"), &lp.select(-1, 0), &base.select(-1, 0), 0.0, 0.0);
        assert_tensors(&format!("{name}: unmasked entries"), &lp.select(-1, 2), &base.select(-1, 2), 0.0, 0.0);

        // A mask with more dims broadcasts the batch shape.
        let big = Tensor::from_slice(&[true, false, true, true]).reshape([4, 1, 1]);
        let mb = d.clone().mask(&big).unwrap();
        assert_eq!(mb.batch_shape(), &[4, 2, 3], "{name}: broadcast mask batch");
        let x = mb.sample(&[]).unwrap();
        assert_eq!(x.size(), with_event(&[4, 2, 3], &event));
        let lp = mb.log_prob(&x).unwrap();
        assert_eq!(lp.size(), vec![4, 2, 3]);
        assert!(vals(&lp.get(1)).iter().all(|&v| v == 0.0), "{name}: masked row is zero");
        assert!(all_finite(&lp.get(0)) && vals(&lp.get(0)).iter().all(|&v| v != 0.0), "{name}: unmasked row");
    }
    // Masked log_prob is zero (not NaN) even where the base log density is -inf.
    let e = Exponential::new(full(&[2], 1.0)).unwrap();
    let m = e.mask(&Tensor::from_slice(&[false, true])).unwrap();
    let u = Uniform::new(full(&[2], 0.0), full(&[2], 1.0)).unwrap().mask(&Tensor::from_slice(&[false, true])).unwrap();
    let lp = u.log_prob(&Tensor::from_slice(&[1.0, 0.5])).unwrap();
    assert_eq!(vals(&lp), vec![0.0, 0.0]);
    assert_eq!(vals(&m.log_prob(&Tensor::from_slice(&[0.5, 0.5])).unwrap()), vec![0.0, -0.5]);
}

#[test]
fn enumerate_support_shapes() {
    let probs = Tensor::from_slice(&[0.2, 0.3, 0.5]).expand([2, 4, 3], false);
    let cat = Categorical::new(&probs).unwrap();
    let onehot = OneHotCategorical::new(&probs).unwrap();
    let bern = Bernoulli::new(full(&[2, 4], 0.3)).unwrap();
    let binom = Binomial::new(4.0f64, full(&[2, 4], 0.3)).unwrap();
    let cases: Vec<(&str, DistRef, i64, Vec<i64>)> = vec![
        ("Categorical", cat.into_dist(), 3, vec![]),
        ("OneHotCategorical", onehot.into_dist(), 3, vec![3]),
        ("Bernoulli", bern.into_dist(), 2, vec![]),
        ("Binomial", binom.into_dist(), 5, vec![]),
    ];
    for (name, d, n, event) in cases {
        assert!(d.has_enumerate_support(), "{name}");
        let s = d.enumerate_support(false).unwrap();
        assert_eq!(s.size(), with_event(&[n, 1, 1], &event), "{name}: enumerate_support(false)");
        let se = d.enumerate_support(true).unwrap();
        assert_eq!(se.size(), with_event(&[n, 2, 4], &event), "{name}: enumerate_support(true)");
        // The values are 0..n (or the rows of the identity) ...
        let flat = vals(&s);
        if event.is_empty() {
            assert_eq!(flat, (0..n).map(|i| i as f64).collect::<Vec<_>>(), "{name}: support values");
        } else {
            assert_eq!(s.reshape([n, n]).to_kind(Kind::Double).eq_tensor(&Tensor::eye(n, F64)).all().int64_value(&[]), 1);
        }
        // ... with the probabilities summing to one over the support.
        let lp = d.log_prob(&s).unwrap();
        assert_eq!(lp.size(), vec![n, 2, 4], "{name}: log_prob of the support");
        let total = lp.exp().sum_dim_intlist(0, false, None::<Kind>);
        assert_tensors(&format!("{name}: total probability"), &total, &Tensor::ones([2, 4], F64), 1e-12, 1e-12);
        let lpe = d.log_prob(&se).unwrap();
        assert_eq!(lpe.size(), vec![n, 2, 4]);
        // Through expand, to_event and mask too.
        let e = d.expand(&[3, 2, 4]).unwrap();
        assert_eq!(e.enumerate_support(false).unwrap().size(), with_event(&[n, 1, 1, 1], &event), "{name}: expanded");
        assert_eq!(e.enumerate_support(true).unwrap().size(), with_event(&[n, 3, 2, 4], &event), "{name}: expanded");
        let m = d.clone().mask(&Tensor::from_slice(&[true, false, true, true])).unwrap();
        assert!(m.has_enumerate_support());
        assert_eq!(m.enumerate_support(true).unwrap().size(), with_event(&[n, 2, 4], &event), "{name}: masked");
    }
    // Families without a finite support say so.
    let p = Poisson::new(2.0f64).unwrap();
    assert!(!p.has_enumerate_support());
    assert!(matches!(p.enumerate_support(false), Err(DistError::Unsupported { .. })));
    // Categorical enumerates i64 indices; Bernoulli the parameter's float dtype.
    let c = Categorical::new(Tensor::from_slice(&[0.5f32, 0.5])).unwrap();
    assert_eq!(c.enumerate_support(false).unwrap().kind(), Kind::Int64);
    assert_eq!(Bernoulli::new(0.5f64).unwrap().enumerate_support(false).unwrap().kind(), Kind::Float);
    assert_eq!(Bernoulli::new(full(&[1], 0.5)).unwrap().enumerate_support(false).unwrap().kind(), Kind::Double);
    // Binomial with an inhomogeneous total_count cannot enumerate.
    let b = Binomial::new(Tensor::from_slice(&[2.0, 3.0]), 0.5f64).unwrap();
    assert!(matches!(b.enumerate_support(true), Err(DistError::Unsupported { .. })));
}
