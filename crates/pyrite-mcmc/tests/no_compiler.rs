//! A machine without a working C compiler: NUTS in the default mode (compiled) runs eagerly and
//! gets the exact posterior. Its own test binary: it sets `CC` for the whole process.

use pyrite_core::prelude::*;
use pyrite_distributions::prelude::*;
use pyrite_mcmc::prelude::*;
use tch::Tensor;

#[test]
fn nuts_without_a_c_compiler_runs_eagerly_and_right() {
    let cache = std::env::temp_dir().join(format!("pyrite-kernels-nocc-{}", std::process::id()));
    // SAFETY (of the environment): set before anything in this process reads it.
    unsafe {
        std::env::set_var("PYRITE_KERNEL_CACHE", &cache);
        std::env::set_var("CC", "false");
    }
    tch::set_num_threads(1);
    // Normal-normal: mu ~ N(0, 1), four observations with sd 1: posterior N(sum / 5, 1 / 5).
    let data = Tensor::from_slice(&[0.8f64, 1.6, 1.1, 0.5]);
    let model = |x: &Tensor| -> Result<()> {
        let mu = sample("mu", Normal::new(Tensor::from(0.0f64), Tensor::from(1.0f64))?)?;
        plate("data", 4, |_| observe("obs", Normal::new(&mu, Tensor::from(1.0f64))?, x)).map(drop)
    };
    let mut mcmc = Mcmc::new(Nuts::new(&model)).warmup(300).samples(1500).seed(4).progress(false);
    mcmc.run(&data).unwrap();
    let s = &mcmc.summary(0.9).unwrap()["mu"];
    assert!((s.mean[0] - 0.8).abs() < 0.06, "mean {}", s.mean[0]);
    assert!((s.sd[0] - 0.2f64.sqrt()).abs() < 0.05, "sd {}", s.sd[0]);
    let _ = std::fs::remove_dir_all(&cache);
}
