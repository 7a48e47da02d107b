//! Inference on every available device: the CPU always, CUDA when `cuda_available()` (each
//! test says on standard error when it skips CUDA). Models write their constants as numbers,
//! which land on the thread's default device (`set_default_device`), and their data on the
//! device under test; the answers are the same closed forms as on the CPU. A device this machine
//! does not have is a typed error where it is requested, and changes nothing.

use pyrite::prelude::*;

/// The devices to run on: the CPU, and CUDA when libtorch can use a GPU. Says on standard error
/// when the CUDA cases are skipped.
pub fn devices(test: &str) -> Vec<Device> {
    if cuda_available() {
        vec![Device::Cpu, Device::Cuda(0)]
    } else {
        eprintln!("{test}: CUDA is not available on this machine; CUDA cases skipped (CPU only)");
        vec![Device::Cpu]
    }
}

/// Runs `f` on `device` as the thread's default device, seeded, with a fresh param store; puts
/// the CPU back as the default afterwards.
fn on_device<R>(device: Device, s: u64, f: impl FnOnce() -> R) -> R {
    tch::set_num_threads(1);
    set_default_device(device).unwrap_or_else(|e| panic!("{device:?} is in `devices()`, yet refused: {e}"));
    let out = seed(s, || with_param_store(&new_param_store(), f));
    set_default_device(Device::Cpu).unwrap();
    out
}

fn to_vec(t: &Tensor) -> Vec<f64> {
    Vec::<f64>::try_from(t.detach().to_device(Device::Cpu).to_kind(Kind::Double).flatten(0, -1)).unwrap()
}

const NOISE: f64 = 0.5;

/// Two correlated predictors, twelve rows (f32, as a user's data would be).
fn regression_data() -> (Tensor, Tensor) {
    let x1 = Tensor::from_slice(&[-1.2f32, -0.7, -0.3, 0.1, 0.4, 0.9, 1.3, -0.2, 0.6, -0.9, 1.1, 0.0]);
    let x2 = &x1 + Tensor::from_slice(&[0.3f32, -0.2, 0.25, -0.3, 0.1, -0.15, 0.2, 0.35, -0.25, 0.05, -0.1, 0.3]);
    let x = Tensor::stack(&[x1, x2], 1);
    let eps = Tensor::from_slice(&[0.1f32, -0.4, 0.3, 0.2, -0.1, 0.5, -0.3, 0.0, 0.2, -0.2, 0.1, -0.5]);
    let y = x.matmul(&Tensor::from_slice(&[1.0f32, -0.5])) + eps * NOISE;
    (x, y)
}

/// `w ~ N(0, I)`, `y ~ N(x w, 0.5)`: the prior's constants are numbers.
fn regression_model(d: &(Tensor, Tensor)) -> Result<()> {
    let w = sample("w", Normal::new(0.0, 1.0)?.expand(&[2])?.to_event(1)?)?;
    let mean = (&d.0 * &w).sum_dim_intlist(-1, false, Kind::Float);
    let _ = plate("data", d.1.size()[0], |_| observe("obs", Normal::new(&mean, NOISE)?, &d.1))?;
    Ok(())
}

/// The exact posterior mean and covariance, in f64 on the CPU.
fn regression_posterior(x: &Tensor, y: &Tensor) -> (Vec<f64>, Vec<f64>) {
    let (x, y) = (x.to_kind(Kind::Double), y.to_kind(Kind::Double));
    let prec = x.tr().matmul(&x) / (NOISE * NOISE) + Tensor::eye(2, (Kind::Double, Device::Cpu));
    let cov = prec.inverse();
    let mean = cov.matmul(&x.tr().matmul(&y.unsqueeze(-1))).squeeze_dim(-1) / (NOISE * NOISE);
    (to_vec(&mean), to_vec(&cov))
}

fn fit<G: Guide<(Tensor, Tensor)>>(guide: &G, d: &(Tensor, Tensor), steps: usize) {
    let optim = Optimizer::adam(0.05).with_schedule(LrSchedule::Exponential { gamma: 0.05f64.powf(1.0 / steps as f64) });
    let mut svi = Svi::new(regression_model, |d: &(Tensor, Tensor)| guide.call(d), optim, TraceElbo::with_particles(32, true));
    svi.progress = false;
    svi.run(steps, d).unwrap_or_else(|e| panic!("SVI failed: {e}"));
}

#[test]
fn svi_with_autoguides_recovers_a_gaussian_posterior_on_every_device() {
    let (x, y) = regression_data();
    let (mean, cov) = regression_posterior(&x, &y);
    for device in devices("svi_with_autoguides_recovers_a_gaussian_posterior_on_every_device") {
        let d = (x.to_device(device), y.to_device(device));
        on_device(device, 5, || {
            let guide = AutoMultivariateNormal::new(&regression_model, &d).unwrap();
            fit(&guide, &d, 800);
            let got_mean = &guide.median().unwrap()["w"];
            assert_eq!(got_mean.device(), device, "the guide's params live on the data's device");
            let (got_mean, got_cov) = (to_vec(got_mean), to_vec(&guide.covariance().unwrap()));
            for i in 0..2 {
                let sd = cov[3 * i].sqrt();
                assert!((got_mean[i] - mean[i]).abs() < 0.1 * sd, "{device:?}: mean of w[{i}] {} vs {}", got_mean[i], mean[i]);
                let rel = (got_cov[3 * i] / cov[3 * i] - 1.0).abs();
                assert!(rel < 0.12, "{device:?}: variance of w[{i}] {} vs {}", got_cov[3 * i], cov[3 * i]);
            }
            let corr = |c: &[f64]| c[1] / (c[0] * c[3]).sqrt();
            assert!((corr(&got_cov) - corr(&cov)).abs() < 0.05, "{device:?}: correlation {} vs {}", corr(&got_cov), corr(&cov));
            // posterior predictive draws come back on the device
            let pred = Predictive::new(&regression_model, &guide, 10).call(&d).unwrap();
            assert_eq!(pred["obs"].size(), vec![10, 12]);
            assert_eq!(pred["obs"].device(), device);
        });
        on_device(device, 6, || {
            let guide = AutoNormal::new(&regression_model, &d).unwrap();
            fit(&guide, &d, 800);
            let got = to_vec(&guide.median().unwrap()["w"]);
            for i in 0..2 {
                // the mean-field guide's means are still the posterior's (a Gaussian target)
                assert!((got[i] - mean[i]).abs() < 0.15 * cov[3 * i].sqrt(), "{device:?}: AutoNormal mean of w[{i}] {} vs {}", got[i], mean[i]);
            }
        });
    }
}

const MIX_X: [f32; 6] = [-1.3, 0.4, 2.2, 0.9, -0.2, 1.7];

/// A two-component mixture with its weights, locs and scale as params and the component of each
/// point enumerated.
fn mixture(x: &Tensor) -> Result<()> {
    let device = x.device();
    let probs = param("probs", Tensor::from_slice(&[0.3f32, 0.7]).to_device(device), Constraint::Simplex)?;
    let locs = param("locs", Tensor::from_slice(&[-1.0f32, 1.5]).to_device(device), Constraint::Real)?;
    let scale = param("scale", Tensor::from(0.8f32).to_device(device), Constraint::Positive)?;
    let _ = plate("data", x.size()[0], |_| {
        let z = SampleSite::new("z", Categorical::new(&probs)?).enumerate().run()?;
        observe("x", Normal::new(locs.index(&[Some(&z)]), &scale)?, x)
    })?;
    Ok(())
}

#[test]
fn trace_enum_elbo_and_infer_discrete_agree_with_brute_force_on_every_device() {
    // -log p(x) = -sum_i log sum_k probs_k N(x_i; locs_k, scale), in f64 on the CPU
    let (probs, locs, scale) = ([0.3f64, 0.7], [-1.0f64, 1.5], 0.8f64);
    let lp = |x: f64, k: usize| probs[k].ln() - 0.5 * ((x - locs[k]) / scale).powi(2) - scale.ln() - 0.5 * (2.0 * std::f64::consts::PI).ln();
    let want: f64 = -MIX_X.iter().map(|&x| (lp(x as f64, 0).exp() + lp(x as f64, 1).exp()).ln()).sum::<f64>();
    let map: Vec<i64> = MIX_X.iter().map(|&x| i64::from(lp(x as f64, 1) > lp(x as f64, 0))).collect();
    for device in devices("trace_enum_elbo_and_infer_discrete_agree_with_brute_force_on_every_device") {
        let x = Tensor::from_slice(&MIX_X).to_device(device);
        on_device(device, 7, || {
            let guide = |_: &Tensor| -> Result<()> { Ok(()) };
            let svi = Svi::new(mixture, guide, Optimizer::adam(0.01), TraceEnumElbo::new());
            let got = svi.evaluate_loss(&x).unwrap();
            assert!((got - want).abs() < 1e-4 * want.abs(), "{device:?}: loss {got} vs brute force {want}");
            let tr = infer_discrete(&|| mixture(&x), -2, 0.0).unwrap();
            let z = tr.site("z").unwrap().value.shallow_clone();
            assert_eq!(z.device(), device);
            assert_eq!(Vec::<i64>::try_from(z.to_device(Device::Cpu)).unwrap(), map, "{device:?}: MAP components");
        });
    }
}

/// A CUDA device past the last one libtorch sees: `Cuda(0)` on a machine without a GPU.
fn missing_cuda_device() -> Device {
    if cuda_available() {
        Device::Cuda(usize::try_from(tch::Cuda::device_count()).unwrap())
    } else {
        Device::Cuda(0)
    }
}

#[test]
fn an_unavailable_cuda_device_is_refused_where_it_is_requested_and_changes_nothing() {
    let missing = missing_cuda_device();
    let err = set_default_device(missing).unwrap_err();
    assert!(matches!(err, DistError::Device(_)), "{err:?}");
    let msg = err.to_string();
    if missing == Device::Cuda(0) {
        assert_eq!(msg, "no CUDA device is available: libtorch sees none (check `nvidia-smi` and that libtorch_cuda.so is installed); use --device cpu");
    } else {
        assert!(msg.starts_with(&format!("CUDA device {} is not available: libtorch sees", tch::Cuda::device_count())), "{msg}");
    }
    // Nothing changed: the default is still the CPU and numbers still become CPU tensors.
    assert_eq!(default_device(), Device::Cpu);
    let x = Normal::new(0.0, 1.0).unwrap().sample(&[3]).unwrap();
    assert_eq!(x.device(), Device::Cpu);
    // A far-off index is refused too, with the same kind of error.
    assert!(matches!(set_default_device(Device::Cuda(1 << 20)), Err(DistError::Device(_))));
    assert_eq!(default_device(), Device::Cpu);
}

#[test]
fn a_refused_device_converts_into_a_pyrite_device_error_with_its_sentence() {
    let missing = missing_cuda_device();
    let select = || -> Result<()> {
        set_default_device(missing)?;
        Ok(())
    };
    let err = select().unwrap_err();
    let PyriteError::Device(msg) = &err else { panic!("expected PyriteError::Device, got {err:?}") };
    assert_eq!(err.to_string(), *msg, "the message is the sentence itself, with no site prefix");
    assert!(msg.ends_with("or --device cpu") || msg.ends_with("; use --device cpu"), "{msg}");
    assert_eq!(default_device(), Device::Cpu);
}

#[test]
fn a_plate_on_an_unavailable_device_is_a_typed_error() {
    let err = Plate::new("data", 3).device(missing_cuda_device()).run(|s| Ok(s.indices())).unwrap_err();
    assert!(matches!(err, PyriteError::Device(_)), "{err:?}");
}

#[test]
fn the_cuda_flag_without_a_gpu_is_the_same_sentence() {
    if cuda_available() {
        eprintln!("the_cuda_flag_without_a_gpu_is_the_same_sentence: CUDA is available; nothing to refuse");
        return;
    }
    let err = device_from_flag(Some("cuda")).unwrap_err();
    assert_eq!(
        err.to_string(),
        "no CUDA device is available: libtorch sees none (check `nvidia-smi` and that libtorch_cuda.so is installed); use --device cpu"
    );
}
