//! `TraceEnumElbo` equals minus the log-marginal likelihood computed by brute-force summation
//! over every discrete assignment, and its gradients equal autograd's gradients of that sum.

use pyrite::prelude::*;

use super::common::*;

/// The trivial guide of a model whose only latent sites are enumerated.
fn no_guide() -> Result<()> {
    Ok(())
}

/// An enumerated `Categorical` site.
fn cat(name: &str, probs: &Tensor) -> Result<Tensor> {
    SampleSite::new(name, Categorical::new(probs)?).enumerate().run()
}

pub const MIX_X: [f64; 4] = [-1.3, 0.4, 2.2, 0.9];

/// (a) A mixture of three Normals: `z_i ~ Cat(probs)`, `x_i ~ N(locs[z_i], scale)`, N = 4.
pub fn mixture() -> Result<()> {
    let probs = param("probs", f64t(&[0.2, 0.3, 0.5]), Constraint::Simplex)?;
    let locs = param("locs", f64t(&[-1.0, 0.5, 2.0]), Constraint::Real)?;
    let scale = param("scale", Tensor::from(0.8f64), Constraint::Positive)?;
    let data = f64t(&MIX_X);
    plate("data", 4, |_| {
        let z = cat("z", &probs)?;
        observe("x", Normal::new(locs.index(&[Some(&z)]), &scale)?, &data)
    })?;
    Ok(())
}

pub fn mixture_joint(p: &Params, a: &[i64]) -> Tensor {
    let (probs, locs, scale) = (p.get("probs"), p.get("locs"), p.get("scale"));
    let mut lp = Tensor::from(0.0f64);
    for (i, &z) in a.iter().enumerate() {
        lp = lp + at(probs, z).log() + normal_lp(MIX_X[i], &at(locs, z), scale);
    }
    lp
}

#[test]
fn one_enumerated_site_in_a_plate_mixture_of_normals() {
    let loss = check_enum_elbo(&TraceEnumElbo::new(), &mixture, &no_guide, &[3; 4], &mixture_joint);
    // the same with the plate nesting given
    let again = check_enum_elbo(&TraceEnumElbo::with_max_plate_nesting(1), &mixture, &no_guide, &[3; 4], &mixture_joint);
    assert_eq!(loss, again);
    // and with more dims than needed
    let more = check_enum_elbo(&TraceEnumElbo::with_max_plate_nesting(3), &mixture, &no_guide, &[3; 4], &mixture_joint);
    assert_rel(more, loss, 1e-12, "loss with max_plate_nesting 3");
}

/// (a) with the data plate subsampled: 2 of 4 data, fixed indices, each log-density scaled by 2.
pub const SUBSAMPLE: [i64; 2] = [3, 1];

pub fn mixture_subsampled() -> Result<()> {
    let probs = param("probs", f64t(&[0.2, 0.3, 0.5]), Constraint::Simplex)?;
    let locs = param("locs", f64t(&[-1.0, 0.5, 2.0]), Constraint::Real)?;
    let scale = param("scale", Tensor::from(0.8f64), Constraint::Positive)?;
    let data = f64t(&MIX_X);
    Plate::new("data", 4).subsample(&Tensor::from_slice(&SUBSAMPLE)).run(|p| {
        let z = cat("z", &probs)?;
        observe("x", Normal::new(locs.index(&[Some(&z)]), &scale)?, &p.subsample(&data, 0)?)
    })?;
    Ok(())
}

#[test]
fn a_subsampled_plate_scales_the_log_marginal_not_the_terms_inside_it() {
    let joint = |p: &Params, a: &[i64]| {
        let (probs, locs, scale) = (p.get("probs"), p.get("locs"), p.get("scale"));
        let mut lp = Tensor::from(0.0f64);
        for (&i, &z) in SUBSAMPLE.iter().zip(a) {
            lp = lp + at(probs, z).log() + normal_lp(MIX_X[i as usize], &at(locs, z), scale);
        }
        lp
    };
    check_enum_elbo_scaled(&TraceEnumElbo::new(), &mixture_subsampled, &no_guide, &[3, 3], &joint, 2.0);
}

/// (a) with the component means latent (`mu_k ~ N(0, 3)` in a plate of 3) and fitted by
/// `AutoDelta` on the blocked model: the ELBO is `log p(mu) + log p(x | mu)` at the guide's point.
fn mixture_latent_locs(data: &Tensor) -> Result<()> {
    let probs = param("probs", f64t(&[0.2, 0.3, 0.5]), Constraint::Simplex)?;
    let mu = plate("components", 3, |_| sample("mu", Normal::new(Tensor::from(0.0f64), Tensor::from(3.0f64))?))?;
    plate("data", data.size()[0], |_| {
        let z = cat("z", &probs)?;
        observe("x", Normal::new(mu.index(&[Some(&z)]), Tensor::from(0.8f64))?, data)
    })?;
    Ok(())
}

#[test]
fn mixture_with_autodelta_guide_for_the_continuous_part() {
    let data = f64t(&MIX_X);
    let blocked = |d: &Tensor| block(BlockSpec::expose(&["mu"]), || mixture_latent_locs(d));
    let init = || {
        let mut v = SiteValues::new();
        v.insert("mu".into(), f64t(&[-1.0, 0.5, 2.0]));
        InitStrategy::Value(v)
    };
    // the guide is built (and its param created) inside the fresh store of the check
    let guide_cell: std::cell::OnceCell<AutoDelta> = std::cell::OnceCell::new();
    let model = || mixture_latent_locs(&data);
    let guide = || guide_cell.get_or_init(|| AutoDelta::with_init(&blocked, &data, init()).unwrap()).sample_sites();
    let joint = |p: &Params, a: &[i64]| {
        let (probs, mu) = (p.get("probs"), p.get("AutoDelta.mu"));
        let mut lp = Tensor::from(0.0f64);
        for k in 0..3 {
            lp += normal_lp(0.0, &at(mu, k), &Tensor::from(3.0f64));
        }
        for (i, &z) in a.iter().enumerate() {
            lp = lp + at(probs, z).log() + normal_lp(MIX_X[i], &at(mu, z), &Tensor::from(0.8f64));
        }
        lp
    };
    check_enum_elbo(&TraceEnumElbo::new(), &model, &guide, &[3; 4], &joint);
}

const B_X: [f64; 4] = [0.3, 1.9, -0.4, 1.1];
const B_Y: [f64; 2] = [2.5, 1.7];

/// (b) Two a-priori independent enumerated sites (a `Categorical` and a `Bernoulli`) that
/// together explain a plate of data, and a third, independent one with data of its own.
fn two_sites() -> Result<()> {
    let p1 = param("p1", f64t(&[0.5, 0.2, 0.3]), Constraint::Simplex)?;
    let q = param("q", Tensor::from(0.35f64), Constraint::UnitInterval)?;
    let locs = param("locs", f64t(&[-0.5, 0.4, 1.2]), Constraint::Real)?;
    let shift = param("shift", Tensor::from(0.9f64), Constraint::Real)?;
    let p3 = param("p3", f64t(&[0.6, 0.4]), Constraint::Simplex)?;
    let m3 = param("m3", f64t(&[1.0, 2.0]), Constraint::Real)?;
    let z1 = cat("z1", &p1)?;
    let z2 = SampleSite::new("z2", Bernoulli::new(&q)?).enumerate().run()?;
    let z3 = cat("z3", &p3)?;
    let x = f64t(&B_X);
    plate("data", 4, |_| observe("x", Normal::new(locs.index(&[Some(&z1)]) + &shift * &z2, Tensor::from(1.0f64))?, &x))?;
    let y = f64t(&B_Y);
    plate("other", 2, |_| observe("y", Normal::new(m3.index(&[Some(&z3)]), Tensor::from(0.7f64))?, &y))?;
    Ok(())
}

#[test]
fn two_independent_enumerated_sites() {
    let joint = |p: &Params, a: &[i64]| {
        let (z1, z2, z3) = (a[0], a[1], a[2]);
        let q = p.get("q");
        let lq = if z2 == 1 { q.log() } else { (q.neg() + 1.0).log() };
        let mut lp = at(p.get("p1"), z1).log() + lq + at(p.get("p3"), z3).log();
        let loc = at(p.get("locs"), z1) + p.get("shift") * z2 as f64;
        for x in B_X {
            lp += normal_lp(x, &loc, &Tensor::from(1.0f64));
        }
        for y in B_Y {
            lp += normal_lp(y, &at(p.get("m3"), z3), &Tensor::from(0.7f64));
        }
        lp
    };
    check_enum_elbo(&TraceEnumElbo::new(), &two_sites, &no_guide, &[3, 2, 2], &joint);
}

pub const C_X: [f64; 3] = [-1.2, 0.3, 1.8];

/// (c) A site enumerated outside a plate (`z`) feeding enumerated sites inside it (`w_i`), and
/// the observations depending on both.
pub fn global_feeds_plate() -> Result<()> {
    let pg = param("pg", f64t(&[0.35, 0.65]), Constraint::Simplex)?;
    let trans = param("trans", f64m(&[&[0.6, 0.3, 0.1], &[0.2, 0.2, 0.6]]), Constraint::Simplex)?;
    let locs = param("locs", f64t(&[-1.5, 0.0, 1.5]), Constraint::Real)?;
    let offs = param("offs", f64t(&[0.0, 0.7]), Constraint::Real)?;
    let z = cat("z", &pg)?;
    let data = f64t(&C_X);
    plate("data", 3, |_| {
        let w = cat("w", &trans.index(&[Some(&z)]))?;
        let loc = locs.index(&[Some(&w)]) + offs.index(&[Some(&z)]);
        observe("x", Normal::new(loc, Tensor::from(1.0f64))?, &data)
    })?;
    Ok(())
}

/// The joint log-density of `global_feeds_plate` at `(z, w_0, w_1, w_2)`.
pub fn global_feeds_plate_joint(p: &Params, a: &[i64]) -> Tensor {
    let z = a[0];
    let mut lp = at(p.get("pg"), z).log();
    for i in 0..3 {
        let w = a[1 + i];
        let loc = at(p.get("locs"), w) + at(p.get("offs"), z);
        lp = lp + at2(p.get("trans"), z, w).log() + normal_lp(C_X[i], &loc, &Tensor::from(1.0f64));
    }
    lp
}

#[test]
fn a_site_outside_a_plate_feeding_sites_inside_it() {
    check_enum_elbo(&TraceEnumElbo::new(), &global_feeds_plate, &no_guide, &[2, 3, 3, 3], &global_feeds_plate_joint);
}

pub const D_X: [[f64; 3]; 2] = [[-0.7, 0.1, -1.1], [1.4, 0.6, 2.0]];

/// (d) Nested plates: an outer plate of 2 groups (dim -2) each with an enumerated site, an inner
/// plate of 3 observations (dim -1) depending on it.
fn nested() -> Result<()> {
    let probs = param("probs", f64t(&[0.3, 0.7]), Constraint::Simplex)?;
    let locs = param("locs", f64t(&[-0.5, 1.0]), Constraint::Real)?;
    let scale = param("scale", Tensor::from(0.9f64), Constraint::Positive)?;
    let data = f64m(&[&D_X[0], &D_X[1]]);
    Plate::new("groups", 2).dim(-2).run(|_| {
        let z = cat("z", &probs)?;
        Plate::new("obs", 3).dim(-1).run(|_| observe("x", Normal::new(locs.index(&[Some(&z)]), &scale)?, &data))
    })?;
    Ok(())
}

#[test]
fn nested_plates_with_an_enumerated_site_in_the_outer_plate() {
    let joint = |p: &Params, a: &[i64]| {
        let mut lp = Tensor::from(0.0f64);
        for (g, &z) in a.iter().enumerate() {
            lp += at(p.get("probs"), z).log();
            for x in D_X[g] {
                lp += normal_lp(x, &at(p.get("locs"), z), p.get("scale"));
            }
        }
        lp
    };
    let loss = check_enum_elbo(&TraceEnumElbo::new(), &nested, &no_guide, &[2, 2], &joint);
    let given = check_enum_elbo(&TraceEnumElbo::with_max_plate_nesting(2), &nested, &no_guide, &[2, 2], &joint);
    assert_eq!(loss, given);
}

/// (d) with enumerated sites in both plates: `z_g` per group, `w_gj ~ Cat(trans[z_g])` per
/// observation, `x_gj ~ N(locs[w_gj] + offs[z_g], 1)`.
pub fn nested_both() -> Result<()> {
    let probs = param("probs", f64t(&[0.3, 0.7]), Constraint::Simplex)?;
    let trans = param("trans", f64m(&[&[0.8, 0.2], &[0.25, 0.75]]), Constraint::Simplex)?;
    let locs = param("locs", f64t(&[-0.5, 1.0]), Constraint::Real)?;
    let offs = param("offs", f64t(&[0.2, -0.3]), Constraint::Real)?;
    let data = f64m(&[&D_X[0], &D_X[1]]);
    Plate::new("groups", 2).dim(-2).run(|_| {
        let z = cat("z", &probs)?;
        Plate::new("obs", 3).dim(-1).run(|_| {
            let w = cat("w", &trans.index(&[Some(&z)]))?;
            let loc = locs.index(&[Some(&w)]) + offs.index(&[Some(&z)]);
            observe("x", Normal::new(loc, Tensor::from(1.0f64))?, &data)
        })
    })?;
    Ok(())
}

/// The joint log-density of `nested_both` at `(z_0, z_1, w_00, w_01, w_02, w_10, w_11, w_12)`.
pub fn nested_both_joint(p: &Params, a: &[i64]) -> Tensor {
    let mut lp = Tensor::from(0.0f64);
    for g in 0..2 {
        let z = a[g];
        lp += at(p.get("probs"), z).log();
        for j in 0..3 {
            let w = a[2 + 3 * g + j];
            let loc = at(p.get("locs"), w) + at(p.get("offs"), z);
            lp = lp + at2(p.get("trans"), z, w).log() + normal_lp(D_X[g][j], &loc, &Tensor::from(1.0f64));
        }
    }
    lp
}

#[test]
fn nested_plates_with_enumerated_sites_in_both_plates() {
    check_enum_elbo(&TraceEnumElbo::new(), &nested_both, &no_guide, &[2; 8], &nested_both_joint);
}

pub const HMM_X: [f64; 3] = [-0.9, 0.6, 1.4];

/// (e) A three-step hidden Markov chain `z_1 → z_2 → z_3` with `x_t ~ N(locs[z_t], 1)`.
pub fn hmm() -> Result<()> {
    let init = param("init", f64t(&[0.5, 0.3, 0.2]), Constraint::Simplex)?;
    let trans = param("trans", f64m(&[&[0.7, 0.2, 0.1], &[0.15, 0.6, 0.25], &[0.3, 0.3, 0.4]]), Constraint::Simplex)?;
    let locs = param("locs", f64t(&[-1.0, 0.2, 1.5]), Constraint::Real)?;
    let mut z = cat("z_1", &init)?;
    observe("x_1", Normal::new(locs.index(&[Some(&z)]), Tensor::from(1.0f64))?, &Tensor::from(HMM_X[0]))?;
    for t in 2..=3 {
        z = cat(&format!("z_{t}"), &trans.index(&[Some(&z)]))?;
        observe(&format!("x_{t}"), Normal::new(locs.index(&[Some(&z)]), Tensor::from(1.0f64))?, &Tensor::from(HMM_X[t - 1]))?;
    }
    Ok(())
}

/// The HMM's joint log-density at `(z_1, z_2, z_3)`.
pub fn hmm_joint(p: &Params, a: &[i64]) -> Tensor {
    let (init, trans, locs) = (p.get("init"), p.get("trans"), p.get("locs"));
    let mut lp = at(init, a[0]).log();
    for t in 0..3 {
        if t > 0 {
            lp += at2(trans, a[t - 1], a[t]).log();
        }
        lp += normal_lp(HMM_X[t], &at(locs, a[t]), &Tensor::from(1.0f64));
    }
    lp
}

#[test]
fn hidden_markov_chain_of_three_steps() {
    check_enum_elbo(&TraceEnumElbo::new(), &hmm, &no_guide, &[3, 3, 3], &hmm_joint);
}
