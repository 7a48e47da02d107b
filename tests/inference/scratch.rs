use pyrite::prelude::*;
use super::common::*;
use super::posteriors::*;

#[test]
fn scratch_regression() {
    for which in ["mvn", "normal", "diag"] {
    for (steps, lr) in [(800usize, 0.05f64), (3000, 0.05), (800, 0.2)] {
        seeded(5, || {
            let d = regression_data();
            let (mean, cov) = regression_posterior(&d);
            let t = std::time::Instant::now();
            let m = match which {
                "mvn" => { let g = AutoMultivariateNormal::multivariate_normal(&regression_model, &d).unwrap(); fit(&regression_model, &g, &d, steps, lr, 0.05, 32); let c = g.covariance().unwrap(); eprintln!("cov {:?}", to_vec(&c)); g.median().unwrap()["w"].shallow_clone() }
                "diag" => { let g = AutoDiagonalNormal::diagonal_normal(&regression_model, &d).unwrap(); fit(&regression_model, &g, &d, steps, lr, 0.05, 32); g.median().unwrap()["w"].shallow_clone() }
                _ => { let g = AutoNormal::new(&regression_model, &d).unwrap(); fit(&regression_model, &g, &d, steps, lr, 0.05, 32); g.median().unwrap()["w"].shallow_clone() }
            };
            eprintln!("{which} steps {steps} lr {lr}: got {:?} want {:?} cov {:?} ({:?})", to_vec(&m), to_vec(&mean), to_vec(&cov), t.elapsed());
        });
    }
    }
}
