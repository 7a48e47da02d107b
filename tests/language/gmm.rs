//! The Gaussian mixture of the seed article (iris petal lengths, K = 2), under `trace` and under
//! enumeration.

use pyrite::prelude::*;

const K: i64 = 2;

/// The seed's model: `p ~ Dir(1, 1)`, `mu_k ~ N(0, 10)`, `sigma_k ~ InvGamma(1, 1)` in a plate of
/// K, and `z_i ~ Cat(p)`, `x_i ~ N(mu[z_i], sigma[z_i])` observed in a plate of N.
fn model(data: &Tensor) -> Result<()> {
    let p = sample("p", Dirichlet::new(Tensor::full([K], 1.0, (Kind::Float, Device::Cpu)))?)?;
    let (mu, sigma) = plate("components", K, |_| {
        let mu = sample("mu", Normal::new(0.0, 10.0)?)?;
        let sigma = sample("sigma", InverseGamma::new(1.0, 1.0)?)?;
        Ok((mu, sigma))
    })?;
    plate("data", data.size()[0], |_| {
        let z = sample("z", Categorical::new(&p)?)?;
        let (loc, scale) = (mu.index(&[Some(&z)]), sigma.index(&[Some(&z)]));
        observe("x", Normal::new(loc, scale)?, data)
    })?;
    Ok(())
}

fn iris_petal_length() -> Tensor {
    pyrite::data::iris().expect("embedded iris data").petal_length
}

#[test]
fn gmm_trace_holds_the_seed_sites_and_shapes() {
    let data = iris_petal_length();
    assert_eq!(data.size(), vec![150]);
    let tr = get_trace(|| model(&data)).unwrap();
    assert_eq!(tr.names(), vec!["p", "mu", "sigma", "z", "x"]);
    let shape = |n: &str| tr.site(n).unwrap().value.size();
    assert_eq!(shape("p"), vec![2]);
    assert_eq!(shape("mu"), vec![2]);
    assert_eq!(shape("sigma"), vec![2]);
    assert_eq!(shape("z"), vec![150]);
    assert_eq!(shape("x"), vec![150]);
    assert!(tr.site("x").unwrap().is_observed);
    assert!(tr.site("x").unwrap().value.equal(&data));
    assert_eq!(tr.site("z").unwrap().value.kind(), Kind::Int64);
    assert_eq!(tr.site("mu").unwrap().plates[0].name.as_ref(), "components");
    assert_eq!(tr.site("z").unwrap().plates[0].name.as_ref(), "data");
    assert!(tr.site("sigma").unwrap().value.min().double_value(&[]) > 0.0);
    assert!((tr.site("p").unwrap().value.sum(Kind::Double).double_value(&[]) - 1.0).abs() < 1e-5);
    assert!(tr.log_prob_sum().unwrap().double_value(&[]).is_finite());
}

#[test]
fn gmm_under_enumeration_enumerates_z_in_dim_minus_two() {
    let data = iris_petal_length();
    let tr = get_trace(|| enumerate(-2, || config_enumerate(|| model(&data)))).unwrap();
    let z = tr.site("z").unwrap();
    assert_eq!(z.value.size(), vec![2, 1]);
    assert_eq!(Vec::<i64>::try_from(z.value.flatten(0, -1)).unwrap(), vec![0, 1]);
    assert_eq!(z.infer.enumerate_dim, Some(-2));
    let x = tr.site("x").unwrap();
    assert_eq!(x.dist.as_ref().unwrap().batch_shape(), &[2, 150]);
    assert_eq!(x.log_prob().unwrap().size(), vec![2, 150]);
    // the other sites are sampled as before
    for n in ["p", "mu", "sigma"] {
        assert_eq!(tr.site(n).unwrap().value.size(), vec![2], "{n}");
    }
    // marginalising z by hand gives a finite log-likelihood
    let lp = x.log_prob().unwrap() + z.log_prob().unwrap();
    assert_eq!(lp.size(), vec![2, 150]);
    assert!(lp.logsumexp([0], false).sum(Kind::Double).double_value(&[]).is_finite());
}
