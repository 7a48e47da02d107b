//! `plate`: conditionally independent dimensions, with subsampling.

use std::cell::RefCell;
use std::rc::Rc;

use tch::{Device, Kind, Tensor};

use crate::error::{PyriteError, Result};
use crate::message::{Message, PlateFrame, SiteKind};
use crate::runtime::{apply_stack, broadcast_to_plates, with_handler, Messenger};

thread_local! {
    /// Dimensions owned by the plates active on this thread.
    static ACTIVE_DIMS: RefCell<Vec<i64>> = const { RefCell::new(Vec::new()) };
}

/// A plate statement, configured with a builder and entered with `run`.
///
/// ```
/// use pyrite_core::prelude::*;
/// use pyrite_distributions::prelude::*;
/// let (_, tr) = trace(|| Plate::new("data", 100).subsample_size(10).run(|p| {
///     sample("x", Normal::new(0.0, 1.0)?)?;
///     assert_eq!(p.indices().size(), vec![10]);
///     Ok(())
/// }));
/// assert_eq!(tr.site("x").unwrap().value.size(), vec![10]);
/// ```
#[derive(Debug)]
pub struct Plate {
    name: String,
    size: i64,
    subsample_size: Option<i64>,
    subsample: Option<Tensor>,
    dim: Option<i64>,
    device: Device,
}

/// Inside a plate: its indices and helpers.
#[derive(Debug)]
pub struct PlateScope {
    name: Rc<str>,
    size: i64,
    indices: Option<Tensor>,
    subsample_size: i64,
    device: Device,
}

impl PlateScope {
    /// The indices of the current subsample (`0..size` without subsampling).
    pub fn indices(&self) -> Tensor {
        match &self.indices {
            Some(t) => t.shallow_clone(),
            None => Tensor::arange(self.size, (Kind::Int64, self.device)),
        }
    }
    /// Selects the current subsample of `data` along dimension `dim`, which must have the
    /// plate's full size (all of `data` without subsampling, without a copy).
    ///
    /// ```
    /// use pyrite_core::prelude::*;
    /// let data = tch::Tensor::from_slice(&[10.0f32, 11.0, 12.0, 13.0]);
    /// let picked = Plate::new("data", 4).subsample(&tch::Tensor::from_slice(&[3i64, 1])).run(|p| p.subsample(&data, 0))?;
    /// assert_eq!(Vec::<f32>::try_from(&picked).unwrap(), [13.0, 11.0]);
    /// // Data of another size along `dim` is refused, naming the plate.
    /// let err = plate("data", 4, |p| p.subsample(&data.narrow(0, 0, 3), 0)).unwrap_err();
    /// assert_eq!(err.to_string(), "plate `data`: cannot subsample data of shape [3] along dim 0: it has size 3 there, the plate has size 4");
    /// # Ok::<(), PyriteError>(())
    /// ```
    ///
    /// # Errors
    ///
    /// [`PyriteError::Plate`] when `data` has no dimension `dim` or its size there is not the
    /// plate's size.
    pub fn subsample(&self, data: &Tensor, dim: i64) -> Result<Tensor> {
        let shape = data.size();
        let rank = shape.len() as i64;
        let d = if dim < 0 { dim + rank } else { dim };
        let problem = if !(0..rank).contains(&d) {
            format!("cannot subsample data of shape {shape:?} along dim {dim}: it has no such dimension")
        } else if shape[d as usize] != self.size {
            format!("cannot subsample data of shape {shape:?} along dim {dim}: it has size {} there, the plate has size {}", shape[d as usize], self.size)
        } else {
            match &self.indices {
                // Indices outside `0..size` (given with validation off) are libtorch's to refuse.
                // `to_device` cannot fail: the target is `data`'s own device.
                Some(idx) => match data.f_index_select(d, &idx.to_device(data.device())) {
                    Ok(t) => return Ok(t),
                    Err(e) => format!("cannot subsample data of shape {shape:?} along dim {dim}: {}", pyrite_distributions::error::torch_message(&e)),
                },
                None => return Ok(data.shallow_clone()),
            }
        };
        Err(PyriteError::Plate { plate: self.name.to_string(), problem })
    }
    /// The size of the current subsample.
    pub fn subsample_size(&self) -> i64 {
        self.subsample_size
    }
    /// The full size.
    pub fn size(&self) -> i64 {
        self.size
    }
}

/// `plate(name, size, |p| ...)`: the shorthand for `Plate::new(name, size).run(...)`.
pub fn plate<R>(name: &str, size: i64, f: impl FnOnce(&PlateScope) -> Result<R>) -> Result<R> {
    Plate::new(name, size).run(f)
}

impl Plate {
    /// A plate of `size` independent elements, taking the next free dimension from the right.
    pub fn new(name: &str, size: i64) -> Self {
        Plate { name: name.to_string(), size, subsample_size: None, subsample: None, dim: None, device: pyrite_distributions::default_device() }
    }
    /// Draws a random subsample of this size each time (log-densities are scaled by
    /// `size / subsample_size`).
    pub fn subsample_size(mut self, n: i64) -> Self {
        self.subsample_size = Some(n);
        self
    }
    /// Uses these subsample indices.
    pub fn subsample(mut self, indices: &Tensor) -> Self {
        self.subsample = Some(indices.shallow_clone());
        self
    }
    /// The (negative) tensor dimension this plate owns.
    pub fn dim(mut self, dim: i64) -> Self {
        self.dim = Some(dim);
        self
    }
    /// Device for the indices (default: the thread's default device, see
    /// [`set_default_device`](pyrite_distributions::set_default_device)).
    pub fn device(mut self, device: Device) -> Self {
        self.device = device;
        self
    }

    /// Enters the plate and runs `f` inside it.
    pub fn run<R>(self, f: impl FnOnce(&PlateScope) -> Result<R>) -> Result<R> {
        self.build()?.enter(f)
    }

    /// Draws the subsample (once) and returns a plate that can be entered several times with
    /// the same indices, as an autoguide does for each of its sites.
    pub fn build(self) -> Result<BuiltPlate> {
        let plate_err = |problem: String| PyriteError::Plate { plate: self.name.clone(), problem };
        if self.size < 0 {
            return Err(plate_err(format!("size must be nonnegative, got {}", self.size)));
        }
        // A device given with `.device(..)` that libtorch cannot use is an error here, not a
        // panic when the indices are made (the default device was checked when it was set).
        if self.device != pyrite_distributions::default_device() {
            pyrite_distributions::device::check_device(self.device)?;
        }
        if let Some(d) = self.dim {
            if d >= 0 {
                return Err(plate_err(format!("dim must be negative, got {d}")));
            }
        }
        // The size of the subsample to draw or use, if any.
        let requested = match (&self.subsample, self.subsample_size) {
            (Some(t), _) => {
                if t.dim() != 1 {
                    return Err(plate_err(format!("subsample indices must be 1-d, got shape {:?}", t.size())));
                }
                if t.kind() != Kind::Int64 {
                    return Err(plate_err(format!("subsample indices must be an Int64 tensor, got {:?}", t.kind())));
                }
                // One read of the device, as for the other checks that validation switches.
                if pyrite_distributions::validation_enabled() && t.numel() > 0 {
                    let outside = t.lt(0).logical_or(&t.ge(self.size)).any();
                    if crate::host_reads::checking(|| bool::try_from(&outside).unwrap_or(true)) {
                        return Err(plate_err(format!("subsample indices must lie in 0..{}, got some outside", self.size)));
                    }
                }
                Some(t.size()[0])
            }
            (None, Some(n)) if n < self.size => Some(n),
            (None, _) => None,
        };
        let (indices, subsample_size) = match requested {
            None => (None, self.size),
            Some(n) => {
                if n <= 0 {
                    return Err(plate_err(format!("subsample_size must be positive, got {n}")));
                }
                // Subsample indices go through the stack (so `replay` gives the model the guide's).
                let mut msg = Message::new(&self.name, SiteKind::Subsample);
                msg.subsample = Some((self.size, n));
                msg.value = self.subsample.as_ref().map(|t| t.shallow_clone());
                apply_stack(&mut msg)?;
                // Cannot fail: `self.device` was checked above.
                let idx = msg.into_value()?.to_device(self.device);
                (Some(idx), n)
            }
        };
        let name: Rc<str> = Rc::from(self.name.as_str());
        Ok(BuiltPlate { name: name.clone(), dim: self.dim, scope: PlateScope { name, size: self.size, indices, subsample_size, device: self.device } })
    }
}

/// A plate whose subsample is drawn: enter it as often as needed.
#[derive(Debug)]
pub struct BuiltPlate {
    name: Rc<str>,
    dim: Option<i64>,
    scope: PlateScope,
}

impl BuiltPlate {
    /// The plate's indices and sizes.
    pub fn scope(&self) -> &PlateScope {
        &self.scope
    }
    /// The plate's name.
    pub fn name(&self) -> &str {
        &self.name
    }
    /// Runs `f` inside the plate.
    pub fn enter<R>(&self, f: impl FnOnce(&PlateScope) -> Result<R>) -> Result<R> {
        let active = ACTIVE_DIMS.with(|d| d.borrow().clone());
        let dim = match self.dim {
            Some(d) if active.contains(&d) => {
                return Err(PyriteError::Plate { plate: self.name.to_string(), problem: format!("dim {d} is already used by an enclosing plate") })
            }
            Some(d) => d,
            // Cannot fail: the search runs over all negative dims, and finitely many are active.
            None => (1..).map(|i: i64| -i).find(|d| !active.contains(d)).unwrap(),
        };
        let sub = self.scope.subsample_size;
        let frame = PlateFrame { name: self.name.clone(), dim, size: self.scope.size, subsample_size: sub };
        let scale = if sub > 0 { self.scope.size as f64 / sub as f64 } else { 1.0 };
        ACTIVE_DIMS.with(|d| d.borrow_mut().push(dim));
        struct Pop;
        impl Drop for Pop {
            fn drop(&mut self) {
                ACTIVE_DIMS.with(|d| {
                    d.borrow_mut().pop();
                });
            }
        }
        let _pop = Pop;
        let (out, _) = with_handler(PlateMessenger { frame, scale }, || f(&self.scope));
        out
    }
}

/// Adds the plate's frame and subsampling scale to every sample site inside it.
struct PlateMessenger {
    frame: PlateFrame,
    scale: f64,
}

impl Messenger for PlateMessenger {
    fn process_message(&mut self, msg: &mut Message) -> Result<()> {
        if msg.kind == SiteKind::Sample {
            if msg.plates.iter().any(|f| f.dim == self.frame.dim) {
                return Err(PyriteError::Plate {
                    plate: self.frame.name.to_string(),
                    problem: format!("dim {} conflicts with another plate at site `{}`", self.frame.dim, msg.name),
                });
            }
            msg.plates.push(self.frame.clone());
            msg.scale *= self.scale;
            broadcast_to_plates(msg)?;
        }
        Ok(())
    }
}
