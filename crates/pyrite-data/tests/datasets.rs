//! Shapes and known facts of the embedded data sets, and `ImageSet` checks.

use pyrite_data::{digits, iris, mnist_subset, radon, DataError, ImageSet};
use tch::{Device, Kind, Tensor};

fn vec_i64(t: &Tensor) -> Vec<i64> {
    Vec::<i64>::try_from(t).unwrap()
}

fn vec_f32(t: &Tensor) -> Vec<f32> {
    Vec::<f32>::try_from(t).unwrap()
}

#[test]
fn radon_facts() {
    let r = radon().unwrap();
    assert_eq!(r.len(), 919);
    for t in [&r.log_radon, &r.floor, &r.uranium] {
        assert_eq!((t.size(), t.kind()), (vec![919], Kind::Float));
    }
    assert_eq!((r.county.size(), r.county.kind()), (vec![919], Kind::Int64));
    assert_eq!(r.num_counties, 85);
    assert_eq!(r.county_names.len(), 85);
    assert_eq!((r.county_names[0].as_str(), r.county_names[84].as_str()), ("AITKIN", "YELLOW MEDICINE"));

    let counts = vec_i64(&r.county.bincount(None::<Tensor>, r.num_counties));
    assert_eq!(counts.len(), 85);
    assert!(counts.iter().all(|&c| c > 0));
    assert_eq!(counts.iter().filter(|&&c| c < 5).count(), 39);
    assert_eq!(counts.iter().max(), Some(&116));

    let floor = vec_f32(&r.floor);
    assert!(floor.iter().all(|&f| f == 0.0 || f == 1.0));
    assert_eq!(floor.iter().sum::<f32>(), 153.0);
    assert!((r.log_radon.mean(Kind::Double).double_value(&[]) - 1.22462).abs() < 1e-4);

    let per_county = r.county_uranium();
    assert_eq!((per_county.size(), per_county.kind()), (vec![85], Kind::Float));
    assert!(per_county.index_select(0, &r.county).equal(&r.uranium));
}

#[test]
fn iris_facts() {
    let d = iris().unwrap();
    assert_eq!(d.len(), 150);
    assert_eq!((d.features.size(), d.features.kind()), (vec![150, 4], Kind::Float));
    assert_eq!((d.petal_length.size(), d.petal_length.kind()), (vec![150], Kind::Float));
    assert!(d.petal_length.equal(&d.features.select(1, 2)));
    assert_eq!(d.species_names, ["setosa", "versicolor", "virginica"]);
    let species = vec_i64(&d.species);
    assert_eq!(species, (0..150).map(|i| i / 50).collect::<Vec<i64>>());
    assert_eq!(vec_f32(&d.features.get(0)), [5.1, 3.5, 1.4, 0.2]);
    // Setosa (rows 0-49) is the small-petal cluster.
    let petal = vec_f32(&d.petal_length);
    let setosa_max = petal[..50].iter().cloned().fold(f32::MIN, f32::max);
    let others_min = petal[50..].iter().cloned().fold(f32::MAX, f32::min);
    assert_eq!((setosa_max, others_min), (1.9, 3.0));
}

fn assert_images(set: &ImageSet, n: i64, width: i64) {
    assert_eq!((set.images().size(), set.images().kind()), (vec![n, width], Kind::Float));
    assert_eq!((set.labels().size(), set.labels().kind()), (vec![n], Kind::Int64));
    assert_eq!((set.len(), set.width(), set.num_classes()), (n as usize, width, 10));
    assert_eq!(set.images().min().double_value(&[]), 0.0);
    assert_eq!(set.images().max().double_value(&[]), 1.0);
}

fn class_counts(set: &ImageSet) -> Vec<i64> {
    vec_i64(&set.labels().bincount(None::<Tensor>, 10))
}

#[test]
fn mnist_subset_and_per_class_split() {
    let mnist = mnist_subset().unwrap();
    assert_images(&mnist, 5000, 784);
    assert_eq!(class_counts(&mnist), [500; 10]);

    let (train, test) = mnist.split_per_class(400).unwrap();
    assert_images(&train, 4000, 784);
    assert_eq!(test.len(), 1000);
    assert_eq!(class_counts(&train), [400; 10]);
    assert_eq!(class_counts(&test), [100; 10]);
    // Rows are sorted by label: digit d's training rows are 500d..500d+400.
    assert!(train.images().get(400).equal(&mnist.images().get(500)));
    assert!(test.images().get(0).equal(&mnist.images().get(400)));
    assert!(test.images().get(999).equal(&mnist.images().get(4999)));

    match mnist.split_per_class(501) {
        Err(DataError::ClassTooSmall { class: 0, available: 500, requested: 501 }) => {}
        other => panic!("expected ClassTooSmall, got {other:?}"),
    }
}

#[test]
fn digits_and_shuffled_split() {
    let d = digits().unwrap();
    assert_images(&d, 1797, 64);
    assert_eq!(class_counts(&d), [178, 182, 177, 183, 181, 182, 181, 179, 174, 180]);
    assert_eq!(vec_i64(&d.labels().narrow(0, 0, 5)), [0, 1, 2, 3, 4]);

    let (train, test) = d.shuffled_split(0.8, 42).unwrap();
    assert_eq!((train.len(), test.len()), (1438, 359));
    let (train2, test2) = d.shuffled_split(0.8, 42).unwrap();
    assert!(train.images().equal(train2.images()) && test.labels().equal(test2.labels()));
    let (other, _) = d.shuffled_split(0.8, 43).unwrap();
    assert!(!train.labels().equal(other.labels()));
    // Together the two halves hold every row once.
    let all = Tensor::cat(&[train.images(), test.images()], 0);
    let sums = |t: &Tensor| vec_f32(&t.sum_dim_intlist(1, false, Kind::Float).sort(0, false).0);
    assert_eq!(sums(&all), sums(d.images()));

    assert!(matches!(d.shuffled_split(1.5, 0), Err(DataError::BadFraction(_))));
    let (all_train, none) = d.shuffled_split(1.0, 0).unwrap();
    assert_eq!((all_train.len(), none.len()), (1797, 0));
}

#[test]
fn image_set_validation() {
    let cpu = (Kind::Float, Device::Cpu);
    let labels = || Tensor::from_slice(&[0i64, 1, 2]);
    assert!(ImageSet::new(Tensor::zeros([3, 4], cpu), labels(), 4, 3).is_ok());
    match ImageSet::new(Tensor::zeros([3, 5], cpu), labels(), 4, 3) {
        Err(DataError::ImageShape { shape, width: 4 }) => assert_eq!(shape, [3, 5]),
        other => panic!("expected ImageShape, got {other:?}"),
    }
    assert!(matches!(ImageSet::new(Tensor::zeros([12], cpu), labels(), 4, 3), Err(DataError::ImageShape { .. })));
    assert!(matches!(ImageSet::new(Tensor::zeros([2, 4], cpu), labels(), 4, 3), Err(DataError::LabelShape { rows: 2, .. })));
    assert!(matches!(
        ImageSet::new(Tensor::zeros([3, 4], cpu), Tensor::from_slice(&[0i64, -1, 2]), 4, 3),
        Err(DataError::LabelOutOfRange { label: -1, num_classes: 3 })
    ));
    let err = ImageSet::new(Tensor::zeros([3, 4], cpu), labels(), 4, 2).unwrap_err();
    assert_eq!(err.to_string(), "image set: label 2 is outside 0..2");
    assert!(matches!(ImageSet::new(Tensor::zeros([3, 4], (Kind::Double, Device::Cpu)), labels(), 4, 3), Err(DataError::WrongKind { what: "images", .. })));
    assert!(matches!(ImageSet::new(Tensor::zeros([3, 4], cpu), Tensor::from_slice(&[0i32, 1, 2]), 4, 3), Err(DataError::WrongKind { what: "labels", .. })));
    let empty = ImageSet::new(Tensor::zeros([0, 4], cpu), Tensor::zeros([0], (Kind::Int64, Device::Cpu)), 4, 3);
    assert!(empty.unwrap().is_empty());
}
