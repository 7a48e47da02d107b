//! The language's checks that no other test covers: subsample indices and the data a plate
//! subsamples, masks whose shapes do not fit, `enumerate` given a dimension that is not
//! negative, and a handler that removes what a site needs.

use pyrite::core::runtime::{with_handler, Messenger};
use pyrite::prelude::*;

use super::{documented, no_panic};

fn data() -> Tensor {
    Tensor::from_slice(&[1.0f32, 2.0, 3.0])
}

#[test]
fn subsample_indices_must_be_int64_and_inside_the_plate() {
    let run = |idx: Tensor| {
        no_panic("subsample", || get_trace(|| Plate::new("data", 3).subsample(&idx).run(|p| observe("x", Normal::new(0.0, 1.0)?, &p.subsample(&data(), 0)?))))
    };
    let err = run(Tensor::from_slice(&[0.0f32, 2.0])).unwrap_err();
    assert!(matches!(err, PyriteError::Plate { ref plate, .. } if plate == "data"), "{err}");
    documented(&err, "plate `data`: subsample indices must be an Int64 tensor, got Float");
    let err = run(Tensor::from_slice(&[0i64, 3])).unwrap_err();
    documented(&err, "plate `data`: subsample indices must lie in 0..3, got some outside");
    assert!(matches!(run(Tensor::from_slice(&[-1i64])), Err(PyriteError::Plate { .. })));
    let err = run(Tensor::zeros([1, 2], (Kind::Int64, Device::Cpu))).unwrap_err();
    documented(&err, "plate `data`: subsample indices must be 1-d, got shape [1, 2]");
    // Indices inside the plate select their rows.
    let tr = run(Tensor::from_slice(&[2i64, 0])).unwrap();
    assert_eq!(Vec::<f32>::try_from(&tr.site("x").unwrap().value).unwrap(), [3.0, 1.0]);
    // With validation off the range is not read (it costs a read of the device), the kind is.
    without_validation(|| assert!(matches!(run(Tensor::from_slice(&[0.0f32])), Err(PyriteError::Plate { .. }))));
}

#[test]
fn subsampling_data_of_the_wrong_size_or_along_a_missing_dim_is_a_plate_error() {
    let sub = |d: Tensor, dim: i64| no_panic("subsample", || Plate::new("data", 3).subsample_size(2).run(|p| p.subsample(&d, dim)));
    documented(&sub(data(), 1).unwrap_err(), "plate `data`: cannot subsample data of shape [3] along dim 1: it has no such dimension");
    documented(
        &sub(Tensor::zeros([4, 2], (Kind::Float, Device::Cpu)), 0).unwrap_err(),
        "plate `data`: cannot subsample data of shape [4, 2] along dim 0: it has size 4 there, the plate has size 3",
    );
    // Negative dims count from the right; without subsampling the data comes back whole.
    assert_eq!(sub(Tensor::zeros([2, 3], (Kind::Float, Device::Cpu)), -1).unwrap().size(), vec![2, 2]);
    assert_eq!(plate("data", 3, |p| p.subsample(&data(), 0)).unwrap().size(), vec![3]);
    assert!(matches!(plate("data", 3, |p| p.subsample(&data(), -2)), Err(PyriteError::Plate { .. })));
}

#[test]
fn a_mask_that_does_not_fit_the_site_is_a_shape_error() {
    let keep3 = Tensor::from_slice(&[true, false, true]);
    let keep2 = Tensor::from_slice(&[true, false]);
    let model = || plate("data", 2, |_| observe("x", Normal::new(0.0, 1.0)?, &Tensor::from_slice(&[1.0f32, 2.0])));
    // Recorded as given; refused when the log-density is computed, naming the site.
    let tr = get_trace(|| mask(&keep3, model)).unwrap();
    let err = no_panic("mask", || tr.log_prob_sum()).unwrap_err();
    assert!(matches!(err, PyriteError::Shape { ref site, .. } if site == "x"), "{err}");
    documented(&err, "site `x`: mask of shape [3] does not broadcast with the log-density of shape [2]");
    // Nested masks that do not broadcast together: at the sample statement.
    let err = no_panic("nested masks", || get_trace(|| mask(&keep3, || mask(&keep2, model)))).unwrap_err();
    documented(&err, "site `x`: nested masks of shapes [2] and [3] do not broadcast");
    // A mask that fits zeroes the log-density where it is false.
    let tr = get_trace(|| mask(&keep2, model)).unwrap();
    assert_eq!(tr.site("x").unwrap().log_prob().unwrap().double_value(&[1]), 0.0);
}

#[test]
fn enumeration_from_a_dim_that_is_not_negative_is_refused() {
    let model = || SampleSite::new("z", Bernoulli::new(0.3)).enumerate().run();
    for dim in [0, 2] {
        let err = no_panic("enumerate", || get_trace(|| enumerate(dim, model))).unwrap_err();
        assert!(matches!(err, PyriteError::Enumerate { ref site, .. } if site == "z"), "{err}");
    }
    documented(
        &get_trace(|| enumerate(0, model)).unwrap_err(),
        "site `z`: cannot enumerate: first_available_dim must be negative (-1 minus the number of nested plates), got 0",
    );
    let err = no_panic("infer_discrete", || infer_discrete(&|| model().map(drop), 1, 0.0)).unwrap_err();
    documented(&err, "invalid input `first_available_dim`: must be negative (-1 minus the number of nested plates), got 1");
    assert!(get_trace(|| enumerate(-1, model)).is_ok());
}

/// A user's handler that takes a sample site's distribution away before the default behaviour.
struct TakeDist;
impl Messenger for TakeDist {
    fn process_message(&mut self, msg: &mut Message) -> Result<()> {
        if msg.kind == SiteKind::Sample {
            msg.dist = None;
        }
        Ok(())
    }
}

/// A user's handler that takes every site's value away after the default behaviour.
struct TakeValue;
impl Messenger for TakeValue {
    fn postprocess_message(&mut self, msg: &mut Message) -> Result<()> {
        msg.value = None;
        Ok(())
    }
}

#[test]
fn a_handler_that_removes_a_site_s_distribution_or_value_is_a_model_error() {
    let (err, _) = with_handler(TakeDist, || no_panic("dist", || sample("x", Normal::new(0.0, 1.0))).unwrap_err());
    assert!(matches!(err, PyriteError::Model(_)), "{err:?}");
    documented(&err, "site `x`: a handler removed the sample site's distribution");
    let (err, _) = with_handler(TakeValue, || no_panic("value", || sample("x", Normal::new(0.0, 1.0))).unwrap_err());
    documented(&err, "site `x`: a handler left the site without a value");
    with_param_store(&new_param_store(), || {
        let (err, _) = with_handler(TakeValue, || param("p", 1.0, Constraint::Real).unwrap_err());
        assert_eq!(err.to_string(), "site `p`: a handler left the site without a value");
    });
}

#[test]
fn an_unknown_param_name_is_an_unknown_site() {
    let store = new_param_store();
    let err = pyrite::core::param_store::lock(&store).get("ghost").unwrap_err();
    assert!(matches!(err, PyriteError::UnknownSite(ref n) if n == "ghost"), "{err}");
    documented(&err, "unknown site `ghost`");
}
