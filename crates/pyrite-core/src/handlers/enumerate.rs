//! `enumerate` and `config_enumerate`: parallel enumeration of discrete sites.

use std::cell::Cell;
use std::rc::Rc;

use crate::error::{PyriteError, Result};
use crate::markov;
use crate::message::{Enumerate, Message, SiteKind};
use crate::runtime::{with_handler, Messenger};

struct EnumMessenger {
    first_available_dim: i64,
    next_dim: i64,
    /// Which variable each enumeration dimension holds now, shared with the sites that saw it.
    scope: Rc<Vec<(i64, usize)>>,
}

thread_local! {
    /// Identities of enumerated variables: unique within a thread, so that a guide's variables
    /// replayed into a model never share one with the model's own.
    static NEXT_ID: Cell<usize> = const { Cell::new(0) };
}

impl EnumMessenger {
    /// Records that `dim` now holds variable `id`.
    fn hold(&mut self, dim: i64, id: usize) {
        let scope = Rc::make_mut(&mut self.scope);
        scope.retain(|(d, _)| *d != dim);
        scope.push((dim, id));
    }

    /// Enumerates the message's distribution in a free dimension (one `markov` released, else
    /// the next one to the left).
    fn enumerate_site(&mut self, msg: &mut Message) -> Result<()> {
        let dist = msg.require_dist()?;
        if !dist.has_enumerate_support() {
            return Err(PyriteError::Enumerate {
                site: msg.name.clone(),
                problem: format!("{} has no finite support to enumerate (only discrete sites can be enumerated)", dist.name()),
            });
        }
        if self.first_available_dim >= 0 {
            return Err(PyriteError::Enumerate {
                site: msg.name.clone(),
                problem: format!("first_available_dim must be negative (-1 minus the number of nested plates), got {}", self.first_available_dim),
            });
        }
        if let Some(f) = msg.plates.iter().find(|f| f.dim <= self.first_available_dim) {
            return Err(PyriteError::Enumerate {
                site: msg.name.clone(),
                problem: format!("plate `{}` uses dim {} but enumeration starts at dim {}; raise max_plate_nesting", f.name, f.dim, self.first_available_dim),
            });
        }
        let dim = markov::reuse_dim().unwrap_or_else(|| {
            let d = self.next_dim;
            self.next_dim -= 1;
            d
        });
        markov::record_dim(dim);
        let id = NEXT_ID.with(|n| {
            let id = n.get();
            n.set(id + 1);
            id
        });
        let support = dist.enumerate_support(false).map_err(|e| PyriteError::at_site(&msg.name, e))?;
        let event = dist.event_shape();
        let k = support.size()[0];
        let mut shape = vec![k];
        shape.extend(std::iter::repeat_n(1, (-dim - 1) as usize));
        shape.extend_from_slice(event);
        msg.value = Some(support.reshape(shape.as_slice()));
        msg.infer.enumerate_dim = Some(dim);
        msg.infer.enumerate_id = Some(id);
        msg.done = true;
        self.hold(dim, id);
        Ok(())
    }
}

impl Messenger for EnumMessenger {
    fn process_message(&mut self, msg: &mut Message) -> Result<()> {
        if msg.kind != SiteKind::Sample {
            return Ok(());
        }
        if msg.done {
            // A variable enumerated elsewhere (a guide's, replayed): it holds its dimension here.
            if let (Some(dim), Some(id)) = (msg.infer.enumerate_dim, msg.infer.enumerate_id) {
                self.hold(dim, id);
            }
        } else if !msg.is_observed && msg.infer.enumerate == Some(Enumerate::Parallel) {
            self.enumerate_site(msg)?;
        }
        if !self.scope.is_empty() {
            msg.infer.enum_scope = Some(self.scope.clone());
        }
        Ok(())
    }
}

/// Runs `f` with each discrete site marked for parallel enumeration taking all its values at
/// once, in a new dimension: the first such site at `first_available_dim` (e.g. `-2` when the
/// model has one plate), the next one to its left, and so on (`poutine.enum`).
///
/// ```
/// use pyrite_core::prelude::*;
/// use pyrite_distributions::prelude::*;
/// use tch::Tensor;
/// let probs = Tensor::from_slice(&[0.3f32, 0.7]);
/// let locs = Tensor::from_slice(&[-1.0f32, 1.0]);
/// let data = Tensor::from_slice(&[0.9f32, 1.1, 1.3]);
/// let model = || -> Result<()> {
///     let z = SampleSite::new("z", Categorical::new(&probs)?).enumerate().run()?;
///     plate("data", 3, |_| observe("x", Normal::new(locs.index(&[Some(&z)]), 1.0)?, &data))?;
///     Ok(())
/// };
/// // The plate uses dim -1, so enumeration starts at dim -2.
/// let tr = get_trace(|| enumerate(-2, model))?;
/// let z = tr.site("z").unwrap();
/// assert_eq!(z.value.size(), vec![2, 1]);
/// assert_eq!(z.infer.enumerate_dim, Some(-2));
/// // One row of log-densities per value of `z`.
/// assert_eq!(tr.site("x").unwrap().log_prob()?.size(), vec![2, 3]);
/// # Ok::<(), PyriteError>(())
/// ```
///
/// # Errors
///
/// `enumerate` returns what `f` returns, like the other handlers. Each marked site inside `f`
/// fails with [`PyriteError::Enumerate`] naming it when `first_available_dim` is not negative,
/// when its distribution has no finite support, or when a plate uses the dimension it needs.
pub fn enumerate<R>(first_available_dim: i64, f: impl FnOnce() -> R) -> R {
    with_handler(EnumMessenger { first_available_dim, next_dim: first_available_dim, scope: Rc::new(Vec::new()) }, f).0
}

struct ConfigEnumerateMessenger;

impl Messenger for ConfigEnumerateMessenger {
    fn process_message(&mut self, msg: &mut Message) -> Result<()> {
        if msg.kind == SiteKind::Sample && !msg.is_observed && msg.infer.enumerate.is_none() {
            if let Some(d) = msg.dist.as_ref() {
                if d.has_enumerate_support() {
                    msg.infer.enumerate = Some(Enumerate::Parallel);
                }
            }
        }
        Ok(())
    }
}

/// Marks every discrete latent site inside `f` for parallel enumeration (`config_enumerate`).
/// Handlers see a message innermost first, so `config_enumerate` goes inside `enumerate`.
///
/// ```
/// use pyrite_core::prelude::*;
/// use pyrite_distributions::prelude::*;
/// let model = || -> Result<()> {
///     sample("z", Bernoulli::new(0.3)?)?;
///     sample("x", Normal::new(0.0, 1.0)?)?;
///     Ok(())
/// };
/// let tr = get_trace(|| enumerate(-1, || config_enumerate(model)))?;
/// let (z, x) = (tr.site("z").unwrap(), tr.site("x").unwrap());
/// assert_eq!(z.infer.enumerate, Some(Enumerate::Parallel));
/// assert_eq!(z.value.size(), vec![2]); // both values of the Bernoulli
/// assert_eq!(x.infer.enumerate, None); // continuous: left alone
/// # Ok::<(), PyriteError>(())
/// ```
pub fn config_enumerate<R>(f: impl FnOnce() -> R) -> R {
    with_handler(ConfigEnumerateMessenger, f).0
}
