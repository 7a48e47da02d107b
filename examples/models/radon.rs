//! The radon GLMM of the seed tutorial (county random intercepts and a floor effect), shared by
//! the `radon` example and the benchmark.

use pyrite::prelude::*;

/// The data the model sees.
pub struct Radon {
    /// 0 for a basement measurement, 1 for the first floor.
    pub floor: Tensor,
    /// Each measurement's county index.
    pub county: Tensor,
    /// The observed log radon (none when predicting).
    pub log_radon: Option<Tensor>,
    /// Number of counties.
    pub num_counties: i64,
}

impl Radon {
    /// The model's view of the radon data set.
    pub fn from_data(r: &pyrite::data::Radon) -> Radon {
        Radon { floor: r.floor.shallow_clone(), county: r.county.shallow_clone(), log_radon: Some(r.log_radon.shallow_clone()), num_counties: r.num_counties }
    }
}

/// lme4's REML estimates for the radon GLMM (the seed document): intercept, floor effect, county
/// sd and residual sd.
pub const LME4: [(&str, f64); 4] = [("intercept", 1.462), ("floor_weight", -0.693), ("county_scale", 0.3282), ("sigma", 0.7556)];

// ANCHOR: model
/// county_scale ~ HalfNormal(1); intercept, floor_weight ~ Normal(0, 1); sigma ~ HalfNormal(1);
/// county_effect ~ Normal(0, county_scale) per county; log_radon ~ Normal(mean, sigma).
pub fn model(d: &Radon) -> Result<()> {
    let county_scale = sample("county_scale", HalfNormal::new(1.0)?)?;
    let intercept = sample("intercept", Normal::new(0.0, 1.0)?)?;
    let floor_weight = sample("floor_weight", Normal::new(0.0, 1.0)?)?;
    let sigma = sample("sigma", HalfNormal::new(1.0)?)?;
    let county_effect = plate("counties", d.num_counties, |_| sample("county_effect", Normal::new(0.0, &county_scale)?))?;
    let mean = intercept + floor_weight * &d.floor + county_effect.index_select(-1, &d.county);
    plate("data", d.floor.size()[0], |_| sample_obs("obs", Normal::new(&mean, &sigma)?, d.log_radon.as_ref()).map(drop))
}
// ANCHOR_END: model

// ANCHOR: model_pooled
/// Complete pooling, the baseline of the model comparison: one intercept for every county.
/// intercept, floor_weight ~ Normal(0, 1); sigma ~ HalfNormal(1); log_radon ~ Normal(mean, sigma).
pub fn model_pooled(d: &Radon) -> Result<()> {
    let intercept = sample("intercept", Normal::new(0.0, 1.0)?)?;
    let floor_weight = sample("floor_weight", Normal::new(0.0, 1.0)?)?;
    let sigma = sample("sigma", HalfNormal::new(1.0)?)?;
    let mean = intercept + floor_weight * &d.floor;
    plate("data", d.floor.size()[0], |_| sample_obs("obs", Normal::new(&mean, &sigma)?, d.log_radon.as_ref()).map(drop))
}
// ANCHOR_END: model_pooled
