//! The kernels' large matrix products: a generated kernel calls [`gemm`] (or [`gemm_f32`] for a
//! float32 workspace) through the pointer after its constants, and libtorch computes the product
//! with its BLAS, so that a network's layers keep libtorch's matrix multiplication while the
//! compiled code fuses what lies between them.

use std::ffi::{c_int, c_long};

use tch::{Device, Kind, TchError, Tensor};

/// The callback's C type, declared at the top of every kernel (after `real`).
pub(crate) const C_DECLARATION: &str =
    "typedef void (*pyrite_gemm_fn)(int, int, long, long, long, const real *, long, const real *, long, double, real *, long);\n\n";

/// An element type of the kernel's workspace.
trait Element: Copy {
    const KIND: Kind;
    const NAN: Self;
}

impl Element for f64 {
    const KIND: Kind = Kind::Double;
    const NAN: Self = f64::NAN;
}

impl Element for f32 {
    const KIND: Kind = Kind::Float;
    const NAN: Self = f32::NAN;
}

/// A `[rows, cols]` view of the row-major matrix at `p` whose rows are `ld` long, or of the
/// transpose of the `[cols, rows]` matrix there when `transposed`.
///
/// # Safety
///
/// `p` must hold the matrix for as long as the view is used.
unsafe fn view<T: Element>(p: *const T, rows: i64, cols: i64, ld: i64, transposed: bool) -> Result<Tensor, TchError> {
    let strides = if transposed { [1, ld] } else { [ld, 1] };
    // SAFETY: the caller's promise.
    unsafe { Tensor::f_from_blob(p as *const u8, &[rows, cols], &strides, T::KIND, Device::Cpu) }
}

/// `c = beta c + op(a) op(b)` in row-major order: `op(a)` is `[m, k]` (held as its `[k, m]`
/// transpose when `ta`), `op(b)` is `[k, n]` (held as `[n, k]` when `tb`), `c` is `[m, n]`;
/// `lda`, `ldb` and `ldc` are the held rows' lengths; `beta` is 0 or 1. A failure (none is
/// expected: the shapes were checked when the program was lowered) fills `c` with NaN, which
/// the caller's finiteness check reports; nothing unwinds into the C caller.
#[allow(clippy::too_many_arguments)]
pub(crate) extern "C" fn gemm(
    ta: c_int,
    tb: c_int,
    m: c_long,
    n: c_long,
    k: c_long,
    a: *const f64,
    lda: c_long,
    b: *const f64,
    ldb: c_long,
    beta: f64,
    c: *mut f64,
    ldc: c_long,
) {
    product(ta, tb, m, n, k, a, lda, b, ldb, beta, c, ldc);
}

/// [`gemm`] on a float32 workspace (libtorch's `sgemm`).
#[allow(clippy::too_many_arguments)]
pub(crate) extern "C" fn gemm_f32(
    ta: c_int,
    tb: c_int,
    m: c_long,
    n: c_long,
    k: c_long,
    a: *const f32,
    lda: c_long,
    b: *const f32,
    ldb: c_long,
    beta: f64,
    c: *mut f32,
    ldc: c_long,
) {
    product(ta, tb, m, n, k, a, lda, b, ldb, beta, c, ldc);
}

/// [`gemm`] for either element type.
#[allow(clippy::too_many_arguments)]
fn product<T: Element>(
    ta: c_int,
    tb: c_int,
    m: c_long,
    n: c_long,
    k: c_long,
    a: *const T,
    lda: c_long,
    b: *const T,
    ldb: c_long,
    beta: f64,
    c: *mut T,
    ldc: c_long,
) {
    let product = || -> Result<(), TchError> {
        // SAFETY: the kernel passes pointers into its workspace that hold these matrices for
        // the whole call.
        let (a, b, mut out) = unsafe { (view(a, m, k, lda, ta != 0)?, view(b, k, n, ldb, tb != 0)?, view(c, m, n, ldc, false)?) };
        if beta == 0.0 {
            let _ = a.f_mm_out(&out, &b)?;
        } else {
            let _ = out.f_addmm_(&a, &b)?;
        }
        Ok(())
    };
    if !matches!(std::panic::catch_unwind(std::panic::AssertUnwindSafe(product)), Ok(Ok(()))) {
        for r in 0..m {
            for j in 0..n {
                // SAFETY: `c` holds `m` rows of `ldc` elements.
                unsafe { *c.add((r * ldc + j) as usize) = T::NAN };
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The four layouts against libtorch's own product.
    #[test]
    fn products_in_every_layout_equal_libtorchs() {
        let (m, n, k) = (3i64, 4i64, 5i64);
        let a = Tensor::randn([m, k], (Kind::Double, Device::Cpu));
        let b = Tensor::randn([k, n], (Kind::Double, Device::Cpu));
        let expected = Vec::<f64>::try_from(a.mm(&b).reshape([-1])).unwrap();
        for (ta, tb) in [(0, 0), (0, 1), (1, 0), (1, 1)] {
            let held_a = if ta == 1 { a.tr().contiguous() } else { a.shallow_clone() };
            let held_b = if tb == 1 { b.tr().contiguous() } else { b.shallow_clone() };
            let (va, vb) = (Vec::<f64>::try_from(held_a.reshape([-1])).unwrap(), Vec::<f64>::try_from(held_b.reshape([-1])).unwrap());
            let (lda, ldb) = (if ta == 1 { m } else { k }, if tb == 1 { k } else { n });
            let mut out = vec![1.0; (m * n) as usize];
            gemm(ta, tb, m, n, k, va.as_ptr(), lda, vb.as_ptr(), ldb, 1.0, out.as_mut_ptr(), n);
            for (o, e) in out.iter().zip(&expected) {
                assert!((o - (e + 1.0)).abs() < 1e-12, "ta {ta} tb {tb}: {o} against {}", e + 1.0);
            }
            gemm(ta, tb, m, n, k, va.as_ptr(), lda, vb.as_ptr(), ldb, 0.0, out.as_mut_ptr(), n);
            for (o, e) in out.iter().zip(&expected) {
                assert!((o - e).abs() < 1e-12, "ta {ta} tb {tb}, beta 0: {o} against {e}");
            }
        }
    }
}
