#!/usr/bin/env python3
"""Writes the notebooks (evcxr Rust kernel) from the cell sources below; run.sh executes them."""
import json
import pathlib

HERE = pathlib.Path(__file__).resolve().parent

SETUP = [
    ":dep pyrite = { path = \"../crates/pyrite\" }",
    ":dep pyrite-examples = { path = \"../examples\" }",
]
PRELUDE = """use pyrite::prelude::*;
use pyrite_examples::plots::{self, Layer, Panel, PALETTE, Legend};
// Params live in a param store; the default one is per thread, and the kernel may run cells on
// different threads, so the notebook keeps its own store and uses it in every cell.
let store: ParamStoreHandle = new_param_store();"""

NOTEBOOKS = {
    "radon.ipynb": [
        ("markdown", "# The radon GLMM in pyrite\n\nCounty random intercepts and a floor effect, fitted with AutoNormal and compared with lme4 (intercept 1.462, floor -0.693, county sd 0.3282, residual sd 0.7556)."),
        ("code", "\n".join(SETUP)),
        ("code", PRELUDE),
        ("code", """struct Radon { floor: Tensor, county: Tensor, log_radon: Tensor, counties: i64 }

fn model(d: &Radon) -> Result<()> {
    let county_scale = sample("county_scale", HalfNormal::new(1.0)?)?;
    let intercept = sample("intercept", Normal::new(0.0, 1.0)?)?;
    let floor_weight = sample("floor_weight", Normal::new(0.0, 1.0)?)?;
    let sigma = sample("sigma", HalfNormal::new(1.0)?)?;
    let effect = plate("counties", d.counties, |_| sample("county_effect", Normal::new(0.0, &county_scale)?))?;
    let mean = intercept + floor_weight * &d.floor + effect.index_select(-1, &d.county);
    plate("data", d.floor.size()[0], |_| observe("obs", Normal::new(&mean, &sigma)?, &d.log_radon).map(drop))
}"""),
        ("code", """let r: pyrite::data::Radon = pyrite::data::radon().unwrap();
let d: Radon = Radon { floor: r.floor, county: r.county, log_radon: r.log_radon, counties: r.num_counties };
set_rng_seed(0);
// This `svi` borrows the model and guide, so it lives inside the closure; an owned one
// (`Svi::new(model, Rc::new(guide), ..)`, an `Svi<'static, Radon>`) could be kept in a variable.
let guide: AutoNormal = AutoNormal::new(&model, &d).unwrap();
let losses: Vec<f64> = with_param_store(&store, || {
    let mut svi = Svi::new(&model, &guide, Optimizer::adam(0.01), TraceElbo::new());
    svi.progress = false;
    svi.run(3000, &d).unwrap()
});
let post: Samples = with_param_store(&store, || guide.sample_posterior(2000)).unwrap();
for k in ["intercept", "floor_weight", "county_scale", "sigma"] {
    println!("{k:<14} {:.3}", post[k].mean(Kind::Double).double_value(&[]));
}"""),
        ("code", """std::fs::create_dir_all("out").unwrap();
let p: std::path::PathBuf = plots::loss_curve("out/radon_loss.png", "radon: ELBO loss", &[("AutoNormal", &losses)]).unwrap();
plots::show(&p).unwrap();"""),
    ],
    "rugged.ipynb": [
        ("markdown", "# Ruggedness and GDP: the Pyro introduction in pyrite\n\nNeeds `rugged_data.csv` in `$PYRITE_DATA`."),
        ("code", "\n".join(SETUP)),
        ("code", PRELUDE),
        ("code", """struct Data { africa: Tensor, rugged: Tensor, log_gdp: Option<Tensor> }

fn model(d: &Data) -> Result<()> {
    let a = sample("a", Normal::new(0.0, 10.0)?)?;
    let b_a = sample("bA", Normal::new(0.0, 1.0)?)?;
    let b_r = sample("bR", Normal::new(0.0, 1.0)?)?;
    let b_ar = sample("bAR", Normal::new(0.0, 1.0)?)?;
    let sigma = sample("sigma", Uniform::new(0.0, 10.0)?)?;
    let mean = a + b_a * &d.africa + b_r * &d.rugged + b_ar * &d.africa * &d.rugged;
    plate("data", d.rugged.size()[0], |_| sample_obs("obs", Normal::new(&mean, &sigma)?, d.log_gdp.as_ref()).map(drop))
}"""),
        ("code", """let r: pyrite::data::Rugged = pyrite::data::rugged(None).unwrap();
let d: Data = Data { africa: r.cont_africa, rugged: r.rugged, log_gdp: Some(r.log_gdp) };
set_rng_seed(1);
let guide: AutoNormal = AutoNormal::new(&model, &d).unwrap();
let losses: Vec<f64> = with_param_store(&store, || {
    let mut svi = Svi::new(&model, &guide, Optimizer::adam(0.02), TraceElbo::new());
    svi.progress = false;
    svi.run(1000, &d).unwrap()
});
for (k, v) in with_param_store(&store, || guide.median()).unwrap() { println!("{k:<6} {:.3}", v.double_value(&[])); }"""),
        ("code", """let s: Samples = with_param_store(&store, || guide.sample_posterior(800)).unwrap();
let outside: Vec<f64> = plots::values(&s["bR"]);
let inside: Vec<f64> = plots::values(&(&s["bR"] + &s["bAR"]));
let panel: Panel = Panel::new("slope of log GDP on ruggedness", "slope", "density")
    .with_all(plots::density(&inside, PALETTE[0], "African nations"))
    .with_all(plots::density(&outside, PALETTE[1], "Non-African nations"))
    .legend(Legend::UpperRight);
std::fs::create_dir_all("out").unwrap();
let p: std::path::PathBuf = plots::save("out/rugged_slopes.png", (700, 450), (1, 1), &[panel]).unwrap();
plots::show(&p).unwrap();"""),
    ],
    "gmm.ipynb": [
        ("markdown", "# A Gaussian mixture on iris petal lengths, with enumeration\n\nTraceEnumElbo sums out each flower's cluster; AutoDelta fits weights, means and scales; infer_discrete recovers the clusters."),
        ("code", "\n".join(SETUP)),
        ("code", PRELUDE),
        ("code", """fn model(data: &Tensor) -> Result<()> {
    let p = sample("p", Dirichlet::new(Tensor::ones([2], (Kind::Float, Device::Cpu)))?)?;
    let (mu, sigma) = plate("cluster_param_plate", 2, |_| {
        Ok((sample("mu", Normal::new(0.0, 10.0)?)?, sample("sigma", InverseGamma::new(1.0, 1.0)?)?))
    })?;
    plate("data_plate", data.size()[0], |_| {
        let z = Some(SampleSite::new("z", Categorical::new(&p)?).enumerate().run()?);
        observe("x", Normal::new(mu.index(&[z.as_ref()]), sigma.index(&[z.as_ref()]))?, data).map(drop)
    })
}
fn blocked(data: &Tensor) -> Result<()> { block(BlockSpec::expose(&["p", "mu", "sigma"]), || model(data)) }"""),
        ("code", """let data: Tensor = pyrite::data::iris().unwrap().petal_length;
set_rng_seed(3);
let mut init: SiteValues = SiteValues::new();
init.insert("p".into(), Tensor::from_slice(&[0.5f32, 0.5]));
init.insert("mu".into(), Tensor::from_slice(&[1.5f32, 4.5]));
init.insert("sigma".into(), Tensor::from_slice(&[1.0f32, 1.0]));
let guide: AutoDelta = AutoDelta::with_init(&blocked, &data, InitStrategy::Value(init)).unwrap();
let losses: Vec<f64> = with_param_store(&store, || {
    let mut svi = Svi::new(&model, &guide, Optimizer::adam(0.05), TraceEnumElbo::new());
    svi.progress = false;
    svi.run(1500, &data).unwrap()
});
println!("final loss {:.2}", losses[1499]);
for (k, v) in with_param_store(&store, || guide.median()).unwrap() { println!("{k:<6} {:?}", Vec::<f64>::try_from(v.to_kind(Kind::Double)).unwrap()); }"""),
        ("code", """let guide_tr: Trace = with_param_store(&store, || get_trace(|| guide.sample_sites())).unwrap();
let tr: Trace = infer_discrete(&|| replay(&guide_tr, || model(&data)), -2, 0.0).unwrap();
let z: Tensor = tr.site("z").unwrap().value.shallow_clone();
println!("cluster sizes {:?}", Vec::<i64>::try_from(z.bincount(None::<Tensor>, 2)).unwrap());
{
    let x: Vec<f64> = plots::values(&data);
    let c: Vec<i64> = Vec::try_from(&z).unwrap();
    let pts = |k: i64| x.iter().enumerate().filter(|(i, _)| c[*i] == k).map(|(i, v)| (i as f64, *v)).collect::<Vec<_>>();
    let panel: Panel = Panel::new("flowers by inferred cluster", "flower", "petal length (cm)")
        .with(Layer::points(pts(0), PALETTE[0]).label("cluster 0"))
        .with(Layer::points(pts(1), PALETTE[1]).label("cluster 1"))
        .legend(Legend::UpperLeft);
    std::fs::create_dir_all("out").unwrap();
    let p: std::path::PathBuf = plots::save("out/gmm_clusters.png", (700, 450), (1, 1), &[panel]).unwrap();
    plots::show(&p).unwrap();
}"""),
    ],
    "bnn.ipynb": [
        ("markdown", "# A Bayesian neural network on the 8x8 digits\n\nPriors on every weight via `random_module`, a mean-field AutoNormal guide, minibatch SVI with a subsampled plate, predictions averaged over sampled networks."),
        ("code", "\n".join(SETUP)),
        ("code", PRELUDE + "\nuse pyrite::tch::nn;"),
        ("code", """fn model(vs: &nn::VarStore, x: &Tensor, y: &Tensor, idx: &Tensor, n: i64) -> Result<()> {
    let w = random_module("bnn", vs, |_, t| Ok(std::rc::Rc::new(Normal::new(0.0, 1.0)?.expand(&t.size())?.to_event(t.dim() as usize)?) as DistRef))?;
    let h = linear_from(&w, "fc1", x)?.relu();
    let logits = linear_from(&w, "out", &h)?;
    Plate::new("data", n).subsample(idx).run(|_| observe("y", Categorical::from_logits(&logits)?, y).map(drop))
}"""),
        ("code", """// Everything that borrows the network lives in one block (evcxr keeps only owned values).
let acc: f64 = with_param_store(&store, || {
    let (train, test) = pyrite::data::digits().unwrap().shuffled_split(0.8, 0).unwrap();
    let vs = nn::VarStore::new(Device::Cpu);
    let _fc1 = nn::linear(vs.root() / "fc1", 64, 64, Default::default());
    let _out = nn::linear(vs.root() / "out", 64, 10, Default::default());
    let n = train.len() as i64;
    let loader = pyrite::data::DataLoader::new(vec![train.images().shallow_clone(), train.labels().shallow_clone()], 128, true, Device::Cpu).unwrap();
    set_rng_seed(0);
    let all = Tensor::arange(n, (Kind::Int64, Device::Cpu));
    let args = (train.images().shallow_clone(), train.labels().shallow_clone(), all);
    let m = |a: &(Tensor, Tensor, Tensor)| model(&vs, &a.0, &a.1, &a.2, n);
    let guide = AutoNormal::with_init(&m, &args, InitStrategy::Sample, 0.01).unwrap();
    let mut svi = Svi::new(&m, &guide, Optimizer::adam(0.01), TraceElbo::new());
    for epoch in 0..20 {
        let mut total = 0.0;
        for b in loader.epoch() {
            total += svi.step(&(b.tensors[0].shallow_clone(), b.tensors[1].shallow_clone(), b.indices.shallow_clone())).unwrap();
        }
        if epoch % 5 == 4 { println!("epoch {epoch}: loss {:.1}", total / loader.num_batches() as f64); }
    }
    // Predictions averaged over 50 networks drawn from the guide.
    let (x, y) = (test.images(), test.labels());
    let mut probs = Tensor::zeros([test.len() as i64, 10], (Kind::Float, Device::Cpu));
    for _ in 0..50 {
        let gt = get_trace(|| guide.sample_sites()).unwrap();
        let w: Samples = gt.latent_sites().map(|s| (s.name.trim_start_matches("bnn.").to_string(), s.value.shallow_clone())).collect();
        let h = linear_from(&w, "fc1", x).unwrap().relu();
        probs += linear_from(&w, "out", &h).unwrap().softmax(-1, Kind::Float) / 50.0;
    }
    probs.argmax(-1, false).eq_tensor(y).to_kind(Kind::Double).mean(Kind::Double).double_value(&[])
});
println!("test accuracy {acc:.3}");"""),
    ],
}


def cell(kind, src, ident):
    c = {"cell_type": kind, "id": ident, "metadata": {}, "source": src.splitlines(keepends=True)}
    if kind == "code":
        c["execution_count"] = None
        c["outputs"] = []
    return c


for name, cells in NOTEBOOKS.items():
    nb = {
        "cells": [cell(k, s, f"{name.split('.')[0]}-{i}") for i, (k, s) in enumerate(cells)],
        "metadata": {
            "kernelspec": {"display_name": "Rust", "language": "rust", "name": "rust"},
            "language_info": {"name": "Rust", "file_extension": ".rs", "mimetype": "text/rust"},
        },
        "nbformat": 4,
        "nbformat_minor": 5,
    }
    (HERE / name).write_text(json.dumps(nb, indent=1) + "\n")
    print("wrote", name)
