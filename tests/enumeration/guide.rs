//! Enumeration in the guide: `TraceEnumElbo` averages exactly over the values of the guide's
//! enumerated sites (weighted by the guide's probabilities), alone or together with the model's
//! own enumerated sites. Its loss and gradients equal a brute-force ELBO that sums over every
//! value of the guide's variables, written out with autograd.

use pyrite::prelude::*;

use super::common::*;

/// `loss` and the gradients of `surrogate` for every param, against the brute-force `elbo`.
fn check_against(elbo: &TraceEnumElbo, model: &dyn Fn() -> Result<()>, guide: &dyn Fn() -> Result<()>, brute: &dyn Fn(&Params) -> Tensor) {
    fresh(|| {
        let lp = elbo.loss_and_params(model, guide).unwrap();
        lp.surrogate.backward();
        let params = Params::current();
        let want = brute(&params);
        assert_rel(lp.loss, -scalar(&want), 1e-5, "loss");
        let leaves: Vec<Tensor> = params.0.values().map(|(u, _)| u.shallow_clone()).collect();
        let grads = Tensor::run_backward(&[want.neg()], &leaves, false, false);
        for ((name, (leaf, _)), want) in params.0.iter().zip(grads) {
            let (got, want) = (to_vec(&leaf.grad()), to_vec(&want));
            assert!(want.iter().any(|g| g.abs() > 1e-4), "param `{name}`: the brute-force gradient {want:?} is trivially zero");
            for (g, w) in got.iter().zip(&want) {
                assert!((g - w).abs() <= 1e-5 * w.abs().max(1.0), "param `{name}`: gradient {got:?} != brute force {want:?}");
            }
        }
    })
}

const XS: [f64; 3] = [-0.8, 1.3, 0.4];

/// A global switch `z ~ Bernoulli(0.3)` chooses the mean of all the data.
fn switch_model() -> Result<()> {
    let locs = param("locs", f64t(&[-1.0, 1.0]), Constraint::Real)?;
    let z = sample("z", Bernoulli::new(Tensor::from(0.3f64))?)?;
    let data = f64t(&XS);
    let _ = plate("data", 3, |_| observe("x", Normal::new(locs.index(&[Some(&z.to_kind(Kind::Int64))]), Tensor::from(1.0f64))?, &data))?;
    Ok(())
}

/// The guide enumerates `z` under its own learned probability.
fn switch_guide() -> Result<()> {
    let q = param("q", Tensor::from(0.6f64), Constraint::UnitInterval)?;
    let _ = SampleSite::new("z", Bernoulli::new(q)?).enumerate().run()?;
    Ok(())
}

#[test]
fn a_guide_enumerated_global_site_is_averaged_exactly() {
    check_against(&TraceEnumElbo::new(), &switch_model, &switch_guide, &|p| {
        let (q, locs) = (p.get("q"), p.get("locs"));
        let mut elbo = Tensor::from(0.0f64);
        for z in 0..2i64 {
            let qz = if z == 1 { q.shallow_clone() } else { q.neg() + 1.0 };
            let prior = if z == 1 { 0.3f64.ln() } else { 0.7f64.ln() };
            let mut cost = qz.log().neg() + prior;
            for x in XS {
                cost += normal_lp(x, &at(locs, z), &Tensor::from(1.0f64));
            }
            elbo += qz * cost;
        }
        elbo
    });
}

const YS: [f64; 2] = [0.3, 2.1];

/// Per datum: `z_i ~ Cat(pz)` (enumerated in the guide), `w_i ~ Cat(pw[z_i])` (enumerated in
/// the model), `y_i ~ N(locs[w_i], 0.7)`.
fn two_level_model() -> Result<()> {
    let pz = param("pz", f64t(&[0.25, 0.75]), Constraint::Simplex)?;
    let pw = param("pw", f64m(&[&[0.2, 0.5, 0.3], &[0.6, 0.1, 0.3]]), Constraint::Simplex)?;
    let locs = param("locs", f64t(&[-1.0, 0.5, 2.0]), Constraint::Real)?;
    let data = f64t(&YS);
    let _ = plate("data", 2, |_| {
        let z = sample("z", Categorical::new(&pz)?)?;
        let w = SampleSite::new("w", Categorical::new(pw.index(&[Some(&z)]))?).enumerate().run()?;
        observe("y", Normal::new(locs.index(&[Some(&w)]), Tensor::from(0.7f64))?, &data)
    })?;
    Ok(())
}

/// A learned `q_i(z_i)` per datum, enumerated.
fn two_level_guide() -> Result<()> {
    let q = param("q", f64m(&[&[0.5, 0.5], &[0.3, 0.7]]), Constraint::Simplex)?;
    let _ = plate("data", 2, |_| SampleSite::new("z", Categorical::new(&q)?).enumerate().run())?;
    Ok(())
}

#[test]
fn guide_and_model_enumeration_combine_in_a_plate() {
    check_against(&TraceEnumElbo::new(), &two_level_model, &two_level_guide, &|p| {
        let (pz, pw, locs, q) = (p.get("pz"), p.get("pw"), p.get("locs"), p.get("q"));
        let mut elbo = Tensor::from(0.0f64);
        for (i, y) in YS.iter().enumerate() {
            for z in 0..2i64 {
                let qz = at2(q, i as i64, z);
                // log p(z) + log sum_w p(w | z) p(y | w) - log q(z)
                let terms: Vec<Tensor> = (0..3).map(|w| at2(pw, z, w).log() + normal_lp(*y, &at(locs, w), &Tensor::from(0.7f64))).collect();
                let marg = Tensor::stack(&terms, 0).logsumexp([0].as_slice(), false);
                elbo += &qz * (at(pz, z).log() + marg - qz.log());
            }
        }
        elbo
    });
}

/// A global `y` enumerated in the model, upstream of a per-datum `z_i` enumerated in the guide.
fn upstream_model() -> Result<()> {
    let p = param("p", f64m(&[&[0.5, 0.5], &[0.1, 0.9]]), Constraint::Simplex)?;
    let y = SampleSite::new("y", Bernoulli::new(Tensor::from(0.5f64))?).enumerate().run()?;
    let data = f64t(&YS);
    let _ = plate("data", 2, |_| {
        let z = sample("z", Categorical::new(p.index(&[Some(&y.to_kind(Kind::Int64))]))?)?;
        observe("y_obs", Normal::new(z.to_kind(Kind::Double), Tensor::from(1.0f64))?, &data)
    })?;
    Ok(())
}

#[test]
fn model_enumeration_upstream_of_guide_enumeration_in_a_plate_is_a_typed_error() {
    fresh(|| {
        let guide = || -> Result<()> {
            let q = param("q", f64t(&[0.5, 0.5]), Constraint::Simplex)?;
            let _ = plate("data", 2, |_| SampleSite::new("z", Categorical::new(&q)?).enumerate().run())?;
            Ok(())
        };
        let err = TraceEnumElbo::new().loss_and_params(&upstream_model, &guide).err().expect("an error");
        assert!(matches!(&err, PyriteError::Enumerate { site, .. } if site == "y"), "{err}");
    });
}

#[test]
fn svi_with_a_guide_enumerated_site_learns_the_exact_posterior() {
    // With the guide able to represent the posterior of z, the optimum q is p(z = 1 | x).
    fresh(|| {
        let mut svi = Svi::new(|_: &()| switch_model(), |_: &()| switch_guide(), Optimizer::adam(0.05), TraceEnumElbo::new());
        svi.progress = false;
        for _ in 0..600 {
            svi.step(&()).unwrap();
        }
        let p = Params::current();
        let (q, locs) = (scalar(p.get("q")), to_vec(p.get("locs")));
        let lik = |z: usize| XS.iter().map(|x| -0.5 * (x - locs[z]).powi(2)).sum::<f64>();
        let (a, b) = (0.7f64.ln() + lik(0), 0.3f64.ln() + lik(1));
        let post = 1.0 / (1.0 + (a - b).exp());
        assert!((q - post).abs() < 0.02, "q {q} vs exact posterior {post} at the learned locs {locs:?}");
    });
}
