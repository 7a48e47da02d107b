//! Bayesian neural networks (the second seed's MNIST example, after Pyro's `random_module`
//! tutorial): a 784-1024-10 ReLU network with a Normal(0, 1) prior on every weight and bias, a
//! categorical likelihood on the logits in a subsampled data plate (so each minibatch's ELBO is
//! scaled to the whole training set), and a mean-field Normal guide with one loc and scale per
//! weight, trained by SVI on minibatches of 128.
//!
//! Data: the embedded 5,000-image MNIST subset (per digit 400 train / 100 test) or, with
//! `--mnist-idx DIR`, the full MNIST IDX files; and a smaller network (64-100-10) on the 8x8
//! digits (80/20 shuffled split). Predictions average the class probabilities of 100 networks
//! drawn from the guide (`Predictive`); the predictive entropy of test images is compared with
//! that of uniform-noise images, which a Bayesian network should find more uncertain.
//!
//! Writes `summary.json` (`accuracy_mnist`, `accuracy_digits`, `entropy_test`, `entropy_noise`,
//! and more), `bnn_reliability.png` (reliability diagrams), `bnn_entropy.png` (entropy of test
//! against noise images), `bnn_uncertain.png` (the most uncertain test images) and
//! `bnn_loss.png`.
//!
//! `cargo run --release --example bnn -- --out out/bnn [--device cpu|cuda] [--epochs 5]`
//!
//! `--steps N` caps the SVI steps of each network (for smoke runs); `--check` fails unless
//! `accuracy_mnist >= 0.90`, `accuracy_digits >= 0.95` and `entropy_noise > entropy_test`.
//!
//! `--save mnist.safetensors` writes the fitted MNIST network's params (a safetensors file with
//! the constraints as metadata; JSON for a `.json` path). `--load mnist.safetensors` skips
//! training: it reads them back (in a fresh process), predicts the MNIST test set from the
//! reloaded guide and writes `summary.json` with `accuracy_mnist`, the same figure as the run that
//! saved them (predictions draw their networks from a generator seeded with `--seed` in both).

use std::path::{Path, PathBuf};
use std::time::Instant;

use clap::Parser;
use pyrite::data::{DataLoader, ImageSet};
use pyrite::prelude::*;
use pyrite::tch::{self, nn};
use pyrite_examples::plots::{self, Layer, Panel, RGBColor, PALETTE};
use pyrite_examples::{check_dir, check_positive, data_error, images, parse_args, report_checks, DeviceFlag, Flags};

/// The example contract's flags and this example's own.
#[derive(Parser, Debug)]
struct Args {
    #[command(flatten)]
    common: Flags,
    #[command(flatten)]
    device: DeviceFlag,
    /// Training epochs of the MNIST network.
    #[arg(long, default_value_t = 5)]
    epochs: usize,
    /// Training epochs of the digits network.
    #[arg(long, default_value_t = 150)]
    digits_epochs: usize,
    /// Read the full MNIST from the four IDX files in this directory instead of the subset.
    #[arg(long)]
    mnist_idx: Option<PathBuf>,
    /// Networks drawn from the guide for predictions.
    #[arg(long, default_value_t = 100)]
    samples: i64,
    /// Save the fitted MNIST network's params to this file (safetensors; JSON for `.json`).
    #[arg(long)]
    save: Option<PathBuf>,
    /// Predict with the MNIST network's params from this file (written by `--save`) instead of
    /// training; the digits network is not fitted.
    #[arg(long, conflicts_with = "save")]
    load: Option<PathBuf>,
    /// Run the SVI steps eagerly (libtorch's operations) instead of compiled (`Svi::compiled`,
    /// the default: the minibatches as the step's inputs, libtorch's matrix products, the rest
    /// fused native code).
    #[arg(long)]
    eager: bool,
}

impl Args {
    /// Checks this example's flags and the common ones: positive counts, an existing
    /// `--mnist-idx` directory.
    fn check(&self) -> Result<()> {
        self.common.check()?;
        check_positive("--epochs", self.epochs)?;
        check_positive("--digits-epochs", self.digits_epochs)?;
        check_positive("--samples", self.samples)?;
        if let Some(dir) = &self.mnist_idx {
            check_dir("--mnist-idx", dir)?;
        }
        if let Some(file) = &self.load {
            if !file.is_file() {
                return Err(PyriteError::InvalidInput { what: "--load".into(), problem: format!("{} is not a file", file.display()) });
            }
        }
        Ok(())
    }
}

/// A tch module whose variables get priors: `fc1` (input -> hidden, ReLU) and `out`.
struct Net {
    vs: nn::VarStore,
    input: i64,
}

impl Net {
    fn new(input: i64, hidden: i64, classes: i64, device: Device) -> Net {
        let mut vs = nn::VarStore::new(device);
        let root = vs.root();
        let _ = nn::linear(&root / "fc1", input, hidden, Default::default());
        let _ = nn::linear(&root / "out", hidden, classes, Default::default());
        // The variables give the priors their shapes and the guide its initial locs: nothing
        // differentiates them.
        vs.freeze();
        Net { vs, input }
    }
    /// The variables in name order.
    fn variables(&self) -> Vec<(String, Tensor)> {
        let mut v: Vec<(String, Tensor)> = self.vs.variables().into_iter().collect();
        v.sort_by(|a, b| a.0.cmp(&b.0));
        v
    }
}

/// What the model sees: images, labels (none when predicting), the minibatch's row indices in
/// the full data, and the full data size.
struct Data {
    x: Tensor,
    y: Option<Tensor>,
    indices: Option<Tensor>,
    size: i64,
}

// ANCHOR: model
/// Every weight and bias ~ Normal(0, 1); `obs ~ Categorical(logits = out(relu(fc1(x))))` in the
/// data plate, subsampled to the minibatch. When predicting (no labels) the class probabilities
/// are recorded as the deterministic site `probs`.
fn model(net: &Net, d: &Data) -> Result<Tensor> {
    check_images(&d.x, net.input)?;
    let params = random_module("module", &net.vs, |_, w| Ok(Normal::new(0.0, 1.0)?.expand(&w.size())?.to_event(w.dim())?.into_dist()))?;
    let hidden = linear_from(&params, "fc1", &d.x)?.relu();
    let logits = linear_from(&params, "out", &hidden)?;
    let mut data = Plate::new("data", d.size);
    if let Some(idx) = &d.indices {
        data = data.subsample(idx);
    }
    data.run(|_| {
        let _ = sample_obs("obs", Categorical::from_logits(&logits)?, d.y.as_ref())?;
        if d.y.is_none() {
            let _ = deterministic("probs", &logits.softmax(-1, Kind::Float), 1)?;
        }
        Ok(())
    })?;
    Ok(logits)
}
// ANCHOR_END: model

// ANCHOR: guide
/// The mean-field guide: per weight a Normal with a learned loc (initialised at the module's
/// own initial weights) and scale (initialised at `init_scale`).
fn guide(net: &Net, init_scale: f64) -> Result<()> {
    for (name, w) in net.variables() {
        let init = w.detach();
        let loc = param(&format!("{name}.loc"), lazy(move || init.copy()), Constraint::Real)?;
        let (shape, device) = (w.size(), w.device());
        let scale = param(&format!("{name}.scale"), lazy(move || Tensor::full(shape.as_slice(), init_scale, (Kind::Float, device))), Constraint::Positive)?;
        let _ = sample(&format!("module.{name}"), Normal::new(loc, scale)?.to_event(w.dim())?)?;
    }
    Ok(())
}
// ANCHOR_END: guide

/// Images must be `[n, width]` for the network's first layer: anything else is
/// `InvalidInput`, not a libtorch shape panic.
fn check_images(x: &Tensor, width: i64) -> Result<()> {
    let s = x.size();
    if s.len() != 2 || s[1] != width {
        return Err(PyriteError::InvalidInput { what: "images".into(), problem: format!("shape {s:?}, expected [n, {width}]") });
    }
    Ok(())
}

/// The images' checks before training: `[n, width]` f32 pixels and labels in range, as
/// `ImageSet` guarantees, plus matching widths of the two sets.
fn check_sets(train: &ImageSet, test: &ImageSet) -> Result<()> {
    if train.width() != test.width() || train.num_classes() != test.num_classes() {
        return Err(PyriteError::InvalidInput {
            what: "test images".into(),
            problem: format!(
                "width {} / {} classes, but the training images have {} / {}",
                test.width(),
                test.num_classes(),
                train.width(),
                train.num_classes()
            ),
        });
    }
    if train.is_empty() || test.is_empty() {
        return Err(PyriteError::InvalidInput { what: "images".into(), problem: "empty training or test set".into() });
    }
    Ok(())
}

/// What one trained network reports.
struct Fit {
    accuracy: f64,
    entropy_test: Vec<f64>,
    entropy_noise: Vec<f64>,
    confidence: Vec<f64>,
    correct: Vec<bool>,
    predicted: Vec<i64>,
    probs: Tensor,
    epoch_loss: Vec<f64>,
    /// Loss per training image of every SVI step.
    step_loss: Vec<f64>,
    steps_per_epoch: usize,
    epoch_seconds: Vec<f64>,
    test_images: Tensor,
    test_labels: Vec<i64>,
}

struct Setup<'a> {
    name: &'a str,
    hidden: i64,
    epochs: usize,
    lr: f64,
    init_scale: f64,
    batch: i64,
    /// Params to start from instead of training (`--load`).
    load: Option<&'a Path>,
    /// Where to save the fitted params (`--save`).
    save: Option<&'a Path>,
    /// Seeds the draws of the predictions.
    seed: u64,
    /// Run the SVI steps compiled (`--compiled`).
    compiled: bool,
}

/// Predictive entropy `-sum_k p_k log p_k` of each row of averaged class probabilities.
fn entropy(probs: &Tensor) -> Tensor {
    -(probs * probs.clamp_min(1e-12).log()).sum_dim_intlist(-1, false, Kind::Float)
}

fn values(t: &Tensor) -> Vec<f64> {
    // Cannot fail: every tensor can be copied to the CPU.
    Vec::<f64>::try_from(t.to_kind(Kind::Double).to_device(Device::Cpu).contiguous().view([-1])).unwrap_or_default()
}

// ANCHOR: predict
/// Averaged class probabilities of `samples` networks drawn from the guide, `[n, classes]`.
fn predict(net: &Net, init_scale: f64, x: &Tensor, samples: i64) -> Result<Tensor> {
    let m = |d: &Data| model(net, d);
    let g = |_: &Data| guide(net, init_scale);
    let d = Data { x: x.shallow_clone(), y: None, indices: None, size: x.size()[0] };
    let out = Predictive::new(&m, &g, samples).sequential().return_sites(&["probs"]).call(&d)?;
    Ok(out["probs"].mean_dim(0, false, Kind::Float))
}
// ANCHOR_END: predict

/// Trains a network on `train` and evaluates it on `test` and on uniform noise.
fn fit(s: &Setup, train: &ImageSet, test: &ImageSet, device: Device, max_steps: Option<usize>, samples: i64) -> Result<Fit> {
    check_sets(train, test)?;
    let net = Net::new(train.width(), s.hidden, train.num_classes(), device);
    let n = train.len() as i64;
    let loader =
        DataLoader::new(vec![train.images().shallow_clone(), train.labels().shallow_clone()], s.batch, true, device).map_err(data_error("training set"))?;
    let m = |d: &Data| model(&net, d);
    let g = |_: &Data| guide(&net, s.init_scale);
    let mut svi = Svi::new(m, g, Optimizer::adam(s.lr), TraceElbo::new());
    svi.progress = false;
    // Compiled: the minibatch's images, labels and row indices are the step's inputs.
    svi.compiled = s.compiled;
    svi.compiled_data(|d: &Data| [Some(&d.x), d.y.as_ref(), d.indices.as_ref()].into_iter().flatten().map(Tensor::shallow_clone).collect());
    let (mut epoch_loss, mut epoch_seconds, mut step_loss) = (vec![], vec![], vec![]);
    let mut steps = 0usize;
    if let Some(path) = s.load {
        pyrite::core::param_store::lock(&get_param_store()).load(path)?;
        println!("  {}: params read from {}, no training", s.name, path.display());
    }
    let epochs = if s.load.is_some() { 0 } else { s.epochs };
    'epochs: for epoch in 0..epochs {
        let bar = images::epoch_bar(format!("{} epoch {}/{}", s.name, epoch + 1, s.epochs), loader.num_batches() as u64);
        let t = Instant::now();
        let (mut total, mut batches) = (0.0, 0);
        for batch in loader.epoch() {
            let mut it = batch.tensors.into_iter();
            let (Some(x), Some(y)) = (it.next(), it.next()) else {
                return Err(PyriteError::Model("a minibatch lacks its images or labels".into()));
            };
            let loss = svi.step(&Data { x, y: Some(y), indices: Some(batch.indices), size: n })?;
            total += loss;
            step_loss.push(loss / n as f64);
            batches += 1;
            steps += 1;
            bar.set_message(format!("loss/image {:.3}", loss / n as f64));
            bar.inc(1);
            if max_steps.is_some_and(|m| steps >= m) {
                break;
            }
        }
        bar.finish_and_clear();
        let secs = t.elapsed().as_secs_f64();
        epoch_loss.push(total / batches as f64 / n as f64);
        epoch_seconds.push(secs);
        if s.epochs <= 10 || (epoch + 1) % (s.epochs / 10) == 0 || epoch + 1 == s.epochs {
            println!("  {} epoch {}: mean minibatch loss per image {:.3} ({secs:.2} s)", s.name, epoch + 1, epoch_loss[epoch]);
        }
        if max_steps.is_some_and(|m| steps >= m) {
            break 'epochs;
        }
    }
    if let Some(path) = s.save {
        pyrite::core::param_store::lock(&get_param_store()).save(path)?;
        println!("  {}: params saved to {}", s.name, path.display());
    }
    // The same networks are drawn for predictions whether the params were trained or loaded.
    set_rng_seed(s.seed);
    // Cannot fail, here and below: `--device` checked `device`, and the CPU always works.
    let test_x = test.images().to_device(device);
    let probs = predict(&net, s.init_scale, &test_x, samples)?;
    let (conf, pred) = probs.max_dim(-1, false);
    let labels = test.labels().to_device(device);
    let correct_t = pred.eq_tensor(&labels);
    let accuracy = correct_t.to_kind(Kind::Double).mean(Kind::Double).double_value(&[]);
    let noise = Tensor::rand([test.len() as i64, train.width()], (Kind::Float, device));
    let probs_noise = predict(&net, s.init_scale, &noise, samples)?;
    Ok(Fit {
        accuracy,
        entropy_test: values(&entropy(&probs)),
        entropy_noise: values(&entropy(&probs_noise)),
        confidence: values(&conf),
        correct: values(&correct_t).into_iter().map(|v| v > 0.5).collect(),
        predicted: Vec::<i64>::try_from(pred.to_device(Device::Cpu)).unwrap_or_default(),
        probs: probs.to_device(Device::Cpu),
        epoch_loss,
        step_loss,
        steps_per_epoch: loader.num_batches() as usize,
        epoch_seconds,
        test_images: test.images().shallow_clone(),
        test_labels: Vec::<i64>::try_from(test.labels()).unwrap_or_default(),
    })
}

fn mean(v: &[f64]) -> f64 {
    v.iter().sum::<f64>() / v.len().max(1) as f64
}

fn median(v: &[f64]) -> f64 {
    let mut s = v.to_vec();
    s.sort_by(f64::total_cmp);
    if s.is_empty() {
        f64::NAN
    } else {
        s[s.len() / 2]
    }
}

fn main() -> std::process::ExitCode {
    pyrite_examples::run(example)
}

fn example() -> Result<()> {
    let args: Args = parse_args()?;
    args.check()?;
    pyrite::compile::set_enabled_by_default(!args.eager);
    let flags = &args.common;
    // numbers in the model (`Normal::new(0.0, 1.0)`) become tensors on this device
    let device = args.device.select()?;
    flags.prepare()?;
    flags.set_threads(std::thread::available_parallelism().map(|n| n.get() as i32).unwrap_or(1));
    set_rng_seed(flags.seed);
    println!("device {device:?}, {} threads", tch::get_num_threads());

    let (mnist_train, mnist_test, source) = match &args.mnist_idx {
        Some(dir) => {
            let (tr, te) = pyrite::data::mnist_idx(dir).map_err(data_error("MNIST IDX"))?;
            (tr, te, format!("MNIST IDX files in {}", dir.display()))
        }
        None => {
            let (tr, te) = pyrite::data::mnist_subset().map_err(data_error("mnist subset"))?.split_per_class(400).map_err(data_error("mnist subset"))?;
            (tr, te, "embedded MNIST subset".to_string())
        }
    };
    println!("BNN 784-1024-10 on the {source}: {} train / {} test images, batch 128, {} epochs", mnist_train.len(), mnist_test.len(), args.epochs);
    let (load, save) = (args.load.as_deref(), args.save.as_deref());
    let mnist_setup = Setup {
        name: "mnist",
        hidden: 1024,
        epochs: args.epochs,
        lr: 0.01,
        init_scale: 0.005,
        batch: 128,
        load,
        save,
        seed: flags.seed,
        compiled: !args.eager,
    };
    let mnist = with_param_store(&new_param_store(), || fit(&mnist_setup, &mnist_train, &mnist_test, device, flags.steps, args.samples))?;
    if let Some(path) = load {
        return report_reloaded(flags, &mnist, path);
    }

    let (digits_train, digits_test) = pyrite::data::digits().map_err(data_error("digits"))?.shuffled_split(0.8, flags.seed).map_err(data_error("digits"))?;
    println!("BNN 64-100-10 on the 8x8 digits: {} train / {} test images, batch 128, {} epochs", digits_train.len(), digits_test.len(), args.digits_epochs);
    let digits_setup = Setup {
        name: "digits",
        hidden: 100,
        epochs: args.digits_epochs,
        lr: 0.01,
        init_scale: 0.005,
        batch: 128,
        load: None,
        save: None,
        seed: flags.seed,
        compiled: !args.eager,
    };
    let digits = with_param_store(&new_param_store(), || fit(&digits_setup, &digits_train, &digits_test, device, flags.steps, args.samples))?;

    let (bins_mnist, ece_mnist) = images::reliability(&mnist.confidence, &mnist.correct, 10);
    let (bins_digits, ece_digits) = images::reliability(&digits.confidence, &digits.correct, 10);
    let (h_test, h_noise) = (mean(&mnist.entropy_test), mean(&mnist.entropy_noise));
    println!("\n{:<8} {:>9} {:>13} {:>14} {:>7} {:>12}", "", "accuracy", "entropy test", "entropy noise", "ECE", "s/epoch");
    for (name, f, ece) in [("mnist", &mnist, ece_mnist), ("digits", &digits, ece_digits)] {
        println!(
            "{name:<8} {:>9.4} {:>13.4} {:>14.4} {:>7.4} {:>12.3}",
            f.accuracy,
            mean(&f.entropy_test),
            mean(&f.entropy_noise),
            ece,
            median(&f.epoch_seconds)
        );
    }
    println!("(Pyro reference, pyro_bnn.py: test accuracy 0.937 on the subset after 5 epochs, 10 sampled networks)");

    let summary = serde_json::json!({
        "accuracy_mnist": mnist.accuracy,
        "accuracy_digits": digits.accuracy,
        "entropy_test": h_test,
        "entropy_noise": h_noise,
        "digits": {"entropy_test": mean(&digits.entropy_test), "entropy_noise": mean(&digits.entropy_noise), "ece": ece_digits, "epoch_loss": digits.epoch_loss, "seconds_per_epoch": median(&digits.epoch_seconds)},
        "mnist": {"ece": ece_mnist, "epoch_loss": mnist.epoch_loss, "seconds_per_epoch": median(&mnist.epoch_seconds), "data": source, "train": mnist_train.len(), "test": mnist_test.len()},
        "predictive_samples": args.samples,
        "device": format!("{device:?}"),
    });
    flags.write_summary(&summary)?;
    println!("\nwrote {}", flags.out.join("summary.json").display());
    for path in write_plots(flags, &mnist, &digits, &bins_mnist, &bins_digits, ece_mnist, ece_digits)? {
        println!("wrote {}", path.display());
    }
    report_checks(
        flags,
        &[
            (format!("accuracy_mnist {:.4} >= 0.90 {}", mnist.accuracy, ok(mnist.accuracy >= 0.90)), mnist.accuracy >= 0.90),
            (format!("accuracy_digits {:.4} >= 0.95 {}", digits.accuracy, ok(digits.accuracy >= 0.95)), digits.accuracy >= 0.95),
            (format!("entropy_noise {h_noise:.4} > entropy_test {h_test:.4} {}", ok(h_noise > h_test)), h_noise > h_test),
        ],
    )
}

/// `--load`: the reloaded MNIST network's figures, in `summary.json` and checked by `--check`.
fn report_reloaded(flags: &Flags, mnist: &Fit, path: &Path) -> Result<()> {
    let (h_test, h_noise) = (mean(&mnist.entropy_test), mean(&mnist.entropy_noise));
    println!("\nmnist (params from {}): accuracy {:.4}, entropy test {h_test:.4}, entropy noise {h_noise:.4}", path.display(), mnist.accuracy);
    let summary = serde_json::json!({
        "accuracy_mnist": mnist.accuracy,
        "entropy_test": h_test,
        "entropy_noise": h_noise,
        "loaded_from": path.display().to_string(),
    });
    flags.write_summary(&summary)?;
    println!("wrote {}", flags.out.join("summary.json").display());
    report_checks(
        flags,
        &[
            (format!("accuracy_mnist {:.4} >= 0.90 {}", mnist.accuracy, ok(mnist.accuracy >= 0.90)), mnist.accuracy >= 0.90),
            (format!("entropy_noise {h_noise:.4} > entropy_test {h_test:.4} {}", ok(h_noise > h_test)), h_noise > h_test),
        ],
    )
}

fn ok(b: bool) -> &'static str {
    if b {
        "ok"
    } else {
        "MISSED"
    }
}

fn reliability_panel(title: &str, bins: &[images::Bin], ece: f64) -> Panel {
    let bars = bins.iter().filter(|b| b.count > 0).map(|b| (b.lo, b.hi, b.accuracy)).collect();
    let conf = bins.iter().filter(|b| b.count > 0).map(|b| (b.confidence, b.accuracy)).collect();
    let mut bar_layer = Layer::histogram(&[], 1, PALETTE[0]).alpha(0.45).label("accuracy in bin");
    bar_layer.shape = plots::Shape::Bars(bars);
    Panel::new(format!("{title} (ECE {ece:.3})"), "confidence (top-class probability)", "accuracy")
        .x_range(0.0, 1.0)
        .y_range(0.0, 1.02)
        .legend(plots::Legend::UpperLeft)
        .with(bar_layer)
        .with(Layer::line(vec![(0.0, 0.0), (1.0, 1.0)], RGBColor(120, 120, 120)).size(1).label("perfect calibration"))
        .with(Layer::points(conf, PALETTE[3]).size(4).label("mean confidence vs accuracy"))
}

fn write_plots(
    flags: &Flags,
    mnist: &Fit,
    digits: &Fit,
    bins_mnist: &[images::Bin],
    bins_digits: &[images::Bin],
    ece_mnist: f64,
    ece_digits: f64,
) -> Result<Vec<PathBuf>> {
    let mut out = vec![];
    out.push(plots::save(
        flags.out.join("bnn_reliability.png"),
        (1300, 560),
        (1, 2),
        &[reliability_panel("MNIST reliability", bins_mnist, ece_mnist), reliability_panel("8x8 digits reliability", bins_digits, ece_digits)],
    )?);

    let hist = |title: &str, f: &Fit| {
        let top = f.entropy_test.iter().chain(&f.entropy_noise).cloned().fold(0.0, f64::max).max(1e-3);
        let bins = |v: &[f64]| -> Vec<(f64, f64, f64)> {
            let k = 30;
            let w = top / k as f64;
            let mut c = vec![0.0; k];
            for &x in v {
                c[((x / w) as usize).min(k - 1)] += 1.0 / v.len() as f64;
            }
            c.iter().enumerate().map(|(i, &h)| (i as f64 * w, (i + 1) as f64 * w, h)).collect()
        };
        let mut a = Layer::histogram(&[], 1, PALETTE[0]).alpha(0.5).label(format!("test images (mean {:.3})", mean(&f.entropy_test)));
        a.shape = plots::Shape::Bars(bins(&f.entropy_test));
        let mut b = Layer::histogram(&[], 1, PALETTE[1]).alpha(0.5).label(format!("uniform noise (mean {:.3})", mean(&f.entropy_noise)));
        b.shape = plots::Shape::Bars(bins(&f.entropy_noise));
        Panel::new(title, "predictive entropy (nats; ln 10 = 2.303 is uniform)", "fraction of images").with(a).with(b).legend(plots::Legend::UpperMiddle)
    };
    out.push(plots::save(
        flags.out.join("bnn_entropy.png"),
        (1300, 520),
        (1, 2),
        &[hist("MNIST: predictive entropy", mnist), hist("8x8 digits: predictive entropy", digits)],
    )?);

    // The 24 most uncertain MNIST test images.
    let mut order: Vec<usize> = (0..mnist.entropy_test.len()).collect();
    order.sort_by(|&a, &b| mnist.entropy_test[b].total_cmp(&mnist.entropy_test[a]));
    order.truncate(24);
    let idx = Tensor::from_slice(&order.iter().map(|&i| i as i64).collect::<Vec<_>>());
    let imgs = mnist.test_images.index_select(0, &idx);
    let side = (mnist.test_images.size()[1] as f64).sqrt() as i64;
    let captions: Vec<String> = order
        .iter()
        .map(|&i| {
            let p = mnist.probs.get(i as i64);
            let pred = mnist.predicted[i];
            format!("y={} ŷ={} p={:.2} H={:.2}", mnist.test_labels[i], pred, p.double_value(&[pred]), mnist.entropy_test[i])
        })
        .collect();
    out.push(images::image_grid(
        flags.out.join("bnn_uncertain.png"),
        "The most uncertain MNIST test images (label y, prediction ŷ, its probability p, entropy H)",
        &imgs,
        side,
        8,
        5,
        &captions,
    )?);

    let curve = |f: &Fit| f.step_loss.iter().enumerate().map(|(i, &l)| ((i + 1) as f64 / f.steps_per_epoch as f64, l)).collect::<Vec<_>>();
    out.push(plots::save(
        flags.out.join("bnn_loss.png"),
        (1300, 480),
        (1, 2),
        &[
            Panel::new("MNIST: minibatch loss (-ELBO estimate) per training image", "epoch", "-ELBO / N")
                .log_y(true)
                .with(Layer::line(curve(mnist), PALETTE[0]).size(1)),
            Panel::new("8x8 digits: minibatch loss (-ELBO estimate) per training image", "epoch", "-ELBO / N")
                .log_y(true)
                .with(Layer::line(curve(digits), PALETTE[1]).size(1)),
        ],
    )?);
    Ok(out)
}
