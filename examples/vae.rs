//! The variational autoencoder of the second seed (Pyro's VAE tutorial): a 50-dimensional latent
//! code `z ~ Normal(0, I)` per image, a decoder network (z -> 400 softplus units -> 784 Bernoulli
//! logits) in the model and an encoder network (784 -> 400 softplus units -> loc and scale of z)
//! in the amortised guide, both tch `nn` modules registered with `module`, trained by SVI with
//! `TraceElbo` on minibatches of the MNIST subset (per digit 400 train / 100 test, pixels
//! binarised at 0.5), the data plate subsampled so that each step's ELBO is scaled to the whole
//! training set.
//!
//! Reports the test ELBO per image after every epoch (it should rise), the correlation between
//! reconstructions and inputs, and writes `vae_elbo.png`, `vae_reconstructions.png` (test images
//! and their reconstructions), `vae_samples.png` (images decoded from prior draws) and
//! `summary.json`.
//!
//! `cargo run --release --example vae -- --out out/vae [--device cpu|cuda] [--epochs 50]`
//!
//! `--steps N` caps the SVI steps (for smoke runs); `--check` fails unless the test ELBO improved
//! by at least 20 nats per image from the first epoch to the last, ended above -130 nats per
//! image, and the reconstructions correlate with the inputs (r >= 0.8).

use std::path::PathBuf;
use std::time::Instant;

use clap::Parser;
use pyrite::data::DataLoader;
use pyrite::prelude::*;
use pyrite::tch::nn::{self, Module};
use pyrite::tch::{self};
use pyrite_examples::plots::{self, Layer, Panel, PALETTE};
use pyrite_examples::{check_dir, check_positive, data_error, images, parse_args, report_checks, DeviceFlag, Flags};

/// The example contract's flags and this example's own.
#[derive(Parser, Debug)]
struct Args {
    #[command(flatten)]
    common: Flags,
    #[command(flatten)]
    device: DeviceFlag,
    /// Training epochs.
    #[arg(long, default_value_t = 50)]
    epochs: usize,
    /// Read the full MNIST from the four IDX files in this directory instead of the subset.
    #[arg(long)]
    mnist_idx: Option<PathBuf>,
}

impl Args {
    /// Checks this example's flags and the common ones: positive `--epochs`, an existing
    /// `--mnist-idx` directory.
    fn check(&self) -> Result<()> {
        self.common.check()?;
        check_positive("--epochs", self.epochs)?;
        if let Some(dir) = &self.mnist_idx {
            check_dir("--mnist-idx", dir)?;
        }
        Ok(())
    }
}

const PIXELS: i64 = 784;
const HIDDEN: i64 = 400;
const Z_DIM: i64 = 50;

/// Encoder q(z | x) and decoder p(x | z), each in its own `VarStore`.
struct Vae {
    enc_vs: nn::VarStore,
    dec_vs: nn::VarStore,
    enc_fc1: nn::Linear,
    enc_fc21: nn::Linear,
    enc_fc22: nn::Linear,
    dec_fc1: nn::Linear,
    dec_fc21: nn::Linear,
}

impl Vae {
    fn new(device: Device) -> Vae {
        let (enc_vs, dec_vs) = (nn::VarStore::new(device), nn::VarStore::new(device));
        let (e, d) = (enc_vs.root(), dec_vs.root());
        let c = Default::default;
        Vae {
            enc_fc1: nn::linear(&e / "fc1", PIXELS, HIDDEN, c()),
            enc_fc21: nn::linear(&e / "fc21", HIDDEN, Z_DIM, c()),
            enc_fc22: nn::linear(&e / "fc22", HIDDEN, Z_DIM, c()),
            dec_fc1: nn::linear(&d / "fc1", Z_DIM, HIDDEN, c()),
            dec_fc21: nn::linear(&d / "fc21", HIDDEN, PIXELS, c()),
            enc_vs,
            dec_vs,
        }
    }
    /// The loc and scale of q(z | x).
    fn encode(&self, x: &Tensor) -> (Tensor, Tensor) {
        let h = self.enc_fc1.forward(x).softplus();
        (self.enc_fc21.forward(&h), self.enc_fc22.forward(&h).exp())
    }
    /// The Bernoulli logits of the 784 pixels given z.
    fn decode_logits(&self, z: &Tensor) -> Tensor {
        self.dec_fc21.forward(&self.dec_fc1.forward(z).softplus())
    }
}

/// A minibatch (or the whole test set): binarised images, their row indices in the full data,
/// the full data size.
struct Data {
    x: Tensor,
    indices: Option<Tensor>,
    size: i64,
}

fn data_plate(d: &Data) -> Plate {
    let p = Plate::new("data", d.size);
    match &d.indices {
        Some(i) => p.subsample(i),
        None => p,
    }
}

// ANCHOR: model
/// p(x, z) = Normal(z; 0, I) Bernoulli(x; sigmoid(decoder(z))), one z per image.
fn model(vae: &Vae, d: &Data) -> Result<Tensor> {
    module("decoder", &vae.dec_vs)?;
    data_plate(d).run(|_| {
        let opts = (Kind::Float, d.x.device());
        let b = d.x.size()[0];
        let z = sample("latent", Normal::new(Tensor::zeros([b, Z_DIM], opts), Tensor::ones([b, Z_DIM], opts))?.to_event(1)?)?;
        let logits = vae.decode_logits(&z);
        let _ = observe("obs", Bernoulli::from_logits(&logits)?.to_event(1)?, &d.x)?;
        Ok(logits)
    })
}
// ANCHOR_END: model

// ANCHOR: guide
/// q(z | x) = Normal(z; encoder(x)), amortised over the images.
fn guide(vae: &Vae, d: &Data) -> Result<()> {
    module("encoder", &vae.enc_vs)?;
    data_plate(d).run(|_| {
        let (loc, scale) = vae.encode(&d.x);
        sample("latent", Normal::new(loc, scale)?.to_event(1)?).map(drop)
    })
}
// ANCHOR_END: guide

/// Pearson correlation of two tensors' elements.
fn correlation(a: &Tensor, b: &Tensor) -> f64 {
    let (a, b) = (a.to_kind(Kind::Double).flatten(0, -1), b.to_kind(Kind::Double).flatten(0, -1));
    let (a, b) = (&a - a.mean(Kind::Double), &b - b.mean(Kind::Double));
    ((&a * &b).sum(Kind::Double) / ((&a * &a).sum(Kind::Double) * (&b * &b).sum(Kind::Double)).sqrt()).double_value(&[])
}

fn main() -> std::process::ExitCode {
    pyrite_examples::run(example)
}

fn example() -> Result<()> {
    let args: Args = parse_args()?;
    args.check()?;
    let flags = &args.common;
    // numbers in the model (`Normal::new(0.0, 1.0)`) become tensors on this device
    let device = args.device.select()?;
    flags.prepare()?;
    flags.set_threads(std::thread::available_parallelism().map(|n| n.get() as i32).unwrap_or(1));
    set_rng_seed(flags.seed);
    let (train, test) = match &args.mnist_idx {
        Some(dir) => pyrite::data::mnist_idx(dir).map_err(data_error("MNIST"))?,
        None => pyrite::data::mnist_subset().map_err(data_error("MNIST"))?.split_per_class(400).map_err(data_error("MNIST"))?,
    };
    if train.width() != PIXELS || test.width() != PIXELS {
        return Err(PyriteError::InvalidInput {
            what: "images".into(),
            problem: format!("widths {} / {}, expected 28x28 = {PIXELS}", train.width(), test.width()),
        });
    }
    if train.is_empty() || test.is_empty() {
        return Err(PyriteError::InvalidInput {
            what: "images".into(),
            problem: format!("{} training and {} test images; both sets must be non-empty", train.len(), test.len()),
        });
    }
    // Cannot fail, here and below: `--device` checked `device`, and the CPU always works.
    let binarise = |t: &Tensor| t.gt(0.5).to_kind(Kind::Float).to_device(device);
    let (train_x, test_x) = (binarise(train.images()), binarise(test.images()));
    let n = train.len() as i64;
    println!("VAE (z {Z_DIM}, hidden {HIDDEN}) on {} train / {} test MNIST images, batch 128, Adam lr 1e-3, device {device:?}", train.len(), test.len());

    let vae = Vae::new(device);
    let m = |d: &Data| model(&vae, d);
    let g = |d: &Data| guide(&vae, d);
    let mut svi = Svi::new(m, g, Optimizer::adam(1e-3), TraceElbo::new());
    svi.progress = false;
    // The minibatch's images and row indices change at every step: inputs of the compiled step.
    svi.compiled_data(|d: &Data| [Some(&d.x), d.indices.as_ref()].into_iter().flatten().map(Tensor::shallow_clone).collect());
    let loader = DataLoader::new(vec![train_x.shallow_clone()], 128, true, device).map_err(data_error("MNIST training set"))?;
    let test_data = Data { x: test_x.shallow_clone(), indices: None, size: test.len() as i64 };
    let test_elbo_now = |svi: &Svi<Data>| -> Result<f64> { Ok(-svi.evaluate_loss(&test_data)? / test.len() as f64) };

    let mut test_elbo = vec![test_elbo_now(&svi)?];
    let (mut train_elbo, mut seconds) = (vec![], vec![]);
    println!("  epoch  0: test ELBO {:9.2} nats/image", test_elbo[0]);
    let mut steps = 0usize;
    for epoch in 0..args.epochs {
        let bar = images::epoch_bar(format!("epoch {}/{}", epoch + 1, args.epochs), loader.num_batches() as u64);
        let t = Instant::now();
        let (mut total, mut batches) = (0.0, 0);
        for batch in loader.epoch() {
            let Some(x) = batch.tensors.into_iter().next() else {
                return Err(PyriteError::Model("a minibatch lacks its images".into()));
            };
            let loss = svi.step(&Data { x, indices: Some(batch.indices), size: n })?;
            total += loss;
            batches += 1;
            steps += 1;
            bar.set_message(format!("ELBO/image {:.1}", -loss / n as f64));
            bar.inc(1);
            if flags.steps.is_some_and(|s| steps >= s) {
                break;
            }
        }
        bar.finish_and_clear();
        seconds.push(t.elapsed().as_secs_f64());
        train_elbo.push(-total / batches as f64 / n as f64);
        test_elbo.push(test_elbo_now(&svi)?);
        println!("  epoch {:2}: test ELBO {:9.2} nats/image (training {:9.2}; {:.2} s)", epoch + 1, test_elbo[epoch + 1], train_elbo[epoch], seconds[epoch]);
        if flags.steps.is_some_and(|s| steps >= s) {
            break;
        }
    }

    // Reconstructions (decoded posterior means) and samples from the prior.
    let (recon, samples) = tch::no_grad(|| {
        let (loc, _) = vae.encode(&test_x);
        let recon = vae.decode_logits(&loc).sigmoid();
        let z = Tensor::randn([32, Z_DIM], (Kind::Float, device));
        (recon, vae.decode_logits(&z).sigmoid())
    });
    let r = correlation(&recon, &test_x);
    let (first, last) = (test_elbo[0], test_elbo.last().copied().unwrap_or(test_elbo[0]));
    let mut sorted = seconds.clone();
    sorted.sort_by(f64::total_cmp);
    let median_s = sorted.get(sorted.len() / 2).copied().unwrap_or(f64::NAN);
    println!("\ntest ELBO {first:.2} -> {last:.2} nats/image; reconstruction-input correlation {r:.3}; {median_s:.2} s/epoch");

    flags.write_summary(&serde_json::json!({
        "test_elbo": test_elbo,
        "train_elbo": train_elbo,
        "final_test_elbo": last,
        "reconstruction_correlation": r,
        "seconds_per_epoch": median_s,
        "z_dim": Z_DIM,
        "hidden": HIDDEN,
        "device": format!("{device:?}"),
    }))?;
    println!("wrote {}", flags.out.join("summary.json").display());

    let pick: Vec<i64> = (0..32).map(|i| (i * test.len() as i64 / 32 + i % 7) % test.len() as i64).collect();
    let idx = Tensor::from_slice(&pick).to_device(device);
    let (orig, rec) = (test_x.index_select(0, &idx), recon.index_select(0, &idx));
    // Rows of 8 inputs, each followed by a row of their reconstructions.
    let rows: Vec<Tensor> = (0..4).flat_map(|k| [orig.narrow(0, 8 * k, 8), rec.narrow(0, 8 * k, 8)]).collect();
    let grid = Tensor::cat(&rows, 0);
    let captions: Vec<String> = (0..64).map(|i| if (i / 8) % 2 == 0 { "input".to_string() } else { "reconstruction".to_string() }).collect();
    let ep: Vec<(f64, f64)> = test_elbo.iter().enumerate().map(|(i, &e)| (i as f64, e)).collect();
    let tr: Vec<(f64, f64)> = train_elbo.iter().enumerate().map(|(i, &e)| (i as f64 + 1.0, e)).collect();
    for path in [
        images::image_grid(
            flags.out.join("vae_reconstructions.png"),
            "Test images (binarised) and their reconstructions (decoded posterior mean)",
            &grid,
            28,
            8,
            4,
            &captions,
        )?,
        images::image_grid(flags.out.join("vae_samples.png"), "Images decoded from z ~ Normal(0, I) (pixel probabilities)", &samples, 28, 8, 4, &[])?,
        plots::save(
            flags.out.join("vae_elbo.png"),
            (900, 520),
            (1, 1),
            &[Panel::new(format!("VAE: ELBO per image (test ELBO at initialisation: {first:.0})"), "epoch", "ELBO (nats per image)")
                .legend(plots::Legend::LowerRight)
                .y_range(
                    test_elbo.get(1).copied().unwrap_or(first).min(train_elbo.first().copied().unwrap_or(first)).max(-300.0) - 10.0,
                    last.max(*train_elbo.last().unwrap_or(&last)) + 10.0,
                )
                .with(Layer::line(ep.clone(), PALETTE[0]).label("test (whole test set)"))
                .with(Layer::points(ep, PALETTE[0]))
                .with(Layer::line(tr, PALETTE[1]).label("training (mean over the epoch's minibatches)"))],
        )?,
    ] {
        println!("wrote {}", path.display());
    }

    let improved = last - test_elbo.get(1).copied().unwrap_or(first);
    report_checks(
        flags,
        &[
            (format!("test ELBO improved by {improved:.1} >= 20 nats/image from epoch 1"), improved >= 20.0),
            (format!("final test ELBO {last:.2} > -130 nats/image"), last > -130.0),
            (format!("reconstruction correlation {r:.3} >= 0.8"), r >= 0.8),
        ],
    )
}
