//! `format_shapes` and `render_model`.

use std::path::PathBuf;

use pyrite::prelude::*;

use super::common::*;

#[test]
fn format_shapes_lists_sites_with_batch_and_event_shapes() {
    fresh(|| {
        let tr = get_trace(|| -> Result<()> {
            param("loc", Tensor::zeros([3], (Kind::Float, Device::Cpu)), Constraint::Real)?;
            let p = sample("weights", Dirichlet::new(Tensor::ones([3], (Kind::Float, Device::Cpu)))?)?;
            plate("data", 5, |_| {
                sample("assign", Categorical::new(&p)?)?;
                observe("obs", Normal::new(0.0, 1.0)?, &Tensor::zeros([5], (Kind::Float, Device::Cpu)))
            })?;
            Ok(())
        })
        .unwrap();
        tr.compute_log_prob().unwrap();
        let table = tr.format_shapes();
        // compare rows with their spaces collapsed
        let rows: Vec<String> = table.lines().map(|l| l.split_whitespace().collect::<Vec<_>>().join(" ")).collect();
        let has = |row: &str| assert!(rows.iter().any(|r| r == row), "no row `{row}` in\n{table}");
        has("Trace Shapes:");
        has("Param Sites:");
        has("loc 3");
        has("Sample Sites:");
        has("weights dist | 3");
        has("value | 3");
        has("data plate 5 |");
        has("assign dist 5 |");
        has("obs dist 5 |");
        has("value 5 |");
        has("log_prob 5 |");
        // rows in trace order
        let pos = |name: &str| rows.iter().position(|r| r.starts_with(name)).unwrap();
        assert!(pos("loc") < pos("weights") && pos("weights") < pos("data") && pos("data") < pos("assign") && pos("assign") < pos("obs"));
    });
}

/// The rugged regression of the Pyro introduction, on 5 made-up countries.
fn rugged_model() -> Result<()> {
    let is_cont_africa = Tensor::from_slice(&[1.0f32, 0.0, 1.0, 0.0, 0.0]);
    let ruggedness = Tensor::from_slice(&[0.5f32, 1.2, 2.3, 0.1, 3.4]);
    let log_gdp = Tensor::from_slice(&[7.1f32, 9.3, 8.0, 10.2, 8.8]);
    let a = sample("a", Normal::new(0.0, 10.0)?)?;
    let b_a = sample("bA", Normal::new(0.0, 1.0)?)?;
    let b_r = sample("bR", Normal::new(0.0, 1.0)?)?;
    let b_ar = sample("bAR", Normal::new(0.0, 1.0)?)?;
    let sigma = sample("sigma", Uniform::new(0.0, 10.0)?)?;
    let mean = &a + &b_a * &is_cont_africa + &b_r * &ruggedness + &b_ar * &is_cont_africa * &ruggedness;
    plate("data", 5, |_| observe("obs", Normal::new(&mean, &sigma)?, &log_gdp))?;
    Ok(())
}

fn golden(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("golden").join(name)
}

#[test]
fn render_model_of_the_rugged_model_matches_the_golden_dot() {
    let dir = TempDir::new("render");
    let out = dir.join("rugged.dot");
    let dot = render_model(&rugged_model, RenderOptions::default(), Some(&out)).unwrap();
    assert_eq!(std::fs::read_to_string(&out).unwrap(), dot, "the file holds the returned text");
    let path = golden("rugged.dot");
    if std::env::var_os("PYRITE_BLESS").is_some() {
        std::fs::write(&path, &dot).unwrap();
    }
    let expected = std::fs::read_to_string(&path).expect("tests/golden/rugged.dot (PYRITE_BLESS=1 writes it)");
    assert_eq!(dot, expected, "render_model output differs from {}", path.display());
    // the golden itself says what the picture must show
    for parent in ["a", "bA", "bR", "bAR", "sigma"] {
        assert!(dot.contains(&format!("\t\"{parent}\" -> \"obs\"")), "edge {parent} -> obs");
    }
    assert!(!dot.contains("-> \"a\""), "a has no parent");
    let cluster = dot.find("subgraph \"cluster_data\"").expect("a cluster for the plate");
    let obs = dot.find("\"obs\" [").unwrap();
    assert!(obs > cluster, "obs inside cluster_data");
    assert!(dot[obs..].lines().next().unwrap().contains("fillcolor=gray style=filled"), "obs is filled grey");
    assert!(!dot[dot.find("\"a\" [").unwrap()..].lines().next().unwrap().contains("filled"));
    // With Graphviz installed an SVG is written beside the DOT file.
    let has_dot = std::process::Command::new("dot").arg("-V").output().map(|o| o.status.success()).unwrap_or(false);
    if has_dot {
        let svg = std::fs::read_to_string(out.with_extension("svg")).expect("rugged.svg written beside rugged.dot");
        assert!(svg.contains("<svg") && svg.contains("obs"), "the SVG shows the graph");
    } else {
        eprintln!("Graphviz `dot` not installed: the SVG check is skipped");
    }
}

#[test]
fn render_model_options_add_distributions_and_params() {
    fresh(|| {
        let model = || -> Result<()> {
            let s = param("s", 1.0, Constraint::Positive)?;
            let m = sample("m", Normal::new(0.0, 1.0)?)?;
            observe("y", Normal::new(&m, &s)?, &Tensor::from(0.5f32))?;
            Ok(())
        };
        let plain = render_model(&model, RenderOptions::default(), None).unwrap();
        assert!(!plain.contains("\"s\""));
        assert!(plain.contains("\"m\" -> \"y\""));
        let full = render_model(&model, RenderOptions { render_distributions: true, render_params: true }, None).unwrap();
        assert!(full.contains("\"s\" [label=\"s\" shape=box]"), "{full}");
        assert!(full.contains("\"s\" -> \"y\""), "{full}");
        assert!(full.contains("m\nNormal"), "{full}");
    });
}
