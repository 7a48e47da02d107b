//! The Bayesian regression of the Pyro introduction (terrain ruggedness and GDP), shared by the
//! `rugged` example and the benchmark.

use pyrite::prelude::*;

/// The data the model sees.
pub struct Data {
    /// 1 for a nation in Africa, else 0.
    pub is_cont_africa: Tensor,
    /// The terrain ruggedness index.
    pub ruggedness: Tensor,
    /// Log GDP per capita in 2000 (none when predicting).
    pub log_gdp: Option<Tensor>,
}

impl Data {
    /// The model's view of the rugged data set.
    pub fn from_rugged(r: &pyrite::data::Rugged) -> Data {
        Data { is_cont_africa: r.cont_africa.shallow_clone(), ruggedness: r.rugged.shallow_clone(), log_gdp: Some(r.log_gdp.shallow_clone()) }
    }
}

// ANCHOR: model
/// `a ~ N(0, 10)`, `bA, bR, bAR ~ N(0, 1)`, `sigma ~ U(0, 10)`,
/// `log_gdp ~ N(a + bA africa + bR ruggedness + bAR africa ruggedness, sigma)`.
pub fn model(d: &Data) -> Result<()> {
    let a = sample("a", Normal::new(0.0, 10.0)?)?;
    let b_a = sample("bA", Normal::new(0.0, 1.0)?)?;
    let b_r = sample("bR", Normal::new(0.0, 1.0)?)?;
    let b_ar = sample("bAR", Normal::new(0.0, 1.0)?)?;
    let sigma = sample("sigma", Uniform::new(0.0, 10.0)?)?;
    let mean = a + b_a * &d.is_cont_africa + b_r * &d.ruggedness + b_ar * &d.is_cont_africa * &d.ruggedness;
    plate("data", d.ruggedness.size()[0], |_| sample_obs("obs", Normal::new(&mean, &sigma)?, d.log_gdp.as_ref()).map(drop))
}
// ANCHOR_END: model
