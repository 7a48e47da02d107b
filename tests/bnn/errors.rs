//! Typed errors on bad input: images of the wrong width, labels out of range, a device that is
//! not there.

use pyrite::data::{DataError, ImageSet};
use pyrite::prelude::*;

use super::common::*;

#[test]
fn image_set_rejects_images_of_the_wrong_width() {
    let images = Tensor::zeros([4, 63], (Kind::Float, Device::Cpu));
    let err = ImageSet::new(images, Tensor::from_slice(&[0i64, 1, 2, 3]), 64, 10).unwrap_err();
    assert!(matches!(err, DataError::ImageShape { ref shape, width: 64 } if shape == &vec![4, 63]), "{err:?}");
    let flat = Tensor::zeros([64], (Kind::Float, Device::Cpu));
    assert!(matches!(ImageSet::new(flat, Tensor::from_slice(&[0i64]), 64, 10), Err(DataError::ImageShape { .. })));
}

#[test]
fn image_set_rejects_labels_out_of_range() {
    let images = || Tensor::zeros([3, 64], (Kind::Float, Device::Cpu));
    let err = ImageSet::new(images(), Tensor::from_slice(&[0i64, 10, 1]), 64, 10).unwrap_err();
    assert!(matches!(err, DataError::LabelOutOfRange { label: 10, num_classes: 10 }), "{err:?}");
    let err = ImageSet::new(images(), Tensor::from_slice(&[0i64, -1, 1]), 64, 10).unwrap_err();
    assert!(matches!(err, DataError::LabelOutOfRange { label: -1, .. }), "{err:?}");
    let err = ImageSet::new(images(), Tensor::from_slice(&[0i64, 1]), 64, 10).unwrap_err();
    assert!(matches!(err, DataError::LabelShape { rows: 3, .. }), "{err:?}");
}

/// The BNN model refuses images that do not fit its first layer, and an SVI step reports it
/// without changing any param.
#[test]
fn bnn_rejects_images_of_the_wrong_width() {
    seeded(2, || {
        let net = Net::new(64, 8, 10, Device::Cpu);
        let d = Data { x: Tensor::rand([5, 63], (Kind::Float, Device::Cpu)), y: Some(Tensor::from_slice(&[0i64, 1, 2, 3, 4])), indices: None, size: 5 };
        let err = get_trace(|| bnn_model(&net, &d)).unwrap_err();
        assert!(matches!(err, PyriteError::InvalidInput { ref what, .. } if what == "images"), "{err}");
        let m = |d: &Data| bnn_model(&net, d);
        let g = |_: &Data| bnn_guide(&net, 0.01);
        let mut svi = Svi::new(m, g, Optimizer::adam(0.01), TraceElbo::new());
        let err = svi.step(&d).unwrap_err();
        assert!(matches!(err, PyriteError::InvalidInput { .. }), "{err}");
        assert_eq!(pyrite::core::param_store::lock(&get_param_store()).len(), 0, "a failed first step leaves no params");
    });
}

/// A label outside the network's classes is an error at the observation site.
#[test]
fn bnn_rejects_labels_out_of_range() {
    seeded(3, || {
        let net = Net::new(64, 8, 10, Device::Cpu);
        let d = Data { x: Tensor::rand([3, 64], (Kind::Float, Device::Cpu)), y: Some(Tensor::from_slice(&[0i64, 10, 2])), indices: None, size: 3 };
        let m = |d: &Data| bnn_model(&net, d);
        let g = |_: &Data| bnn_guide(&net, 0.01);
        let mut svi = Svi::new(m, g, Optimizer::adam(0.01), TraceElbo::new());
        let err = svi.step(&d).unwrap_err();
        assert!(matches!(err, PyriteError::Distribution { ref site, .. } if site == "obs"), "{err}");
    });
}

#[test]
fn device_flags() {
    assert_eq!(device_from_flag(Some("cpu")).unwrap(), Device::Cpu);
    assert_eq!(device_from_flag(Some("CPU")).unwrap(), Device::Cpu);
    let err = device_from_flag(Some("gpu")).unwrap_err();
    assert!(matches!(err, PyriteError::InvalidInput { ref what, .. } if what == "device"), "{err}");
    let default = device_from_flag(None).unwrap();
    if cuda_available() {
        assert_eq!(device_from_flag(Some("cuda")).unwrap(), Device::Cuda(0));
        assert_eq!(default, Device::Cuda(0));
    } else {
        eprintln!("device_flags: CUDA is not available on this machine; checking that `cuda` is refused");
        let err = device_from_flag(Some("cuda")).unwrap_err();
        assert!(matches!(err, PyriteError::Device(ref d) if d.starts_with("no CUDA device is available")), "{err}");
        assert_eq!(default, Device::Cpu);
    }
}
