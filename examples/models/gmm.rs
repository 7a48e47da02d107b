//! The iris Gaussian mixture of the enumeration tutorial, shared by the `gmm_iris` example, the
//! tests and the benchmark.

use pyrite::prelude::*;

/// Two components, as in the tutorial.
pub const K: i64 = 2;

// ANCHOR: model
/// `p ~ Dirichlet(1)`, per component `mu ~ N(0, 10)` and `sigma ~ InverseGamma(1, 1)`, per
/// flower the component `z ~ Categorical(p)` (enumerated) and `x ~ N(mu[z], sigma[z])`.
pub fn model(data: &Tensor) -> Result<()> {
    let p = sample("p", Dirichlet::new(Tensor::ones([K], (Kind::Float, Device::Cpu)))?)?;
    let (mu, sigma) = plate("cluster_param_plate", K, |_| {
        let mu = sample("mu", Normal::new(0.0, 10.0)?)?;
        let sigma = sample("sigma", InverseGamma::new(1.0, 1.0)?)?;
        Ok((mu, sigma))
    })?;
    plate("data_plate", data.size()[0], |_| {
        let z = SampleSite::new("z", Categorical::new(&p)?).enumerate().run()?;
        let z = Some(z);
        observe("x", Normal::new(mu.index(&[z.as_ref()]), sigma.index(&[z.as_ref()]))?, data).map(drop)
    })
}
// ANCHOR_END: model

// ANCHOR: blocked
/// The model with only the global sites visible, for `AutoDelta` (`poutine.block(expose=...)`).
pub fn blocked(data: &Tensor) -> Result<()> {
    block(BlockSpec::expose(&["p", "mu", "sigma"]), || model(data))
}
// ANCHOR_END: blocked

/// Pyro's GMM-tutorial start: weights `1/K`, scales `sqrt(var / 2)`, means at `K` random
/// data points.
pub fn init_values(data: &Tensor) -> SiteValues {
    let n = data.size()[0];
    let idx = Tensor::ones([n], (Kind::Float, Device::Cpu)).multinomial(K, false);
    let scale = (data.var(true) / 2.0).sqrt();
    let mut v = SiteValues::new();
    v.insert("p".into(), Tensor::full([K], 1.0 / K as f64, (Kind::Float, Device::Cpu)));
    v.insert("mu".into(), data.index_select(0, &idx));
    v.insert("sigma".into(), scale.expand([K], false).contiguous());
    v
}
