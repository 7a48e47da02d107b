//! Every way tch offers to read a tensor's values on the host, applied to a value computed from
//! a capture's input, is named in the graph's `host_read`, and the graph is refused by `lower`;
//! the same reads of a constant (data), or inside pyrite's own checks, are not.

use pyrite::compile::{lower, trace, Graph};
use pyrite::core::host_reads::checking;
use pyrite::prelude::*;

/// Traces `x * 2` summed, with `read` applied to `x * 2` (a value depending on the input)
/// while tracing.
fn traced_with(read: impl Fn(&Tensor)) -> Graph {
    let x = Tensor::from_slice(&[0.5f64, -1.0, 2.0]);
    trace(&[x.shallow_clone()], || {
        let y = &x * 2.0;
        read(&y);
        Ok(y.sum(Kind::Double))
    })
    .unwrap()
}

fn assert_refused(what: &str, read: impl Fn(&Tensor)) {
    let graph = traced_with(read);
    let seen = graph.host_read.clone().unwrap_or_else(|| panic!("{what}: the read was not seen"));
    let refusal = lower(&graph).err().unwrap_or_else(|| panic!("{what}: lowered despite the read")).0;
    assert!(refusal.contains("on the host") && refusal.contains(&seen), "{what}: {refusal}");
}

#[test]
fn double_value_and_int64_value() {
    assert_refused("double_value", |y| assert_eq!(y.double_value(&[0]), 1.0));
    assert_refused("double_value of a sum", |y| assert_eq!(y.sum(Kind::Double).double_value(&[]), 3.0));
    assert_refused("int64_value", |y| assert_eq!(y.to_kind(Kind::Int64).int64_value(&[2]), 4));
}

#[test]
fn scalar_conversions() {
    assert_refused("f64::try_from", |y| assert_eq!(f64::try_from(y.sum(Kind::Double)).unwrap(), 3.0));
    assert_refused("i64::try_from", |y| assert_eq!(i64::try_from(y.sum(Kind::Double).to_kind(Kind::Int64)).unwrap(), 3));
    assert_refused("bool::try_from of a comparison", |y| assert!(bool::try_from(y.gt(-5.0).all()).unwrap()));
    assert_refused("f32::try_from", |y| assert_eq!(f32::try_from(y.sum(Kind::Double).to_kind(Kind::Float)).unwrap(), 3.0));
}

#[test]
fn vectors_and_copies() {
    assert_refused("Vec::<f64>::try_from", |y| assert_eq!(Vec::<f64>::try_from(y).unwrap(), vec![1.0, -2.0, 4.0]));
    assert_refused("Vec::<f32>::try_from (a dtype conversion first)", |y| assert_eq!(Vec::<f32>::try_from(y).unwrap().len(), 3));
    assert_refused("copy_data", |y| {
        let mut out = [0.0f64; 3];
        y.copy_data(&mut out, 3);
        assert_eq!(out[2], 4.0);
    });
    assert_refused("copy_data_u8", |y| {
        let mut out = [0u8; 24];
        y.copy_data_u8(&mut out, 3);
    });
    assert_refused("data_ptr", |y| {
        // SAFETY: a contiguous float64 tensor of 3 elements, alive for the read.
        let first = unsafe { *(y.data_ptr() as *const f64) };
        assert_eq!(first, 1.0);
    });
    assert_refused("a view's values", |y| assert_eq!(Vec::<f64>::try_from(y.narrow(0, 1, 2)).unwrap(), vec![-2.0, 4.0]));
}

#[test]
fn comparisons_read_as_bools() {
    assert_refused("equal", |y| assert!(!y.equal(&Tensor::from_slice(&[0.0f64, 0.0, 0.0]))));
    assert_refused("allclose", |y| assert!(y.allclose(&Tensor::from_slice(&[1.0f64, -2.0, 4.0]), 1e-9, 1e-9, false)));
    assert_refused("is_nonzero", |y| assert!(y.sum(Kind::Double).is_nonzero()));
}

#[test]
fn formatting_and_printing() {
    assert_refused("print", |y| y.print());
    assert_refused("Display", |y| assert!(!format!("{y}").is_empty()));
    assert_refused("Display of a scalar", |y| assert!(!format!("{}", y.sum(Kind::Double)).is_empty()));
}

#[test]
fn the_input_itself() {
    let x = Tensor::from_slice(&[0.5f64, -1.0]);
    let graph = trace(&[x.shallow_clone()], || if x.double_value(&[0]) > 0.0 { Ok(x.sum(Kind::Double)) } else { Ok(x.sum(Kind::Double) * 2.0) }).unwrap();
    assert!(graph.host_read.is_some());
}

#[test]
fn reads_of_data_and_of_checks_are_not_host_reads() {
    let data = Tensor::from_slice(&[1.0f64, 2.0]);
    let graph = traced_with(|y| {
        // The data the model was given: a constant of the capture.
        assert_eq!(data.double_value(&[1]), 2.0);
        assert_eq!(Vec::<f64>::try_from(&data).unwrap().len(), 2);
        // pyrite's own checks (only to raise an error).
        assert!(checking(|| bool::try_from(y.isfinite().all()).unwrap()));
        assert!(checking(|| y.double_value(&[0])) == 1.0);
    });
    assert_eq!(graph.host_read, None);
    lower(&graph).unwrap();
}

/// After a check read a value through its data pointer (using the storage's one-shot hook), a
/// read of the same value that follows at once is still seen.
#[test]
fn a_read_right_after_a_check_is_seen() {
    assert_refused("copy_data after a check", |y| {
        let _ = checking(|| Vec::<f64>::try_from(y).unwrap());
        let mut out = [0.0f64; 3];
        y.copy_data(&mut out, 3);
    });
}

/// An operation that writes a watched value (an in-place update: its kernel uses the storage's
/// one-shot hook) does not end the watch: a read that follows is still seen, after one update
/// or many.
#[test]
fn a_read_after_in_place_updates_is_seen() {
    for updates in [1, 200] {
        assert_refused("copy_data after in-place updates", |y| {
            let mut z = y.shallow_clone();
            for _ in 0..updates {
                z += 1.0;
            }
            let mut out = [0.0f64; 3];
            y.copy_data(&mut out, 3);
        });
    }
}

/// Two captures on two threads watching the same input: the one that ends first leaves the
/// other's watch in place, so a read the other makes afterwards is still seen.
#[test]
fn a_capture_ending_on_another_thread_leaves_the_watch_on_a_shared_input() {
    let x = Tensor::from_slice(&[0.5f64, -1.0, 2.0]);
    let (both_started, first_ended) = (std::sync::Barrier::new(2), std::sync::Barrier::new(2));
    std::thread::scope(|scope| {
        let (x_long, x_short) = (x.shallow_clone(), x.shallow_clone());
        let (started, ended) = (&both_started, &first_ended);
        let long = scope.spawn(move || {
            trace(&[x_long.shallow_clone()], || {
                started.wait();
                ended.wait();
                let mut out = [0.0f64; 3];
                x_long.copy_data(&mut out, 3);
                Ok((&x_long * 2.0).sum(Kind::Double))
            })
            .unwrap()
            .host_read
        });
        let short = trace(&[x_short.shallow_clone()], || {
            started.wait();
            Ok((&x_short * 3.0).sum(Kind::Double))
        })
        .unwrap();
        ended.wait();
        assert_eq!(short.host_read, None);
        assert!(long.join().unwrap().is_some(), "the read after the other capture ended was not seen");
    });
}

/// The hooks are taken off when the capture ends: reading the same tensors afterwards works,
/// and a second capture starts clean.
#[test]
fn nothing_is_left_behind() {
    let x = Tensor::from_slice(&[0.5f64, -1.0, 2.0]);
    let kept = std::cell::RefCell::new(None);
    let graph = trace(&[x.shallow_clone()], || {
        let y = &x * 2.0;
        *kept.borrow_mut() = Some(y.shallow_clone());
        Ok(y.sum(Kind::Double))
    })
    .unwrap();
    assert_eq!(graph.host_read, None);
    let y = kept.into_inner().unwrap();
    assert_eq!(Vec::<f64>::try_from(&y).unwrap(), vec![1.0, -2.0, 4.0]);
    assert_eq!(Vec::<f64>::try_from(&x).unwrap(), vec![0.5, -1.0, 2.0]);
    assert_eq!(traced_with(|_| {}).host_read, None);
}
