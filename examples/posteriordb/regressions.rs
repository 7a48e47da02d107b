//! Linear regressions of posteriordb (kidiq, kidiq_with_mom_work, earnings, mesquite, nes,
//! kilpisjarvi, sblr, diamonds), each written as its Stan program: the transformed data computed once
//! from the data, then the parameters' priors and the normal likelihood. A parameter Stan
//! declares without a sampling statement gets a flat prior on its support (`flat`,
//! `flat_positive`); `sigma ~ cauchy(0, 2.5)` on `real<lower=0>` is a half-Cauchy, and
//! `normal_lpdf(sigma | 0, 10)` a half-normal, brms's `student_t_lpdf(sigma | 3, 0, 10) -
//! student_t_lccdf(0 | 3, 0, 10)` a half-Student's t.

use pyrite::prelude::*;

use super::{c, flat, flat_positive, Build, Data, Model};

/// The ported posteriors of this family.
pub const POSTERIORS: &[(&str, Build)] = &[
    ("kidiq-kidscore_momhs", kidscore_momhs),
    ("kidiq-kidscore_momhsiq", kidscore_momhsiq),
    ("kidiq-kidscore_momiq", kidscore_momiq),
    ("kidiq-kidscore_interaction", kidscore_interaction),
    ("kidiq_with_mom_work-kidscore_interaction_c", kidscore_interaction_c),
    ("kidiq_with_mom_work-kidscore_interaction_z", kidscore_interaction_z),
    ("kidiq_with_mom_work-kidscore_mom_work", kidscore_mom_work),
    ("earnings-earn_height", earn_height),
    ("earnings-logearn_height", logearn_height),
    ("earnings-logearn_height_male", logearn_height_male),
    ("earnings-logearn_interaction", logearn_interaction),
    ("earnings-logearn_interaction_z", logearn_interaction_z),
    ("earnings-logearn_logheight_male", logearn_logheight_male),
    ("mesquite-mesquite", mesquite),
    ("mesquite-logmesquite", logmesquite),
    ("mesquite-logmesquite_logva", logmesquite_logva),
    ("mesquite-logmesquite_logvash", logmesquite_logvash),
    ("mesquite-logmesquite_logvolume", logmesquite_logvolume),
    ("nes1972-nes", nes),
    ("nes1980-nes", nes),
    ("nes1984-nes", nes),
    ("nes1988-nes", nes),
    ("nes1992-nes", nes),
    ("nes1996-nes", nes),
    ("nes2000-nes", nes),
    ("kilpisjarvi_mod-kilpisjarvi", kilpisjarvi),
    ("sblrc-blr", blr),
    ("sblri-blr", blr),
    ("diamonds-diamonds", diamonds),
];

/// `beta[1] + beta[2] * x[1] + ...`: the intercept and one coefficient per predictor.
fn linear(beta: &Tensor, predictors: &[&Tensor]) -> Tensor {
    predictors.iter().enumerate().fold(beta.get(0), |mean, (k, x)| mean + beta.get(k as i64 + 1) * *x)
}

/// `y ~ normal(mean, sigma)` over the rows.
fn normal_rows(name: &str, y: &Tensor, mean: &Tensor, sigma: &Tensor) -> Result<()> {
    plate("data", y.size()[0], |_| observe(name, Normal::new(mean, sigma)?, y).map(drop))
}

/// The sample standard deviation (Stan's `sd`, divisor N - 1).
fn sd(x: &Tensor) -> Tensor {
    x.std(true)
}

/// `(x - mean(x)) / (scale * sd(x))`.
fn standardise(x: &Tensor, scale: f64) -> Tensor {
    (x - x.mean(Kind::Double)) / (sd(x) * scale)
}

/// A regression `y ~ normal(linear(beta, predictors), sigma)` with a flat prior on `beta` and
/// `sigma` from `sigma_prior`.
fn regression(y: Tensor, predictors: Vec<Tensor>, sigma_prior: fn() -> Result<DistRef>) -> Model {
    let k = predictors.len() as i64 + 1;
    Box::new(move |_: &()| {
        let beta = sample("beta", flat(&[k])?)?;
        let sigma = sample("sigma", sigma_prior()?)?;
        let refs: Vec<&Tensor> = predictors.iter().collect();
        normal_rows("y", &y, &linear(&beta, &refs), &sigma)
    })
}

/// `sigma ~ cauchy(0, 2.5)` on `real<lower=0> sigma`.
fn half_cauchy() -> Result<DistRef> {
    Ok(HalfCauchy::new(c(2.5))?.into_dist())
}

fn kidscore_momhs(d: &Data) -> Result<Model> {
    Ok(regression(d.vector("kid_score")?, vec![d.vector("mom_hs")?], half_cauchy))
}

fn kidscore_momhsiq(d: &Data) -> Result<Model> {
    Ok(regression(d.vector("kid_score")?, vec![d.vector("mom_hs")?, d.vector("mom_iq")?], half_cauchy))
}

fn kidscore_momiq(d: &Data) -> Result<Model> {
    Ok(regression(d.vector("kid_score")?, vec![d.vector("mom_iq")?], half_cauchy))
}

fn kidscore_interaction(d: &Data) -> Result<Model> {
    let (mom_hs, mom_iq) = (d.vector("mom_hs")?, d.vector("mom_iq")?);
    let inter = &mom_hs * &mom_iq;
    Ok(regression(d.vector("kid_score")?, vec![mom_hs, mom_iq, inter], half_cauchy))
}

fn kidscore_interaction_c(d: &Data) -> Result<Model> {
    let c_mom_hs = d.vector("mom_hs")? - d.vector("mom_hs")?.mean(Kind::Double);
    let c_mom_iq = d.vector("mom_iq")? - d.vector("mom_iq")?.mean(Kind::Double);
    let inter = &c_mom_hs * &c_mom_iq;
    Ok(regression(d.vector("kid_score")?, vec![c_mom_hs, c_mom_iq, inter], flat_positive))
}

fn kidscore_interaction_z(d: &Data) -> Result<Model> {
    let z_mom_hs = standardise(&d.vector("mom_hs")?, 2.0);
    let z_mom_iq = standardise(&d.vector("mom_iq")?, 2.0);
    let inter = &z_mom_hs * &z_mom_iq;
    Ok(regression(d.vector("kid_score")?, vec![z_mom_hs, z_mom_iq, inter], flat_positive))
}

fn kidscore_mom_work(d: &Data) -> Result<Model> {
    let mom_work = d.vector("mom_work")?;
    let work = |level: f64| mom_work.eq(level).to_kind(Kind::Double);
    Ok(regression(d.vector("kid_score")?, vec![work(2.0), work(3.0), work(4.0)], flat_positive))
}

fn earn_height(d: &Data) -> Result<Model> {
    Ok(regression(d.vector("earn")?, vec![d.vector("height")?], flat_positive))
}

fn logearn_height(d: &Data) -> Result<Model> {
    Ok(regression(d.vector("earn")?.log(), vec![d.vector("height")?], flat_positive))
}

fn logearn_height_male(d: &Data) -> Result<Model> {
    Ok(regression(d.vector("earn")?.log(), vec![d.vector("height")?, d.vector("male")?], flat_positive))
}

fn logearn_interaction(d: &Data) -> Result<Model> {
    let (height, male) = (d.vector("height")?, d.vector("male")?);
    let inter = &height * &male;
    Ok(regression(d.vector("earn")?.log(), vec![height, male, inter], flat_positive))
}

fn logearn_interaction_z(d: &Data) -> Result<Model> {
    let z_height = standardise(&d.vector("height")?, 1.0);
    let male = d.vector("male")?;
    let inter = &z_height * &male;
    Ok(regression(d.vector("earn")?.log(), vec![z_height, male, inter], flat_positive))
}

fn logearn_logheight_male(d: &Data) -> Result<Model> {
    Ok(regression(d.vector("earn")?.log(), vec![d.vector("height")?.log(), d.vector("male")?], flat_positive))
}

fn mesquite(d: &Data) -> Result<Model> {
    let columns = ["diam1", "diam2", "canopy_height", "total_height", "density", "group"];
    Ok(regression(d.vector("weight")?, columns.iter().map(|c| d.vector(c)).collect::<Result<_>>()?, flat_positive))
}

fn logmesquite(d: &Data) -> Result<Model> {
    let logs = ["diam1", "diam2", "canopy_height", "total_height", "density"];
    let mut predictors = logs.iter().map(|c| Ok(d.vector(c)?.log())).collect::<Result<Vec<_>>>()?;
    predictors.push(d.vector("group")?);
    Ok(regression(d.vector("weight")?.log(), predictors, flat_positive))
}

fn logmesquite_logva(d: &Data) -> Result<Model> {
    let (diam1, diam2, canopy_height) = (d.vector("diam1")?, d.vector("diam2")?, d.vector("canopy_height")?);
    let log_canopy_volume = (&diam1 * &diam2 * &canopy_height).log();
    let log_canopy_area = (&diam1 * &diam2).log();
    Ok(regression(d.vector("weight")?.log(), vec![log_canopy_volume, log_canopy_area, d.vector("group")?], flat_positive))
}

fn logmesquite_logvash(d: &Data) -> Result<Model> {
    let (diam1, diam2, canopy_height) = (d.vector("diam1")?, d.vector("diam2")?, d.vector("canopy_height")?);
    let log_canopy_volume = (&diam1 * &diam2 * &canopy_height).log();
    let log_canopy_area = (&diam1 * &diam2).log();
    let log_canopy_shape = (&diam1 / &diam2).log();
    let log_total_height = d.vector("total_height")?.log();
    Ok(regression(d.vector("weight")?.log(), vec![log_canopy_volume, log_canopy_area, log_canopy_shape, log_total_height, d.vector("group")?], flat_positive))
}

fn logmesquite_logvolume(d: &Data) -> Result<Model> {
    let log_canopy_volume = (d.vector("diam1")? * d.vector("diam2")? * d.vector("canopy_height")?).log();
    Ok(regression(d.vector("weight")?.log(), vec![log_canopy_volume], flat_positive))
}

/// The seven nes years share the model: party identification on ideology, race, age group,
/// education, gender and income.
fn nes(d: &Data) -> Result<Model> {
    let age = d.vector("age_discrete")?;
    let age_is = |level: f64| age.eq(level).to_kind(Kind::Double);
    let columns = vec![
        d.vector("real_ideo")?,
        d.vector("race_adj")?,
        age_is(2.0),
        age_is(3.0),
        age_is(4.0),
        d.vector("educ1")?,
        d.vector("gender")?,
        d.vector("income")?,
    ];
    Ok(regression(d.vector("partyid7")?, columns, flat_positive))
}

fn kilpisjarvi(d: &Data) -> Result<Model> {
    let (x, y) = (d.vector("x")?, d.vector("y")?);
    let (pmualpha, psalpha, pmubeta, psbeta) = (d.real("pmualpha")?, d.real("psalpha")?, d.real("pmubeta")?, d.real("psbeta")?);
    Ok(Box::new(move |_: &()| {
        let alpha = sample("alpha", Normal::new(c(pmualpha), c(psalpha))?)?;
        let beta = sample("beta", Normal::new(c(pmubeta), c(psbeta))?)?;
        let sigma = sample("sigma", flat_positive()?)?;
        normal_rows("y", &y, &(alpha + beta * &x), &sigma)
    }))
}

/// Bayesian linear regression with a design matrix: `beta ~ normal(0, 10)`, `sigma ~ normal(0,
/// 10)` on `real<lower=0>`, `y ~ normal(X * beta, sigma)`.
fn blr(d: &Data) -> Result<Model> {
    let (x, y) = (d.matrix("X")?, d.vector("y")?);
    let dims = d.int("D")?;
    Ok(Box::new(move |_: &()| {
        let beta = sample("beta", Normal::new(c(0.0), c(10.0))?.expand(&[dims])?.to_event(1)?)?;
        let sigma = sample("sigma", HalfNormal::new(c(10.0))?)?;
        normal_rows("y", &y, &x.mv(&beta), &sigma)
    }))
}

/// brms's regression of the diamonds' log price on 24 correlated predictors: the design
/// matrix's columns after the first (the intercept) centred in transformed data, `b ~ normal(0,
/// 1)`, the intercept of the centred predictors `Intercept ~ student_t(3, 8, 10)`, `sigma` a
/// half-Student's t (3, 0, 10), `Y ~ normal_id_glm(Xc, Intercept, b, sigma)`.
fn diamonds(d: &Data) -> Result<Model> {
    let (n, k) = (d.int("N")?, d.int("K")?);
    let (x, y) = (d.matrix("X")?, d.vector_of("Y", n)?);
    if x.size() != [n, k] || k < 2 {
        return Err(PyriteError::InvalidInput { what: "X".into(), problem: format!("must be N x K = {n} x {k} with K >= 2") });
    }
    let columns = x.narrow(1, 1, k - 1);
    let xc = &columns - columns.mean_dim(0, true, Kind::Double);
    Ok(Box::new(move |_: &()| {
        let b = sample("b", Normal::new(c(0.0), c(1.0))?.expand(&[k - 1])?.to_event(1)?)?;
        let intercept = sample("Intercept", StudentT::new(c(3.0), c(8.0), c(10.0))?)?;
        let sigma = sample("sigma", HalfStudentT::new(c(3.0), c(10.0))?)?;
        normal_rows("Y", &y, &(xc.mv(&b) + intercept), &sigma)
    }))
}
