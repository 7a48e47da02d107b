//! The PyroModule style: a `PyroLinear` layer with priors on its weight and bias is fitted with
//! AutoNormal (regression recovers its coefficients), and `ParamSpec::Param` makes learnable params.

use pyrite::core::param_store::lock;
use pyrite::prelude::*;

fn normal_prior() -> ParamSpec {
    ParamSpec::Sample(Box::new(|shape: &[i64]| {
        let zeros = Tensor::zeros(shape, (Kind::Float, Device::Cpu));
        Ok(Normal::new(zeros, 1.0)?.to_event(shape.len())?.into_dist())
    }))
}

#[test]
fn pyro_linear_with_priors_recovers_a_regression() {
    let (w, b) = seed(3, || {
        let x = Tensor::randn([200, 2], (Kind::Float, Device::Cpu));
        let y = x.matmul(&Tensor::from_slice(&[1.5f32, -0.7])) + 0.4 + Tensor::randn([200], (Kind::Float, Device::Cpu)) * 0.1;
        let layer = PyroLinear::new("fc", 2, 1, normal_prior(), Some(normal_prior()));
        let model = |(x, y): &(Tensor, Tensor)| -> Result<()> {
            let mean = layer.forward(x)?.squeeze_dim(-1);
            plate("data", 200, |_| observe("y", Normal::new(&mean, 0.1)?, y).map(drop))
        };
        with_param_store(&new_param_store(), || {
            let data = (x, y);
            let guide = AutoNormal::new(&model, &data).unwrap();
            let mut svi = Svi::new(model, &guide, Optimizer::adam(0.05), TraceElbo::new());
            svi.progress = false;
            svi.run(600, &data).unwrap();
            let m = guide.median().unwrap();
            (Vec::<f64>::try_from(m["fc.weight"].to_kind(Kind::Double).flatten(0, -1)).unwrap(), m["fc.bias"].double_value(&[0]))
        })
    });
    // Posterior sds are about 0.007 here; 0.05 leaves room for SVI noise.
    assert!((w[0] - 1.5).abs() < 0.05 && (w[1] + 0.7).abs() < 0.05, "weight {w:?}");
    assert!((b - 0.4).abs() < 0.05, "bias {b}");
}

#[test]
fn pyro_linear_param_spec_makes_learnable_params() {
    let store = new_param_store();
    with_param_store(&store, || {
        let layer = PyroLinear::new("fc", 3, 2, ParamSpec::Param(std::rc::Rc::new(|s: &[i64]| Tensor::zeros(s, (Kind::Float, Device::Cpu)))), None);
        let x = Tensor::ones([4, 3], (Kind::Float, Device::Cpu));
        let tr = get_trace(|| layer.forward(&x)).unwrap();
        assert_eq!(tr.site("fc.weight").unwrap().kind, SiteKind::Param);
        assert_eq!(lock(&store).get("fc.weight").unwrap().size(), vec![2, 3]);
    });
}
