//! The messages of the catalogue's lines that other tests back (they check the variants and the
//! sites; see the test each line names): each mistake made again here, its message found in
//! `docs/errors.md` verbatim.

use pyrite::prelude::*;

use super::catalogue;

/// The message of an `Err`, or a note that there was none.
fn message<T>(r: std::result::Result<T, impl std::fmt::Display>) -> String {
    match r {
        Ok(_) => "<no error>".into(),
        Err(e) => e.to_string(),
    }
}

/// Checks each `(expected, actual)` pair, and that the catalogue quotes the message; reports all
/// that fail at once.
#[track_caller]
fn check(cases: Vec<(&str, String)>) {
    let mut failures = Vec::new();
    for (want, got) in cases {
        if got != want {
            failures.push(format!("  want {want}\n  got  {got}"));
        } else if !catalogue().contains(&got) {
            failures.push(format!("  not quoted by docs/errors.md: {got}"));
        }
    }
    assert!(failures.is_empty(), "\n{}", failures.join("\n"));
}

fn f64s(x: &[f64]) -> Tensor {
    Tensor::from_slice(x)
}

#[test]
fn distribution_messages() {
    let n3 = Normal::new(Tensor::zeros([3], (Kind::Double, Device::Cpu)), 1.0).unwrap();
    let loc = f64s(&[0.0, 0.0]);
    let not_pd = f64s(&[1.0, 2.0, 2.0, 1.0]).reshape([2, 2]);
    let with_question_mark = || -> Result<Tensor> { sample("sigma", Normal::new(0.0, -1.0)?) };
    let twenty = Tensor::from(20.0f32);
    let outside = get_trace(|| condition(values(&[("sigma", &twenty)]), || sample("sigma", Uniform::new(0.0, 10.0)?))).unwrap();
    check(vec![
        ("Normal: parameter `scale` must be positive (got values outside it)", message(Normal::new(0.0, -1.0))),
        ("site `sigma`: Normal: parameter `scale` must be positive (got values outside it)", message(sample("sigma", Normal::new(0.0, -1.0)))),
        ("site `<distribution>`: Normal: parameter `scale` must be positive (got values outside it)", message(with_question_mark())),
        ("Normal: parameter `loc` contains NaN", message(Normal::new(f64::NAN, 1.0))),
        ("Categorical: parameter `probs` must be simplex (got values outside it)", message(Categorical::new(f64s(&[0.2, 0.3])))),
        (
            "Normal: shapes do not broadcast: loc [3], scale [2]",
            message(Normal::new(Tensor::zeros([3], (Kind::Double, Device::Cpu)), Tensor::ones([2], (Kind::Double, Device::Cpu)))),
        ),
        (
            "MultivariateNormal: parameter `covariance_matrix` must be a square matrix, got shape [2, 3]",
            message(MultivariateNormal::from_covariance(&loc, Tensor::ones([2, 3], (Kind::Double, Device::Cpu)))),
        ),
        (
            "MultivariateNormal: parameter `covariance_matrix` must be positive_definite (got values outside it)",
            message(MultivariateNormal::from_covariance(&loc, &not_pd)),
        ),
        ("Exponential: value lies outside the support nonnegative", message(Exponential::new(1.0).unwrap().log_prob(&f64s(&[1.0, -1.0])))),
        ("Normal: value contains NaN", message(Normal::new(0.0, 1.0).unwrap().log_prob(&f64s(&[f64::NAN])))),
        (
            "Normal: value of shape [4] does not broadcast with batch shape [3] and event shape []",
            message(n3.log_prob(&Tensor::zeros([4], (Kind::Double, Device::Cpu)))),
        ),
        ("Normal: shapes do not broadcast: cannot expand batch shape [3] to [2]", message(n3.expand(&[2]))),
        (
            "Independent: shapes do not broadcast: to_event(2) needs 2 batch dims, but Normal has batch shape [3]",
            message(Normal::new(Tensor::zeros([3], (Kind::Double, Device::Cpu)), 1.0).unwrap().to_event(2)),
        ),
        ("Poisson: entropy is not supported", message(Poisson::new(1.0).unwrap().entropy())),
        ("Categorical: rsample is not supported", message(Categorical::new(f64s(&[0.5, 0.5])).unwrap().rsample(&[2]))),
        (
            "Masked: parameter `mask` must be a bool tensor, got Float",
            message(Normal::new(0.0, 1.0).unwrap().mask(&Tensor::ones([1], (Kind::Float, Device::Cpu)))),
        ),
        (
            "Masked: shapes do not broadcast: mask [3] and batch shape [2] of Normal",
            message(Normal::new(Tensor::zeros([2], (Kind::Float, Device::Cpu)), 1.0).unwrap().mask(&Tensor::from_slice(&[true, false, true]))),
        ),
        ("site `sigma`: Uniform: value lies outside the support interval(0, 10)", message(outside.log_prob_sum())),
    ]);
}

#[test]
fn language_messages() {
    let twice = || -> Result<()> {
        let _ = sample("x", Normal::new(0.0, 1.0))?;
        sample("x", Normal::new(0.0, 1.0)).map(drop)
    };
    let obs = || observe("obs", Normal::new(0.0, 1.0), &Tensor::from_slice(&[1.0f32, 2.0, 3.0]));
    let nan = || plate("data", 3, |_| observe("obs", Normal::new(0.0, 1.0), &Tensor::from_slice(&[1.0f32, f32::NAN, 3.0])));
    let loc3 = Tensor::zeros([3], (Kind::Float, Device::Cpu));
    let wide = || plate("data", 2, |_| sample("bad_site", Normal::new(&loc3, 1.0)));
    let continuous = || SampleSite::new("c", Normal::new(0.0, 1.0)).enumerate().run().map(drop);
    let in_plate = || -> Result<()> {
        let _ = plate("data", 3, |_| SampleSite::new("z", Categorical::new(f64s(&[0.2, 0.3, 0.5]))).enumerate().run())?;
        Ok(())
    };
    let no_guide = || -> Result<()> { Ok(()) };
    let b_not_enumerated = || -> Result<()> {
        let a = SampleSite::new("a", Categorical::new(f64s(&[0.2, 0.8]))).enumerate().run()?;
        let b = sample("b", Categorical::new(f64s(&[0.2, 0.8])))?;
        observe("x", Normal::new((a + b).to_kind(Kind::Double), 1.0), &Tensor::from(0.3f64)).map(drop)
    };
    with_param_store(&new_param_store(), || {
        let _ = param("p", Tensor::from_slice(&[1.0f32, 2.0]), Constraint::Positive).unwrap();
        check(vec![
            ("site `x` appears twice in one run of the model; site names must be unique", message(get_trace(twice))),
            ("site `obs`: value of shape [3] does not match the distribution's shape [] (batch [], event []); wrap the statement in a plate or reshape the data", message(get_trace(obs))),
            ("site `obs`: observed data is not finite", message(get_trace(nan))),
            ("site `bad_site`: batch shape [3] does not match plate `data` of size 2 at dim -1", message(get_trace(wide))),
            ("plate `b`: dim -1 is already used by an enclosing plate", message(plate("a", 2, |_| Plate::new("b", 3).dim(-1).run(|_| sample("x", Normal::new(0.0, 1.0)))))),
            ("plate `pos`: dim must be negative, got 1", message(Plate::new("pos", 3).dim(1).run(|_| Ok(())))),
            ("plate `neg`: size must be nonnegative, got -1", message(Plate::new("neg", -1).run(|_| Ok(())))),
            ("plate `data`: subsample_size must be positive, got 0", message(Plate::new("data", 4).subsample_size(0).run(|_| Ok(())))),
            ("invalid input `scale around site `x``: the factor must be positive and finite, got -1", message(scale(-1.0, || sample("x", Normal::new(0.0, 1.0))))),
            ("invalid input `mask around site `x``: the mask must be a bool tensor, got Float", message(mask(&Tensor::from_slice(&[1.0f32]), || sample("x", Normal::new(0.0, 1.0))))),
            ("site `c`: cannot enumerate: Normal has no finite support to enumerate (only discrete sites can be enumerated)", message(get_trace(|| enumerate(-1, continuous)))),
            ("site `z`: cannot enumerate: plate `data` uses dim -1 but enumeration starts at dim -1; raise max_plate_nesting", message(TraceEnumElbo::with_max_plate_nesting(0).loss_and_params(&in_plate, &no_guide))),
            ("the guide has no site `b`, which is a latent (unobserved) sample site of the model", message(TraceEnumElbo::new().loss_and_params(&b_not_enumerated, &no_guide))),
            ("invalid input `temperature`: must be 0 or 1, got 0.5", message(infer_discrete(&in_plate, -2, 0.5))),
            ("param `p`: declared with constraint real but stored with positive", message(param("p", Tensor::from_slice(&[1.0f32, 2.0]), Constraint::Real))),
            ("param `p`: declared with shape [3] but stored with shape [2]", message(param("p", Tensor::from_slice(&[1.0f32, 2.0, 3.0]), Constraint::Positive))),
            ("param `neg`: initial value lies outside its constraint positive", message(param("neg", -1.0, Constraint::Positive))),
            ("param store: params is missing", message(pyrite::core::param_store::ParamStore::default().load_json(&serde_json::json!({"format": "pyrite-param-store"})))),
        ]);
    });
}

#[test]
fn inference_messages() {
    let x = f64s(&[0.8, 1.9, 1.2, 0.4]);
    let model = |x: &Tensor| -> Result<()> {
        let mu = sample("mu", Normal::new(0.0, 2.0))?;
        let sigma = sample("sigma", Gamma::new(2.0, 2.0))?;
        plate("data", x.size()[0], |_| observe("obs", Normal::new(&mu, &sigma), x)).map(drop)
    };
    let step = |guide: &dyn Fn(&Tensor) -> Result<()>, x: &Tensor| {
        with_param_store(&new_param_store(), || {
            let mut svi = Svi::new(model, guide, Optimizer::adam(0.01), TraceElbo::new());
            svi.progress = false;
            svi.step(x)
        })
    };
    let partial = |_: &Tensor| sample("mu", Normal::new(0.0, 1.0)).map(drop);
    let discrete = |_: &Tensor| -> Result<()> {
        let _ = sample("mu", Bernoulli::new(0.5))?;
        sample("sigma", Gamma::new(2.0, 2.0)).map(drop)
    };
    let wide = |_: &Tensor| -> Result<()> {
        let _ = sample("mu", Normal::new(0.0, 1.0))?;
        sample("sigma", Gamma::new(Tensor::full([3], 2.0, (Kind::Float, Device::Cpu)), 2.0)?.to_event(1)).map(drop)
    };
    let normal_for_gamma = |_: &Tensor| -> Result<()> {
        let _ = sample("mu", Normal::new(1.0, 0.5))?;
        sample("sigma", Normal::new(5.0, 0.1)).map(drop)
    };
    let good = |_: &Tensor| -> Result<()> {
        let _ = sample("mu", Normal::new(1.0, 0.5))?;
        sample("sigma", Gamma::new(2.0, 2.0)).map(drop)
    };
    let root = |_: &Tensor| -> Result<()> {
        let m = param("m", 0.0, Constraint::Real)?;
        factor("f", &m.abs().sqrt())
    };
    let nothing = |_: &Tensor| -> Result<()> { Ok(()) };
    let gradient = with_param_store(&new_param_store(), || Svi::new(root, nothing, Optimizer::adam(0.05), TraceElbo::new()).step(&x));
    let subsampled = |x: &Tensor| -> Result<()> {
        Plate::new("data", 4)
            .subsample_size(2)
            .run(|p| {
                let z = sample("z", Normal::new(0.0, 1.0))?;
                observe("x", Normal::new(z, 0.5), &p.subsample(x, 0)?)
            })
            .map(drop)
    };
    let coin = |_: &Tensor| sample("k", Bernoulli::new(0.3)).map(drop);
    // `x.matmul(w)` puts the particles' dim on the wrong side.
    let xs = Tensor::ones([6, 2], (Kind::Double, Device::Cpu));
    let linear = |y: &Tensor| -> Result<()> {
        let w = sample("w", Normal::new(Tensor::zeros([2], (Kind::Double, Device::Cpu)), 1.0)?.to_event(1))?;
        let mean = xs.matmul(&w.unsqueeze(-1)).squeeze_dim(-1);
        plate("data", 6, |_| observe("obs", Normal::new(&mean, 1.0), y)).map(drop)
    };
    let y = Tensor::zeros([6], (Kind::Double, Device::Cpu));
    let particles = with_param_store(&new_param_store(), || {
        let guide = AutoNormal::new(&linear, &y)?;
        let mut svi = Svi::new(linear, &guide, Optimizer::adam(0.05), TraceElbo::with_particles(8, true));
        svi.step(&y)
    });
    // A global enumerated site feeding a subsampled plate's sites.
    let scales = || -> Result<()> {
        let z = SampleSite::new("z", Categorical::new(f64s(&[0.4, 0.6]))).enumerate().run()?;
        Plate::new("data", 3).subsample(&Tensor::from_slice(&[0i64, 2])).run(|_| {
            let w = SampleSite::new("w", Bernoulli::new(0.3)).enumerate().run()?;
            observe("x", Normal::new((z + w).to_kind(Kind::Double), 1.0), &f64s(&[0.1, -0.3])).map(drop)
        })
    };
    check(vec![
        ("the guide has no site `sigma`, which is a latent (unobserved) sample site of the model", message(step(&partial, &x))),
        ("site `mu`: model and guide disagree: model support real but guide support boolean", message(step(&discrete, &x))),
        ("site `sigma`: model and guide disagree: model support nonnegative but guide support independent(nonnegative, 1)", message(step(&wide, &x))),
        ("site `sigma`: model and guide disagree: the model's support is nonnegative (Gamma) but the guide has support real (Normal): the guide must propose only values the model can score", message(step(&normal_for_gamma, &x))),
        ("site `obs`: observed data is not finite", message(step(&good, &f64s(&[0.8, f64::NAN, 1.2, 0.4])))),
        ("site `obs`: the model's log-density (-inf) is not finite", message(step(&good, &f64s(&[0.8, 1e300, 1.2, 0.4])))),
        ("site `m`: the gradient is not finite", message(gradient)),
        ("plate `data`: AutoContinuous guides do not support subsampling; use AutoNormal", message(AutoMultivariateNormal::new(&subsampled, &x))),
        ("site `obs`: in the model, the log-density has shape [8, 8, 6], with dims left of the vectorised particles' dim -2: the model does not broadcast over a batch dim on the left (align batch dims to the right, e.g. `(x * w).sum(-1)` rather than `x.matmul(w)`)", message(particles)),
        ("site `w`: cannot enumerate: its log-density has scale 1.5 but that of `z` has scale 1; the sites that depend on enumerated variables must share one scale (subsampling or `scale`)", message(TraceEnumElbo::new().loss_and_params(&scales, &|| Ok(())))),
        ("site `k`: cannot enumerate: an autoguide cannot fit a discrete latent site; mark it for enumeration (config_enumerate) and use TraceEnumElbo", message(AutoDelta::new(&coin, &x))),
        ("site `k`: cannot enumerate: an autoguide cannot fit a discrete latent site; mark it for enumeration (config_enumerate) and use TraceEnumElbo", message(AutoNormal::new(&coin, &x))),
    ]);
}

#[test]
fn mcmc_messages() {
    let x = f64s(&[1.0, 0.0, 1.0]);
    let coin = |x: &Tensor| -> Result<()> {
        let p = sample("p", Beta::new(1.0, 1.0))?;
        plate("data", x.size()[0], |_| observe("obs", Bernoulli::new(&p), x)).map(drop)
    };
    let discrete = |_: &Tensor| sample("k", Bernoulli::new(0.3)).map(drop);
    let hopeless = |_: &Tensor| -> Result<()> {
        let _ = sample("a", Normal::new(0.0, 1.0))?;
        factor("nan_factor", &Tensor::from(f32::NAN))
    };
    check(vec![
        ("invalid input `chains`: must be at least 1", message(Mcmc::new(Nuts::new(&coin)).chains(0).progress(false).run(&x))),
        ("invalid input `samples`: must be at least 1", message(Mcmc::new(Nuts::new(&coin)).samples(0).progress(false).run(&x))),
        ("invalid input `target_accept`: must lie strictly between 0 and 1, got 1.5", message(Mcmc::new(Nuts::new(&coin).target_accept(1.5)).progress(false).run(&x))),
        ("invalid input `step_size`: must be positive and finite, got -0.1", message(Mcmc::new(Nuts::new(&coin).step_size(-0.1)).progress(false).run(&x))),
        ("site `k`: cannot enumerate: NUTS and HMC move continuous sites only: mark this discrete latent site for enumeration (`config_enumerate` or `SampleSite::enumerate`) so that it is summed out of the potential", message(Mcmc::new(Nuts::new(&discrete)).warmup(5).samples(5).progress(false).run(&x))),
        ("site `nan_factor`: the log-density (or its gradient) at each of 100 initial points is not finite", message(Mcmc::new(Nuts::new(&hopeless)).warmup(5).samples(5).progress(false).run(&x))),
        ("invalid input `prob`: must lie strictly between 0 and 1, got 0", message(pyrite::mcmc::summary::summary(&[("x".to_string(), Tensor::zeros([10], (Kind::Double, Device::Cpu)))].into_iter().collect(), 0.0, false))),
        ("invalid input `chains`: no chains given", message(pyrite::mcmc::diagnostics::split_rhat::<Vec<f64>>(&[]))),
    ]);
}

#[test]
fn device_and_data_messages() {
    if cuda_available() {
        eprintln!("device_and_data_messages: CUDA is available here; the missing-device sentences are not checked");
    } else {
        check(vec![
            (
                "no CUDA device is available: libtorch sees none (check `nvidia-smi` and that libtorch_cuda.so is installed); use --device cpu",
                message(set_default_device(Device::Cuda(0))),
            ),
            (
                "no CUDA device is available: libtorch sees none (check `nvidia-smi` and that libtorch_cuda.so is installed); use --device cpu",
                message(Plate::new("data", 3).device(Device::Cuda(0)).run(|_| Ok(()))),
            ),
            (
                "no CUDA device is available: libtorch sees none (check `nvidia-smi` and that libtorch_cuda.so is installed); use --device cpu",
                message(device_from_flag(Some("cuda"))),
            ),
        ]);
    }
    let images = || Tensor::zeros([3, 64], (Kind::Float, Device::Cpu));
    check(vec![
        ("invalid input `device`: `gpu` is not `cpu` or `cuda`", message(device_from_flag(Some("gpu")))),
        (
            "image set: images have shape [4, 63], expected [n, 64]",
            message(pyrite::data::ImageSet::new(Tensor::zeros([4, 63], (Kind::Float, Device::Cpu)), Tensor::from_slice(&[0i64, 1, 2, 3]), 64, 10)),
        ),
        ("image set: label 10 is outside 0..10", message(pyrite::data::ImageSet::new(images(), Tensor::from_slice(&[0i64, 10, 1]), 64, 10))),
        ("image set: labels have shape [2], expected [3]", message(pyrite::data::ImageSet::new(images(), Tensor::from_slice(&[0i64, 1]), 64, 10))),
    ]);
}
