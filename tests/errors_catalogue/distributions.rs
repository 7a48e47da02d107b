//! Sample and batch shapes with a negative size, and a categorical without categories: typed
//! errors naming the family, where libtorch would panic.

use pyrite::prelude::*;

use super::{documented, no_panic};

#[test]
fn a_negative_sample_or_batch_size_is_a_shape_error() {
    let cat = Categorical::new(Tensor::from_slice(&[0.5f32, 0.5])).unwrap();
    let dists: Vec<DistRef> = vec![
        Normal::new(0.0, 1.0).unwrap().into_dist(),
        cat.into_dist(),
        Binomial::new(3.0, 0.5).unwrap().into_dist(),
        Dirichlet::new(Tensor::ones([3], (Kind::Float, Device::Cpu))).unwrap().into_dist(),
        MultivariateNormal::from_scale_tril(Tensor::zeros([2], (Kind::Float, Device::Cpu)), Tensor::eye(2, (Kind::Float, Device::Cpu))).unwrap().into_dist(),
    ];
    for d in &dists {
        let err = no_panic(d.name(), || d.sample(&[-2])).unwrap_err();
        assert!(matches!(err, DistError::Shape { .. }), "{}: {err:?}", d.name());
        assert!(no_panic(d.name(), || d.expand(&[-1])).is_err(), "{}", d.name());
    }
    documented(&Normal::new(0.0, 1.0).unwrap().sample(&[-2]).unwrap_err(), "Normal: shapes do not broadcast: sample shape [-2] has a negative size");
    let err = Normal::new(0.0, 1.0).unwrap().rsample(&[3, -1]).unwrap_err();
    assert_eq!(err.to_string(), "Normal: shapes do not broadcast: sample shape [3, -1] has a negative size");
    documented(
        &Normal::new(0.0, 1.0).unwrap().expand(&[-1]).unwrap_err(),
        "Normal: shapes do not broadcast: cannot expand batch shape [] to [-1]: a size is negative",
    );
    // Empty sample shapes are fine, for a categorical too (libtorch refuses to draw no samples).
    let cat = Categorical::new(Tensor::from_slice(&[0.5f32, 0.5])).unwrap();
    assert_eq!(cat.sample(&[0, 3]).unwrap().size(), vec![0, 3]);
    assert_eq!(Normal::new(0.0, 1.0).unwrap().sample(&[0]).unwrap().size(), vec![0]);
}

#[test]
fn a_categorical_without_categories_is_refused() {
    let empty = || Tensor::zeros([2, 0], (Kind::Float, Device::Cpu));
    let err = no_panic("logits", || Categorical::from_logits(empty())).unwrap_err();
    assert!(matches!(err, DistError::InvalidParameter { dist: "Categorical", param: "logits", .. }), "{err:?}");
    documented(&err, "Categorical: parameter `logits` must have at least one category (its last dimension has size 0)");
    assert!(matches!(OneHotCategorical::new(empty()), Err(DistError::InvalidParameter { param: "probs", .. })));
}
