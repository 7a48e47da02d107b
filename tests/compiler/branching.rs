//! A model that branches on a sampled value read on the host, run as a new user runs it (the
//! default mode, which compiles): the read is seen, the model runs eagerly, and the answers are
//! exact. `x ~ Normal(0, 1)` plus `factor(log 2)` where `x > 0`: P(x > 0) = 2/3.

use pyrite::prelude::*;

/// The ways a model reads the sign of its draw on the host.
#[derive(Clone, Copy, Debug)]
enum Read {
    DoubleValue,
    Vector,
    ComparisonAsBool,
}

fn positive(x: &Tensor, read: Read) -> bool {
    match read {
        Read::DoubleValue => x.double_value(&[]) > 0.0,
        Read::Vector => Vec::<f64>::try_from(x.reshape([-1])).unwrap()[0] > 0.0,
        Read::ComparisonAsBool => bool::try_from(x.gt(0.0)).unwrap(),
    }
}

fn branching(read: Read) -> impl Fn(&()) -> Result<()> {
    move |_: &()| {
        let x = sample("x", Normal::new(0.0, 1.0)?)?;
        if positive(&x, read) {
            factor("bonus", &Tensor::from(2.0f32.ln()))?;
        }
        Ok(())
    }
}

#[test]
fn nuts_in_the_default_mode_gives_the_exact_posterior() {
    tch::set_num_threads(1);
    for read in [Read::DoubleValue, Read::Vector, Read::ComparisonAsBool] {
        let model = branching(read);
        let mut mcmc = Mcmc::new(Nuts::new(&model)).warmup(500).samples(4000).seed(3).progress(false);
        mcmc.run(&()).unwrap();
        let x = &mcmc.get_samples().unwrap()["x"];
        let p = x.gt(0.0).to_kind(Kind::Double).mean(Kind::Double).double_value(&[]);
        assert!((p - 2.0 / 3.0).abs() < 0.05, "{read:?}: P(x > 0) = {p}, exactly 2/3");
    }
}

/// SVI in the default mode runs the eager steps exactly (the read keeps it eager).
#[test]
fn svi_in_the_default_mode_takes_the_eager_steps() {
    for read in [Read::DoubleValue, Read::Vector, Read::ComparisonAsBool] {
        let model = branching(read);
        let run = |compiled: Option<bool>| {
            seed(5, || {
                with_param_store(&new_param_store(), || {
                    let guide = AutoNormal::new(&model, &()).unwrap();
                    let mut svi = Svi::new(&model, &guide, Optimizer::adam(0.05), TraceElbo::new());
                    svi.progress = false;
                    if let Some(on) = compiled {
                        svi.compiled = on;
                    }
                    let losses = svi.run(40, &()).unwrap();
                    assert!(!svi.runs_compiled(), "{read:?}: compiled despite the read");
                    losses
                })
            })
        };
        assert_eq!(run(None), run(Some(false)), "{read:?}");
    }
}
