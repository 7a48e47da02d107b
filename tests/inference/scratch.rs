use pyrite::prelude::*;
use super::common::*;
use super::posteriors::*;

#[test]
fn scratch_regression() {
    for k in [1usize, 32] {
        seeded(5, || {
            let d = regression_data();
            let g = AutoMultivariateNormal::multivariate_normal(&regression_model, &d).unwrap();
            let t = std::time::Instant::now();
            fit(&regression_model, &g, &d, 100, 0.05, 0.05, k);
            eprintln!("mvn k={k}: {:?}", t.elapsed());
            let g = AutoNormal::new(&regression_model, &d).unwrap();
            let t = std::time::Instant::now();
            fit(&regression_model, &g, &d, 100, 0.05, 0.05, k);
            eprintln!("normal k={k}: {:?}", t.elapsed());
        });
    }
    let l = Tensor::eye(2, (Kind::Double, Device::Cpu)).set_requires_grad(true);
    let loc = Tensor::zeros([2], (Kind::Double, Device::Cpu)).set_requires_grad(true);
    for k in [1i64, 32] {
        let t = std::time::Instant::now();
        for _ in 0..100 {
            let d = MultivariateNormal::from_scale_tril(&loc, &l).unwrap();
            let d = d.expand(&[k, 1]).unwrap();
            let x = d.rsample(&[]).unwrap();
            let lp = d.log_prob(&x).unwrap().sum(Kind::Double);
            lp.backward();
        }
        eprintln!("raw mvn k={k}: {:?}", t.elapsed());
        let t = std::time::Instant::now();
        for _ in 0..100 {
            let d = MultivariateNormal::from_scale_tril(&loc, &l).unwrap();
            let d = d.expand(&[k, 1]).unwrap();
            let x = d.rsample(&[]).unwrap();
        }
        eprintln!("raw mvn rsample only k={k}: {:?}", t.elapsed());
    }
}
