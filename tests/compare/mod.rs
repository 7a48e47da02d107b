//! Model comparison and export: WAIC, PSIS-LOO and `compare` against ArviZ on the fixed matrices
//! of `tests/golden/compare.json` (written by `scripts/gen_golden_compare.py`), `log_likelihood`
//! against hand-computed densities, and `.npz` files read back by a zip reader, by hand and (when
//! a Python with numpy is at hand) by numpy and ArviZ.

mod golden;
mod log_likelihood;
mod npz;
