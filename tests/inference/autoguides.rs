//! Autoguides: medians and quantiles, posterior samples, init strategies, guides run inside an
//! outer plate, blocked models and subsampled plates; each guide type's summaries against those
//! of the single `AutoContinuous` type it replaced, and the continuous guides' joint posteriors.

use pyrite::prelude::*;

use super::common::*;

const N: i64 = 4;

/// A model with a real site, a positive site, a simplex site and a positive site per datum.
fn model(x: &Tensor) -> Result<()> {
    let mu = sample("mu", Normal::new(c64(0.0), c64(2.0))?)?;
    let s = sample("s", Gamma::new(c64(2.0), c64(1.0))?)?;
    let probs = sample("probs", Dirichlet::new(Tensor::ones([3], (Kind::Double, Device::Cpu)))?)?;
    let width = sample("width", Uniform::new(c64(0.0), c64(10.0))?)?;
    plate("data", N, |_| {
        let lam = sample("lam", LogNormal::new(&mu, c64(1.0))?)?;
        // `select(-1, ..)`, not `get(..)`: the model must broadcast over outer sample dims
        observe("obs", Normal::new(lam * probs.select(-1, 0) * &width, &s)?, x)
    })?;
    Ok(())
}

fn data() -> Tensor {
    t64(&[0.5, 1.5, 2.5, 1.0])
}

fn site_shapes() -> Vec<(&'static str, Vec<i64>)> {
    vec![("mu", vec![]), ("s", vec![]), ("probs", vec![3]), ("width", vec![]), ("lam", vec![N])]
}

/// Every element of `a` is strictly below the matching element of `b`.
fn all_below(a: &Tensor, b: &Tensor) -> bool {
    to_vec(a).iter().zip(to_vec(b)).all(|(x, y)| *x < y)
}

#[test]
fn autonormal_medians_and_quantiles() {
    seeded(41, || {
        let x = data();
        let guide = AutoNormal::new(&model, &x).unwrap();
        fit(&model, &guide, &x, 30, 0.05, 1.0, 1);
        let median = guide.median().unwrap();
        let qs = guide.quantiles(&[0.05, 0.5, 0.95]).unwrap();
        let z = 1.6448536269514722; // the standard normal's 95% quantile
        for (name, shape) in site_shapes() {
            assert_eq!(median[name].size(), shape, "median of {name}");
            assert!(qs[1][name].equal(&median[name]), "quantile(0.5) of {name} is the median");
            if name != "probs" {
                // univariate sites: q05 < median < q95 everywhere
                assert!(all_below(&qs[0][name], &median[name]) && all_below(&median[name], &qs[2][name]), "quantiles of {name}");
            }
        }
        // exact values: the transformed loc +- z * scale
        let (loc, scale) = (scalar(&param_value("AutoNormal.locs.s")), scalar(&param_value("AutoNormal.scales.s")));
        assert_near("median of s", scalar(&median["s"]), loc.exp(), 1e-12);
        assert_near("q05 of s", scalar(&qs[0]["s"]), (loc - z * scale).exp(), 1e-9);
        assert_near("q95 of s", scalar(&qs[2]["s"]), (loc + z * scale).exp(), 1e-9);
        let (loc, scale) = (scalar(&param_value("AutoNormal.locs.mu")), scalar(&param_value("AutoNormal.scales.mu")));
        assert_near("q95 of mu", scalar(&guide.quantile(0.95).unwrap()["mu"]), loc + z * scale, 1e-9);
        // the simplex median lies on the simplex
        assert_near("median of probs sums to 1", scalar(&median["probs"].sum(Kind::Double)), 1.0, 1e-12);
    });
}

#[test]
fn automultivariatenormal_medians_and_quantiles() {
    seeded(42, || {
        let x = data();
        let guide = AutoMultivariateNormal::new(&model, &x).unwrap();
        fit(&model, &guide, &x, 30, 0.05, 1.0, 1);
        let median = guide.median().unwrap();
        let q05 = guide.quantile(0.05).unwrap();
        let q95 = guide.quantile(0.95).unwrap();
        for (name, shape) in site_shapes() {
            assert_eq!(median[name].size(), shape, "median of {name}");
            assert!(guide.quantile(0.5).unwrap()[name].equal(&median[name]));
            if name != "probs" {
                assert!(all_below(&q05[name], &median[name]) && all_below(&median[name], &q95[name]), "quantiles of {name}");
            }
        }
        // the median is the transformed loc: `s` is the second coordinate
        let loc = param_value("AutoMultivariateNormal.loc");
        assert_eq!(loc.size(), vec![1 + 1 + 2 + 1 + N], "mu, s, probs (2 unconstrained), width, lam");
        assert_near("median of s", scalar(&median["s"]), scalar(&loc.get(1)).exp(), 1e-12);
        assert_near("median of width", scalar(&median["width"]), 10.0 / (1.0 + (-scalar(&loc.get(4))).exp()), 1e-12);
    });
}

#[test]
fn sample_posterior_has_shape_num_samples_by_site_shape() {
    seeded(43, || {
        let x = data();
        let normal = AutoNormal::new(&model, &x).unwrap();
        let mvn = AutoMultivariateNormal::new(&model, &x).unwrap();
        let diag = AutoDiagonalNormal::new(&model, &x).unwrap();
        let low = AutoLowRankMultivariateNormal::new(&model, &x, 2).unwrap();
        let all = [
            ("AutoNormal", normal.sample_posterior(50).unwrap()),
            ("AutoMultivariateNormal", mvn.sample_posterior(50).unwrap()),
            ("AutoDiagonalNormal", diag.sample_posterior(50).unwrap()),
            ("AutoLowRankMultivariateNormal", low.sample_posterior(50).unwrap()),
        ];
        for (guide, s) in &all {
            for (name, shape) in site_shapes() {
                let mut want = vec![50];
                want.extend(shape);
                assert_eq!(s[name].size(), want, "{guide}: {name}");
            }
            // values in their supports, and different from sample to sample
            assert!(to_vec(&s["s"]).iter().all(|v| *v > 0.0), "{guide}");
            assert!(to_vec(&s["lam"]).iter().all(|v| *v > 0.0), "{guide}");
            assert!((s["probs"].sum_dim_intlist(-1, false, Kind::Double) - 1.0).abs().max().double_value(&[]) < 1e-9, "{guide}");
            assert!(scalar(&s["lam"].std(true)) > 0.0, "{guide}");
            // each datum's lam is its own (not one value broadcast over the plate)
            assert!(scalar(&(s["lam"].select(1, 0) - s["lam"].select(1, 1)).abs().max()) > 0.0, "{guide}");
        }
        // AutoNormal's samples spread as its scales say: log s has sd 0.1 initially
        let log_s = all[0].1["s"].log();
        assert_near("sample mean of log s", scalar(&log_s.mean(Kind::Double)), scalar(&param_value("AutoNormal.locs.s")), 0.05);
    });
}

#[test]
fn init_strategies_set_the_initial_medians() {
    seeded(44, || {
        let x = data();
        // Feasible (AutoNormal's default): the image of 0
        let guide = AutoNormal::new(&model, &x).unwrap();
        let m = guide.median().unwrap();
        assert_eq!(scalar(&m["mu"]), 0.0);
        assert_eq!(scalar(&m["s"]), 1.0);
        assert_eq!(scalar(&m["width"]), 5.0);
        assert_eq!(to_vec(&m["lam"]), vec![1.0; N as usize]);
        for p in to_vec(&m["probs"]) {
            assert_near("feasible simplex point", p, 1.0 / 3.0, 1e-12);
        }
        // Value: the given values, Uniform(-2, 2) in the unconstrained space for the others
        let given = || values(&[("mu", &c64(1.5)), ("s", &c64(0.25)), ("lam", &t64(&[1.0, 2.0, 3.0, 4.0]))]);
        for build in 0..2 {
            with_param_store(&new_param_store(), || {
                let m = if build == 0 {
                    AutoNormal::with_init(&model, &x, InitStrategy::Value(given()), 0.1).unwrap().median().unwrap()
                } else {
                    let g = AutoMultivariateNormal::with_init(&model, &x, InitStrategy::Value(given()), 0.1).unwrap();
                    g.median().unwrap()
                };
                assert_near("init mu", scalar(&m["mu"]), 1.5, 1e-12);
                assert_near("init s", scalar(&m["s"]), 0.25, 1e-12);
                for (got, want) in to_vec(&m["lam"]).iter().zip([1.0, 2.0, 3.0, 4.0]) {
                    assert_near("init lam", *got, want, 1e-12);
                }
                let w = scalar(&m["width"]);
                let (lo, hi) = (10.0 / (1.0 + 2f64.exp()), 10.0 / (1.0 + (-2f64).exp()));
                assert!(w >= lo && w <= hi, "width {w} from Uniform(-2, 2) unconstrained");
            });
        }
        // AutoDelta: init_to_mean gives the prior mean; init_to_median a point in the support
        with_param_store(&new_param_store(), || {
            let m = AutoDelta::with_init(&model, &x, InitStrategy::Mean).unwrap().median().unwrap();
            assert_eq!(scalar(&m["s"]), 2.0, "Gamma(2, 1) has mean 2");
            assert_eq!(scalar(&m["width"]), 5.0);
            assert_eq!(scalar(&m["mu"]), 0.0);
        });
        with_param_store(&new_param_store(), || {
            let m = AutoDelta::new(&model, &x).unwrap().median().unwrap();
            assert!(scalar(&m["s"]) > 0.0 && scalar(&m["width"]) > 0.0 && scalar(&m["width"]) < 10.0);
            assert_near("median init on the simplex", scalar(&m["probs"].sum(Kind::Double)), 1.0, 1e-9);
        });
    });
}

#[test]
fn a_guide_inside_an_outer_plate_draws_all_samples_at_once() {
    seeded(45, || {
        let x = data();
        let normal = AutoNormal::new(&model, &x).unwrap();
        let mvn = AutoMultivariateNormal::new(&model, &x).unwrap();
        let medians = [scalar(&normal.median().unwrap()["mu"]), scalar(&mvn.median().unwrap()["mu"])];
        for ((name, guide), median) in
            [("AutoNormal", &normal as &dyn Guide<Tensor>), ("AutoMultivariateNormal", &mvn as &dyn Guide<Tensor>)].into_iter().zip(medians)
        {
            let tr = get_trace(|| Plate::new("samples", 800).dim(-2).run(|_| guide.call(&x))).unwrap();
            // global sites get the sample dim at -2, the data plate's site keeps its size at -1
            assert_eq!(tr.site("mu").unwrap().value.size(), vec![800, 1], "{name}");
            assert_eq!(tr.site("probs").unwrap().value.size(), vec![800, 1, 3], "{name}");
            assert_eq!(tr.site("lam").unwrap().value.size(), vec![800, N], "{name}");
            // the draws are the guide's: mu is around its median, with the initial scale 0.1
            let mu = tr.site("mu").unwrap().value.to_kind(Kind::Double);
            // (standard error 0.1 / sqrt(800) = 0.0035)
            assert_near(&format!("{name}: mean of 800 draws of mu"), scalar(&mu.mean(Kind::Double)), median, 0.015);
            assert_rel(&format!("{name}: sd of 800 draws of mu"), scalar(&mu.std(true)), 0.1, 0.1);
            // and the model replayed on them scores every sample
            let mt = get_trace(|| Plate::new("samples", 800).dim(-2).run(|_| replay(&tr, || model(&x)))).unwrap();
            assert_eq!(mt.site("obs").unwrap().log_prob().unwrap().size(), vec![800, N], "{name}");
        }
    });
}

#[test]
fn autonormal_on_a_blocked_model_covers_only_the_exposed_sites() {
    seeded(46, || {
        let x = data();
        let blocked = |x: &Tensor| block(BlockSpec::expose(&["mu", "lam", "obs"]), || model(x));
        let guide = AutoNormal::new(&blocked, &x).unwrap();
        let names: Vec<&str> = guide.prototype().sites.iter().map(|s| s.name.as_str()).collect();
        assert_eq!(names, vec!["mu", "lam"]);
        let tr = get_trace(|| guide.call(&x)).unwrap();
        assert!(tr.contains("mu") && tr.contains("lam") && !tr.contains("s") && !tr.contains("probs"));
        // SVI runs on the blocked model (the hidden sites are drawn from their priors)
        fit(&blocked, &guide, &x, 5, 0.01, 1.0, 1);
        let store = get_param_store();
        let mut params = pyrite::core::param_store::lock(&store).names();
        params.sort();
        assert_eq!(params, vec!["AutoNormal.locs.lam", "AutoNormal.locs.mu", "AutoNormal.scales.lam", "AutoNormal.scales.mu"]);
    });
}

/// `mu ~ N(0, 1)`, `z_i ~ N(mu, 1)` and `x_i ~ N(z_i, 0.5)` for 100 data seen 10 at a time.
fn subsampled(x: &Tensor) -> Result<()> {
    let mu = sample("mu", Normal::new(c64(0.0), c64(1.0))?)?;
    Plate::new("data", 100).subsample_size(10).run(|p| {
        let z = sample("z", Normal::new(&mu, c64(1.0))?)?;
        observe("x", Normal::new(z, c64(0.5))?, &p.subsample(x, 0)?)
    })?;
    Ok(())
}

#[test]
fn autonormal_with_a_subsampled_plate_of_local_latents() {
    seeded(47, || {
        let x = Tensor::linspace(-3.0, 3.0, 100, (Kind::Double, Device::Cpu));
        let guide = AutoNormal::new(&subsampled, &x).unwrap();
        // a guide run draws the subsample; the model replayed on it uses the same indices and
        // scales each datum's and each local latent's log-density by 100 / 10
        let gt = get_trace(|| guide.call(&x)).unwrap();
        assert_eq!(gt.site("z").unwrap().value.size(), vec![10]);
        assert_eq!(gt.site("z").unwrap().scale, 10.0);
        let mt = get_trace(|| replay(&gt, || subsampled(&x))).unwrap();
        assert_eq!(mt.site("x").unwrap().scale, 10.0);
        assert_eq!(mt.site("z").unwrap().scale, 10.0);
        assert_eq!(mt.site("mu").unwrap().scale, 1.0);
        assert!(mt.site("z").unwrap().value.equal(&gt.site("z").unwrap().value));
        // SVI runs: the local params are full size, each datum's loc follows its own datum
        let losses = fit(&subsampled, &guide, &x, 400, 0.05, 0.2, 1);
        assert!(losses.iter().all(|l| l.is_finite()));
        let locs = param_value("AutoNormal.locs.z");
        assert_eq!(locs.size(), vec![100]);
        let c = Tensor::stack(&[locs, x.shallow_clone()], 0).corrcoef().double_value(&[0, 1]);
        assert!(c > 0.95, "correlation of the local locs with their data: {c}");
        // the global mean: posterior mean of mu given z ~ N(mu, 1 + 0.25) marginally is
        // sum(x) / (100 / 1.25 + 1) = 0 here; within 0.2 (subsampling noise, short run)
        assert_near("loc of mu", scalar(&param_value("AutoNormal.locs.mu")), 0.0, 0.2);
    });
}

#[test]
fn autodelta_subsamples_its_local_params_in_step_with_the_model() {
    seeded(48, || {
        // AutoDelta's z set to the data: whatever subsample the guide draws, the model sees the
        // same data, so the replayed z equals the observed x element by element.
        let x = Tensor::linspace(-3.0, 3.0, 100, (Kind::Double, Device::Cpu));
        let guide = AutoDelta::new(&subsampled, &x).unwrap();
        guide.call(&x).unwrap();
        let store = get_param_store();
        pyrite::core::param_store::lock(&store).set("AutoDelta.z", &x, Constraint::Real).unwrap();
        for _ in 0..5 {
            let gt = get_trace(|| guide.call(&x)).unwrap();
            let mt = get_trace(|| replay(&gt, || subsampled(&x))).unwrap();
            assert_eq!(mt.site("x").unwrap().value.size(), vec![10]);
            assert!(mt.site("z").unwrap().value.equal(&mt.site("x").unwrap().value));
        }
    });
}

#[test]
fn autocontinuous_guides_refuse_subsampling() {
    seeded(49, || {
        let x = Tensor::linspace(-3.0, 3.0, 100, (Kind::Double, Device::Cpu));
        let err = AutoMultivariateNormal::new(&subsampled, &x).err().expect("subsampling refused");
        assert!(matches!(err, PyriteError::Plate { ref plate, .. } if plate == "data"), "{err}");
    });
}

#[test]
fn point_mass_and_joint_guides_train_with_vectorised_particles() {
    seeded(50, || {
        // The plate nesting is found from a run without random draws: the guides' Delta sites
        // must keep their own (constrained) values there, or `s = 0` breaks the model's Normal.
        let x = data();
        let delta = AutoDelta::new(&model, &x).unwrap();
        let losses = fit(&model, &delta, &x, 5, 0.01, 1.0, 8);
        assert!(losses.iter().all(|l| l.is_finite()));
        let mvn = AutoMultivariateNormal::new(&model, &x).unwrap();
        let losses = fit(&model, &mvn, &x, 5, 0.01, 1.0, 8);
        assert!(losses.iter().all(|l| l.is_finite()));
    });
}

/// All sites' values in order, flattened, weighted by position: equal checksums mean equal values.
fn checksum<'a>(m: impl IntoIterator<Item = (&'a String, &'a Tensor)>) -> f64 {
    let all: Vec<f64> = m.into_iter().flat_map(|(_, v)| to_vec(v)).collect();
    all.iter().enumerate().map(|(i, v)| v * (1.0 + 0.1 * i as f64)).sum()
}

/// 20 steps of Adam from seed `s`, then `(median, [q10, q90], 3 draws from seed 7)` checksums.
fn fitted_summaries(s: u64, build: impl FnOnce(&Tensor) -> Box<dyn AutoGuide>) -> (f64, Vec<f64>, f64) {
    seeded(s, || {
        let x = data();
        let guide = build(&x);
        fit(&model, &|_: &Tensor| guide.sample_sites(), &x, 20, 0.05, 1.0, 1);
        let qs = guide.quantiles(&[0.1, 0.9]).unwrap();
        let draws = seed(7, || guide.sample_posterior(3)).unwrap();
        (checksum(&guide.median().unwrap()), qs.iter().map(checksum).collect(), checksum(&draws))
    })
}

#[test]
fn each_guide_type_summarises_its_fit_as_the_single_autocontinuous_type_did() {
    // Checksums printed by the code before the guides became types (one `AutoContinuous` for the
    // three families, inherent `median`, `quantiles` and `sample_posterior`), on this model,
    // seed and fit: the same fits, medians, quantiles and draws, to rounding.
    let close = |what: &str, got: f64, want: f64| assert_rel(what, got, want, 1e-9);
    let want: [(&str, f64, [f64; 2], f64); 4] = [
        ("AutoNormal", 15.438301841321707, [12.093287190945883, 19.53680047889772], 94.5874808555553),
        ("AutoMultivariateNormal", 25.124134643212663, [17.77327319623629, 35.47315714701957], 129.36071293285528),
        ("AutoDiagonalNormal", 9.413879728011285, [6.974505612113067, 12.307221304429245], 55.37191546383488),
        ("AutoLowRankMultivariateNormal", 16.22320378546261, [11.300788909477317, 23.942094055108555], 97.66986307642708),
    ];
    for (i, (name, median, qs, draws)) in want.into_iter().enumerate() {
        let got = fitted_summaries(60 + [0, 2, 3, 4][i], |x| match i {
            0 => Box::new(AutoNormal::new(&model, x).unwrap()),
            1 => Box::new(AutoMultivariateNormal::new(&model, x).unwrap()),
            2 => Box::new(AutoDiagonalNormal::new(&model, x).unwrap()),
            _ => Box::new(AutoLowRankMultivariateNormal::new(&model, x, 2).unwrap()),
        });
        close(&format!("{name} median"), got.0, median);
        close(&format!("{name} q10"), got.1[0], qs[0]);
        close(&format!("{name} q90"), got.1[1], qs[1]);
        close(&format!("{name} draws"), got.2, draws);
    }
    // AutoDelta had a median only: the same, and its quantiles and draws are that point.
    seeded(61, || {
        let x = data();
        let guide = AutoDelta::new(&model, &x).unwrap();
        fit(&model, &guide, &x, 20, 0.05, 1.0, 1);
        let median = guide.median().unwrap();
        close("AutoDelta median", checksum(&median), 15.175423462347242);
        let qs = guide.quantiles(&[0.1, 0.9]).unwrap();
        let draws = guide.sample_posterior(3).unwrap();
        for (name, point) in &median {
            assert!(qs[0][name].equal(point) && qs[1][name].equal(point), "AutoDelta quantiles of {name}");
            for k in 0..3 {
                assert!(draws[name].get(k).equal(point), "AutoDelta draw {k} of {name}");
            }
        }
    });
}

#[test]
fn continuous_guides_give_their_joint_posterior_and_its_covariance() {
    seeded(51, || {
        let x = data();
        let dim = 1 + 1 + 2 + 1 + N; // mu, s, probs (2 unconstrained), width, lam
        let low = AutoLowRankMultivariateNormal::new(&model, &x, 2).unwrap();
        let diag = AutoDiagonalNormal::new(&model, &x).unwrap();
        let mvn = AutoMultivariateNormal::new(&model, &x).unwrap();
        for guide in [&low as &dyn AutoGuide, &diag, &mvn] {
            let posterior = guide.get_posterior().unwrap();
            assert_eq!(posterior.joint().expect("a joint posterior").event_shape(), &[dim]);
            assert!(posterior.site("mu").is_none());
        }
        // The low-rank covariance is W W^T + diag(D), not its diagonal alone.
        let w = Tensor::linspace(-1.0, 1.0, 2 * dim, (Kind::Double, Device::Cpu)).reshape([dim, 2]);
        {
            let store = get_param_store();
            pyrite::core::param_store::lock(&store).set("AutoLowRankMultivariateNormal.cov_factor", &w, Constraint::Real).unwrap();
        }
        let d = param_value("AutoLowRankMultivariateNormal.cov_diag");
        let want = w.matmul(&w.tr()) + d.diag_embed(0, -2, -1);
        assert!(low.covariance().unwrap().allclose(&want, 1e-12, 1e-12, false));
        assert_eq!(low.family().rank(), 2);
        // The full-rank and diagonal ones: L L^T of the typed posterior, and the variances.
        let l = mvn.posterior().unwrap().scale_tril.shallow_clone();
        assert!(mvn.covariance().unwrap().allclose(&l.matmul(&l.tr()), 1e-12, 1e-12, false));
        let sd = param_value("AutoDiagonalNormal.scale");
        assert!(diag.covariance().unwrap().allclose(&(&sd * &sd).diag_embed(0, -2, -1), 1e-12, 1e-12, false));
    });
}
