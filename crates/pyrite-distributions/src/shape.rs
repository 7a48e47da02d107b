//! Shape arithmetic: broadcasting as in NumPy and torch.

/// The broadcast of several shapes, or `None` when they do not broadcast.
///
/// ```
/// use pyrite_distributions::shape::broadcast_shapes;
/// assert_eq!(broadcast_shapes(&[&[3, 1], &[4]]), Some(vec![3, 4]));
/// assert_eq!(broadcast_shapes(&[&[3], &[4]]), None);
/// ```
pub fn broadcast_shapes(shapes: &[&[i64]]) -> Option<Vec<i64>> {
    let rank = shapes.iter().map(|s| s.len()).max().unwrap_or(0);
    let mut out = vec![1i64; rank];
    for shape in shapes {
        let offset = rank - shape.len();
        for (i, &d) in shape.iter().enumerate() {
            let o = &mut out[offset + i];
            if *o == 1 {
                *o = d;
            } else if d != 1 && d != *o {
                return None;
            }
        }
    }
    Some(out)
}

/// `a ++ b`: a sample shape followed by a batch shape, and so on.
pub fn concat(a: &[i64], b: &[i64]) -> Vec<i64> {
    let mut v = Vec::with_capacity(a.len() + b.len());
    v.extend_from_slice(a);
    v.extend_from_slice(b);
    v
}

/// Number of elements of a shape.
pub fn numel(shape: &[i64]) -> i64 {
    shape.iter().product()
}
