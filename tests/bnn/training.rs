//! Short training runs: a small BNN on the 8x8 digits, a small VAE on 500 MNIST images.

use std::time::Instant;

use pyrite::data::DataLoader;
use pyrite::prelude::*;
use tch::nn::{self, Module};

use super::common::*;

/// A 64-32-10 BNN, 30 epochs of minibatches of 128 on 80% of the digits, predicts the other 20%
/// with at least 90% accuracy from 20 sampled networks, and is more uncertain about noise.
#[test]
fn small_bnn_learns_the_digits() {
    for device in devices("small_bnn_learns_the_digits") {
        seeded(0, || {
            let t = Instant::now();
            let (train, test) = pyrite::data::digits().unwrap().shuffled_split(0.8, 0).unwrap();
            let net = Net::new(64, 32, 10, device);
            let (init_scale, n) = (0.005, train.len() as i64);
            let m = |d: &Data| bnn_model(&net, d);
            let g = |_: &Data| bnn_guide(&net, init_scale);
            let mut svi = Svi::new(m, g, Optimizer::adam(0.03), TraceElbo::new());
            svi.progress = false;
            let loader = DataLoader::new(vec![train.images().shallow_clone(), train.labels().shallow_clone()], 128, true, device).unwrap();
            let mut epoch_loss = vec![];
            for _ in 0..30 {
                let mut total = 0.0;
                for b in loader.epoch() {
                    let mut it = b.tensors.into_iter();
                    let d = Data { x: it.next().unwrap(), y: it.next(), indices: Some(b.indices), size: n };
                    total += svi.step(&d).unwrap();
                }
                epoch_loss.push(total / loader.num_batches() as f64);
            }
            assert!(epoch_loss[29] < 0.5 * epoch_loss[0], "loss {} -> {}", epoch_loss[0], epoch_loss[29]);
            let probs = predict(&net, init_scale, &test.images().to_device(device), 20).unwrap();
            assert_eq!(probs.size(), vec![test.len() as i64, 10]);
            let acc = probs.argmax(-1, false).eq_tensor(&test.labels().to_device(device)).to_kind(Kind::Double).mean(Kind::Double).double_value(&[]);
            let entropy = |p: &Tensor| (-(p * p.clamp_min(1e-12).log()).sum_dim_intlist(-1, false, Kind::Float)).mean(Kind::Double).double_value(&[]);
            let noise = Tensor::rand([200, 64], (Kind::Float, device));
            let (h_test, h_noise) = (entropy(&probs), entropy(&predict(&net, init_scale, &noise, 20).unwrap()));
            eprintln!(
                "small_bnn_learns_the_digits on {device:?}: accuracy {acc:.4}, entropy test {h_test:.3} / noise {h_noise:.3}, {:.1} s",
                t.elapsed().as_secs_f64()
            );
            assert!(acc >= 0.9, "digits accuracy {acc} on {device:?}");
            assert!(h_noise > h_test, "noise entropy {h_noise} should exceed test entropy {h_test}");
        });
    }
}

/// The seed's VAE at a small size: z 10, 100 hidden units.
struct Vae {
    enc: nn::VarStore,
    dec: nn::VarStore,
    e1: nn::Linear,
    e_loc: nn::Linear,
    e_scale: nn::Linear,
    d1: nn::Linear,
    d_out: nn::Linear,
}

const Z: i64 = 10;

impl Vae {
    fn new(device: Device) -> Vae {
        let (enc, dec) = (nn::VarStore::new(device), nn::VarStore::new(device));
        let (e, d) = (enc.root(), dec.root());
        Vae {
            e1: nn::linear(&e / "fc1", 784, 100, Default::default()),
            e_loc: nn::linear(&e / "fc21", 100, Z, Default::default()),
            e_scale: nn::linear(&e / "fc22", 100, Z, Default::default()),
            d1: nn::linear(&d / "fc1", Z, 100, Default::default()),
            d_out: nn::linear(&d / "fc21", 100, 784, Default::default()),
            enc,
            dec,
        }
    }
    fn encode(&self, x: &Tensor) -> (Tensor, Tensor) {
        let h = self.e1.forward(x).softplus();
        (self.e_loc.forward(&h), self.e_scale.forward(&h).exp())
    }
    fn decode(&self, z: &Tensor) -> Tensor {
        self.d_out.forward(&self.d1.forward(z).softplus())
    }
}

struct Images {
    x: Tensor,
    indices: Option<Tensor>,
    size: i64,
}

fn data_plate(d: &Images) -> Plate {
    match &d.indices {
        Some(i) => Plate::new("data", d.size).subsample(i),
        None => Plate::new("data", d.size),
    }
}

fn vae_model(v: &Vae, d: &Images) -> Result<()> {
    module("decoder", &v.dec)?;
    data_plate(d).run(|_| {
        let opts = (Kind::Float, d.x.device());
        let b = d.x.size()[0];
        let z = sample("latent", Normal::new(Tensor::zeros([b, Z], opts), Tensor::ones([b, Z], opts))?.to_event(1)?)?;
        observe("obs", Bernoulli::from_logits(v.decode(&z))?.to_event(1)?, &d.x).map(drop)
    })
}

fn vae_guide(v: &Vae, d: &Images) -> Result<()> {
    module("encoder", &v.enc)?;
    data_plate(d).run(|_| {
        let (loc, scale) = v.encode(&d.x);
        sample("latent", Normal::new(loc, scale)?.to_event(1)?).map(drop)
    })
}

/// 400 training and 100 test images, 160 steps: the test ELBO improves a lot, the encoder and
/// decoder (registered with `module`) are what changed, and reconstructions correlate with the
/// inputs far better than the mean image does.
#[test]
fn small_vae_improves_its_test_elbo() {
    for device in devices("small_vae_improves_its_test_elbo") {
        seeded(4, || {
            let t = Instant::now();
            let (five_hundred, _) = pyrite::data::mnist_subset().unwrap().shuffled_split(0.1, 4).unwrap();
            let x = five_hundred.images().gt(0.5).to_kind(Kind::Float).to_device(device);
            assert_eq!(x.size(), vec![500, 784]);
            let (train, test) = (x.narrow(0, 0, 400), x.narrow(0, 400, 100));
            let v = Vae::new(device);
            let m = |d: &Images| vae_model(&v, d);
            let g = |d: &Images| vae_guide(&v, d);
            let mut svi = Svi::new(m, g, Optimizer::adam(3e-3), TraceElbo::new());
            svi.progress = false;
            let test_data = Images { x: test.shallow_clone(), indices: None, size: 100 };
            // Average a few single-draw estimates for a steadier test ELBO.
            let test_elbo = |svi: &Svi<Images>| (0..4).map(|_| -svi.evaluate_loss(&test_data).unwrap() / 100.0).sum::<f64>() / 4.0;
            let before = test_elbo(&svi);
            let dec_w0 = v.dec.variables()["fc21.weight"].copy();
            let loader = DataLoader::new(vec![train.shallow_clone()], 50, true, device).unwrap();
            let mut after_each = vec![];
            for _ in 0..20 {
                for b in loader.epoch() {
                    svi.step(&Images { x: b.tensors[0].shallow_clone(), indices: Some(b.indices), size: 400 }).unwrap();
                }
                after_each.push(test_elbo(&svi));
            }
            let after = *after_each.last().unwrap();
            let names = pyrite::core::param_store::lock(&get_param_store()).names();
            assert!(names.iter().any(|n| n == "decoder$$$fc21.weight") && names.iter().any(|n| n == "encoder$$$fc1.weight"), "{names:?}");
            assert!(v.dec.variables()["fc21.weight"].not_equal_tensor(&dec_w0).any().int64_value(&[]) == 1, "the decoder's own weights were trained");
            let (recon, corr_mean) = tch::no_grad(|| {
                let (loc, _) = v.encode(&test);
                let recon = v.decode(&loc).sigmoid();
                let mean_img = train.mean_dim(0, true, Kind::Float).expand_as(&test);
                (recon, mean_img)
            });
            let corr = |a: &Tensor, b: &Tensor| {
                let (a, b) = (a.to_kind(Kind::Double).flatten(0, -1), b.to_kind(Kind::Double).flatten(0, -1));
                let (a, b) = (&a - a.mean(Kind::Double), &b - b.mean(Kind::Double));
                ((&a * &b).sum(Kind::Double) / ((&a * &a).sum(Kind::Double) * (&b * &b).sum(Kind::Double)).sqrt()).double_value(&[])
            };
            let (r, r_mean) = (corr(&recon, &test), corr(&corr_mean, &test));
            eprintln!(
                "small_vae_improves_its_test_elbo on {device:?}: test ELBO {before:.1} -> {:.1} -> {after:.1} nats/image, reconstruction r {r:.3} (mean image {r_mean:.3}), {:.1} s",
                after_each[0],
                t.elapsed().as_secs_f64()
            );
            assert!(after > before + 200.0, "test ELBO {before} -> {after}");
            assert!(after > after_each[1] + 5.0, "test ELBO keeps improving after the first epochs: {after_each:?}");
            assert!(r > 0.6 && r > r_mean + 0.1, "reconstruction correlation {r} (mean image {r_mean})");
        });
    }
}
