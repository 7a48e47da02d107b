//! The ELBO of a minibatch in a subsampled data plate is an unbiased estimate of the full-data
//! ELBO: the plate scales each data term by `N / batch`, so over one epoch of equal batches the
//! mean of the minibatch losses equals the full-data loss exactly when the guide's draws are the
//! same for every batch (a Delta guide, or a Normal guide under one `seed`); so do the gradients.

use pyrite::data::DataLoader;
use pyrite::infer::elbo::Elbo;
use pyrite::prelude::*;

use super::common::*;

const N: i64 = 120;
const BATCH: i64 = 20;

/// Regression data `y = 2 x - 1 + noise`, on `device`.
fn regression_data(device: Device) -> (Tensor, Tensor) {
    let x = Tensor::linspace(-2.0, 2.0, N, (Kind::Float, Device::Cpu));
    let noise = (Tensor::arange(N, (Kind::Float, Device::Cpu)) * 1.7).sin() * 0.3;
    let y = &x * 2.0 - 1.0 + noise;
    (x.to_device(device), y.to_device(device))
}

struct Batch {
    x: Tensor,
    y: Tensor,
    indices: Option<Tensor>,
}

/// `w, b ~ Normal(0, 1)` globally; `y_i ~ Normal(w x_i + b, 0.5)` in the data plate of size N,
/// subsampled to the batch's indices.
fn model(d: &Batch) -> Result<()> {
    let device = d.x.device();
    let w = sample("w", Normal::new(Tensor::zeros([], (Kind::Float, device)), 1.0)?)?;
    let b = sample("b", Normal::new(Tensor::zeros([], (Kind::Float, device)), 1.0)?)?;
    let mut p = Plate::new("data", N);
    if let Some(i) = &d.indices {
        p = p.subsample(i);
    }
    p.run(|_| observe("y", Normal::new(&w * &d.x + &b, 0.5)?, &d.y).map(drop))
}

/// Point masses at learnable `w` and `b`: no randomness at all.
fn delta_guide(d: &Batch) -> Result<()> {
    let device = d.x.device();
    let w = param("w_loc", Tensor::from(0.7f32).to_device(device), Constraint::Real)?;
    let b = param("b_loc", Tensor::from(-0.2f32).to_device(device), Constraint::Real)?;
    sample("w", Delta::new(w, 0)?)?;
    sample("b", Delta::new(b, 0)?)?;
    Ok(())
}

/// A mean-field Normal guide: random draws, fixed by `seed`.
fn normal_guide(d: &Batch) -> Result<()> {
    let device = d.x.device();
    let opts = |v: f32| Tensor::from(v).to_device(device);
    let (wl, ws) = (param("w_loc", opts(0.7), Constraint::Real)?, param("w_scale", opts(0.3), Constraint::Positive)?);
    let (bl, bs) = (param("b_loc", opts(-0.2), Constraint::Real)?, param("b_scale", opts(0.4), Constraint::Positive)?);
    sample("w", Normal::new(wl, ws)?)?;
    sample("b", Normal::new(bl, bs)?)?;
    Ok(())
}

/// The loss and the gradient of its surrogate with respect to every param, by name order,
/// for one batch; `draw_seed` seeds the guide's draws.
fn loss_and_grads(guide: &dyn Fn(&Batch) -> Result<()>, d: &Batch, draw_seed: u64) -> (f64, Vec<(String, f64)>) {
    seed(draw_seed, || {
        let lp = TraceElbo::new().loss_and_params(&|| model(d), &|| guide(d)).unwrap();
        for (_, p) in &lp.params {
            let mut g = p.grad();
            if g.defined() {
                let _ = g.zero_();
            }
        }
        lp.surrogate.backward();
        let mut grads: Vec<(String, f64)> = lp.params.iter().map(|(n, p)| (n.clone(), p.grad().double_value(&[]))).collect();
        grads.sort_by(|a, b| a.0.cmp(&b.0));
        (lp.loss, grads)
    })
}

fn check_unbiased(name: &str, guide: &dyn Fn(&Batch) -> Result<()>) {
    for device in devices(name) {
        seeded(11, || {
            let (x, y) = regression_data(device);
            let (full_loss, full_grads) = loss_and_grads(guide, &Batch { x: x.shallow_clone(), y: y.shallow_clone(), indices: None }, 5);
            let loader = DataLoader::new(vec![x, y], BATCH, true, device).unwrap();
            let nb = loader.num_batches() as f64;
            let (mut mean_loss, mut mean_grads) = (0.0, vec![0.0; full_grads.len()]);
            let mut losses = vec![];
            for batch in loader.epoch() {
                let mut t = batch.tensors.into_iter();
                let d = Batch { x: t.next().unwrap(), y: t.next().unwrap(), indices: Some(batch.indices) };
                let (l, g) = loss_and_grads(guide, &d, 5);
                losses.push(l);
                mean_loss += l / nb;
                for (acc, (_, v)) in mean_grads.iter_mut().zip(&g) {
                    *acc += v / nb;
                }
            }
            // The batches' losses differ (each sees other data) but average to the full loss.
            let spread = losses.iter().cloned().fold(f64::NEG_INFINITY, f64::max) - losses.iter().cloned().fold(f64::INFINITY, f64::min);
            assert!(spread > 1.0, "{name} on {device:?}: minibatch losses should differ, spread {spread}");
            let tol = 1e-4 * full_loss.abs().max(1.0);
            assert!((mean_loss - full_loss).abs() <= tol, "{name} on {device:?}: mean minibatch loss {mean_loss} vs full-data loss {full_loss}");
            for ((n, full), mean) in full_grads.iter().zip(&mean_grads) {
                let tol = 1e-3 * full.abs().max(1.0);
                assert!((mean - full).abs() <= tol, "{name} on {device:?}: gradient of {n}: minibatch mean {mean} vs full data {full}");
            }
        });
    }
}

#[test]
fn minibatch_elbo_averages_to_the_full_elbo_with_a_delta_guide() {
    check_unbiased("minibatch_elbo_averages_to_the_full_elbo_with_a_delta_guide", &delta_guide);
}

#[test]
fn minibatch_elbo_averages_to_the_full_elbo_with_seeded_guide_draws() {
    check_unbiased("minibatch_elbo_averages_to_the_full_elbo_with_seeded_guide_draws", &normal_guide);
}

/// With subsampling the data term is scaled by `N / batch`: one batch's loss equals the
/// unscaled loss of the same rows with their log-likelihood multiplied by `N / batch`.
#[test]
fn subsampled_plate_scales_the_data_term_by_n_over_batch() {
    seeded(3, || {
        let (x, y) = regression_data(Device::Cpu);
        let idx = Tensor::from_slice(&[3i64, 50, 7, 99, 110]);
        let d = Batch { x: x.index_select(0, &idx), y: y.index_select(0, &idx), indices: Some(idx.shallow_clone()) };
        let tr = get_trace(|| model(&d)).unwrap();
        let site = tr.site("y").unwrap();
        assert!((site.scale - N as f64 / 5.0).abs() < 1e-12, "scale {}", site.scale);
        let frame = &site.plates[0];
        assert_eq!((frame.size, frame.subsample_size), (N, 5));
    });
}
