//! `enumerate` and `config_enumerate`: parallel enumeration of discrete sites.


use crate::error::{PyriteError, Result};
use crate::message::{Enumerate, Message, SiteKind};
use crate::runtime::{with_handler, Messenger};

struct EnumMessenger {
    first_available_dim: i64,
    next_dim: i64,
}

impl Messenger for EnumMessenger {
    fn process_message(&mut self, msg: &mut Message) -> Result<()> {
        if msg.kind != SiteKind::Sample || msg.is_observed || msg.infer.enumerate != Some(Enumerate::Parallel) || msg.done {
            return Ok(());
        }
        let dist = msg.dist.as_ref().expect("sample message without distribution");
        if !dist.has_enumerate_support() {
            return Err(PyriteError::Enumerate {
                site: msg.name.clone(),
                problem: format!("{} has no finite support to enumerate (only discrete sites can be enumerated)", dist.name()),
            });
        }
        if let Some(f) = msg.plates.iter().find(|f| f.dim <= self.first_available_dim) {
            return Err(PyriteError::Enumerate {
                site: msg.name.clone(),
                problem: format!(
                    "plate `{}` uses dim {} but enumeration starts at dim {}; raise max_plate_nesting",
                    f.name, f.dim, self.first_available_dim
                ),
            });
        }
        let dim = self.next_dim;
        self.next_dim -= 1;
        let support = dist.enumerate_support(false).map_err(|e| PyriteError::at_site(&msg.name, e))?;
        let event = dist.event_shape();
        let k = support.size()[0];
        let mut shape = vec![k];
        shape.extend(std::iter::repeat(1).take((-dim - 1) as usize));
        shape.extend_from_slice(event);
        msg.value = Some(support.reshape(shape.as_slice()));
        msg.infer.enumerate_dim = Some(dim);
        msg.done = true;
        Ok(())
    }
    fn into_any(self: Box<Self>) -> Box<dyn std::any::Any> {
        self
    }
}

/// Runs `f` with each discrete site marked for parallel enumeration taking all its values at
/// once, in a new dimension: the first such site at `first_available_dim` (e.g. `-2` when the
/// model has one plate), the next one to its left, and so on (`poutine.enum`).
pub fn enumerate<R>(first_available_dim: i64, f: impl FnOnce() -> R) -> R {
    with_handler(EnumMessenger { first_available_dim, next_dim: first_available_dim }, f).0
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
    fn into_any(self: Box<Self>) -> Box<dyn std::any::Any> {
        self
    }
}

/// Marks every discrete latent site inside `f` for parallel enumeration (`config_enumerate`).
pub fn config_enumerate<R>(f: impl FnOnce() -> R) -> R {
    with_handler(ConfigEnumerateMessenger, f).0
}
