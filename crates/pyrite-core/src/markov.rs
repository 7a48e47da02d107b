//! `markov`: a loop whose steps depend only on the last few steps, so that the `enumerate`
//! handler can give a new step's discrete variables the dimensions of variables that have gone
//! out of scope (Pyro's `pyro.markov`). A hidden Markov chain of any length then needs two
//! enumeration dimensions, not one per step.
//!
//! ```
//! use pyrite_core::prelude::*;
//! use pyrite_distributions::prelude::*;
//! use tch::Tensor;
//! let trans = Tensor::from_slice(&[0.9f32, 0.1, 0.2, 0.8]).view([2, 2]);
//! let hmm = || -> Result<()> {
//!     let mut z = Tensor::from(0i64);
//!     for t in markov(0..100) {
//!         z = SampleSite::new(&format!("z_{t}"), Categorical::new(trans.index(&[Some(&z)]))?).enumerate().run()?;
//!     }
//!     Ok(())
//! };
//! let tr = get_trace(|| enumerate(-1, hmm))?;
//! // 100 variables on two dimensions, taking turns
//! let dims: Vec<i64> = (0..4).map(|t| tr.site(&format!("z_{t}")).unwrap().infer.enumerate_dim.unwrap()).collect();
//! assert_eq!(dims, [-1, -2, -1, -2]);
//! # Ok::<(), PyriteError>(())
//! ```

use std::cell::RefCell;
use std::collections::VecDeque;

struct Frame {
    history: usize,
    /// The dimensions allocated in each of the last steps, oldest first.
    steps: VecDeque<Vec<i64>>,
    /// Dimensions whose variables are out of scope, free for the next allocation.
    released: Vec<i64>,
}

thread_local! {
    static FRAMES: RefCell<Vec<Frame>> = const { RefCell::new(Vec::new()) };
}

/// The iterator [`markov`] returns: each item starts a new step of the innermost chain.
pub struct Markov<I> {
    inner: I,
    history: usize,
    entered: bool,
}

/// Iterates over `iter` as the steps of a Markov chain that depends on the previous step only
/// (`pyro.markov(range(T))`).
pub fn markov<I: IntoIterator>(iter: I) -> Markov<I::IntoIter> {
    markov_with_history(iter, 1)
}

/// As [`markov`], for chains whose steps depend on the last `history` steps.
pub fn markov_with_history<I: IntoIterator>(iter: I, history: usize) -> Markov<I::IntoIter> {
    Markov { inner: iter.into_iter(), history, entered: false }
}

impl<I: Iterator> Iterator for Markov<I> {
    type Item = I::Item;
    fn next(&mut self) -> Option<I::Item> {
        FRAMES.with(|f| {
            let mut frames = f.borrow_mut();
            if !self.entered {
                self.entered = true;
                frames.push(Frame { history: self.history, steps: VecDeque::new(), released: Vec::new() });
            }
            // The frame this iterator pushed on first use (always there on the thread that
            // entered it; an iterator moved to another thread goes on without one).
            if let Some(frame) = frames.last_mut() {
                frame.steps.push_back(Vec::new());
                while frame.steps.len() > frame.history + 1 {
                    let old = frame.steps.pop_front().unwrap_or_default();
                    frame.released.extend(old);
                }
            }
        });
        self.inner.next()
    }
}

impl<I> Drop for Markov<I> {
    fn drop(&mut self) {
        if self.entered {
            FRAMES.with(|f| f.borrow_mut().pop());
        }
    }
}

/// For the `enumerate` handler: a dimension freed by the innermost chain, if any.
pub(crate) fn reuse_dim() -> Option<i64> {
    FRAMES.with(|f| f.borrow_mut().last_mut().and_then(|frame| frame.released.pop()))
}

/// For the `enumerate` handler: records that the current step of the innermost chain uses `dim`.
pub(crate) fn record_dim(dim: i64) {
    FRAMES.with(|f| {
        if let Some(step) = f.borrow_mut().last_mut().and_then(|frame| frame.steps.back_mut()) {
            step.push(dim);
        }
    });
}
