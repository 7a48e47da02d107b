//! `Trace`: the record of one run of a model or guide.

use std::cell::RefCell;
use std::fmt::Write as _;

use indexmap::IndexMap;
use pyrite_distributions::shape::broadcast_shapes;
use pyrite_distributions::DistRef;
use tch::Tensor;

use crate::error::{PyriteError, Result};
use crate::message::{InferConfig, Message, PlateFrame, SiteKind};

/// One recorded site.
#[derive(Debug)]
pub struct Site {
    /// The site's name.
    pub name: String,
    /// Sample, param or subsample.
    pub kind: SiteKind,
    /// The distribution (sample sites), broadcast to its plates.
    pub dist: Option<DistRef>,
    /// The value: the sample or observation, the constrained param value, or the subsample
    /// indices.
    pub value: Tensor,
    /// Whether the value is data (`obs=`).
    pub is_observed: bool,
    /// Multiplier of the log-density (subsampling, `scale`).
    pub scale: f64,
    /// Boolean mask of the log-density (`mask`); `None` means all true.
    pub mask: Option<Tensor>,
    /// Plates, innermost first.
    pub plates: Vec<PlateFrame>,
    /// Per-site inference options the site ran with.
    pub infer: InferConfig,
    /// Param sites: the unconstrained leaf tensor.
    pub unconstrained: Option<Tensor>,
    log_prob: RefCell<Option<Tensor>>,
}

impl Clone for Site {
    fn clone(&self) -> Self {
        Site {
            name: self.name.clone(),
            kind: self.kind,
            dist: self.dist.clone(),
            value: self.value.shallow_clone(),
            is_observed: self.is_observed,
            scale: self.scale,
            mask: self.mask.as_ref().map(|m| m.shallow_clone()),
            plates: self.plates.clone(),
            infer: self.infer.clone(),
            unconstrained: self.unconstrained.as_ref().map(|t| t.shallow_clone()),
            log_prob: RefCell::new(self.log_prob.borrow().as_ref().map(|t| t.shallow_clone())),
        }
    }
}

impl Site {
    pub(crate) fn from_message(msg: &Message) -> Self {
        Site {
            name: msg.name.clone(),
            kind: msg.kind,
            dist: msg.dist.clone(),
            value: msg.value.as_ref().map(|v| v.shallow_clone()).unwrap_or_default(),
            is_observed: msg.is_observed,
            scale: msg.scale,
            mask: msg.mask.as_ref().map(|m| m.shallow_clone()),
            plates: msg.plates.clone(),
            infer: msg.infer.clone(),
            unconstrained: msg.unconstrained.as_ref().map(|t| t.shallow_clone()),
            log_prob: RefCell::new(None),
        }
    }

    /// Whether this is a sample site that contributes a log-density (not a deterministic or a
    /// subsample record).
    pub fn is_scored(&self) -> bool {
        self.kind == SiteKind::Sample && !self.infer.deterministic
    }

    /// Whether this is a latent (unobserved) sample site.
    pub fn is_latent(&self) -> bool {
        self.kind == SiteKind::Sample && !self.is_observed
    }

    /// The log-density of the value, masked (zero where the mask is false) but not scaled;
    /// computed on first use and cached.
    pub fn log_prob(&self) -> Result<Tensor> {
        if let Some(lp) = self.log_prob.borrow().as_ref() {
            return Ok(lp.shallow_clone());
        }
        let dist = self.dist.as_ref().ok_or_else(|| PyriteError::Shape { site: self.name.clone(), detail: "site has no distribution".into() })?;
        let lp = dist.log_prob(&self.value).map_err(|e| PyriteError::at_site(&self.name, e))?;
        let lp = match &self.mask {
            Some(m) => {
                // Checked here: libtorch's error in `where` would be a panic (tch's fallible
                // form panics too when a scalar argument is dropped after an error).
                let (mshape, lshape) = (m.size(), lp.size());
                if broadcast_shapes(&[&mshape, &lshape]).is_none() {
                    return Err(PyriteError::Shape {
                        site: self.name.clone(),
                        detail: format!("mask of shape {mshape:?} does not broadcast with the log-density of shape {lshape:?}"),
                    });
                }
                lp.where_scalarother(m, 0.0)
            }
            None => lp,
        };
        *self.log_prob.borrow_mut() = Some(lp.shallow_clone());
        Ok(lp)
    }

    /// The masked log-density multiplied by the site's scale.
    pub fn scaled_log_prob(&self) -> Result<Tensor> {
        let lp = self.log_prob()?;
        Ok(if self.scale == 1.0 { lp } else { lp * self.scale })
    }

    /// `sum(scale * mask * log_prob)`.
    pub fn log_prob_sum(&self) -> Result<Tensor> {
        let lp = self.log_prob()?;
        // A scalar site's log-density is its own sum: no operation.
        let s = if lp.dim() == 0 { lp } else { lp.sum(lp.kind()) };
        Ok(if self.scale == 1.0 { s } else { s * self.scale })
    }
}

/// The ordered sites of one run, as `poutine.trace(...).get_trace()` returns.
#[derive(Debug, Clone, Default)]
pub struct Trace {
    /// The sites by name, in execution order.
    pub nodes: IndexMap<String, Site>,
}

impl Trace {
    /// The site named `name`.
    pub fn site(&self, name: &str) -> Option<&Site> {
        self.nodes.get(name)
    }
    /// Whether a site exists.
    pub fn contains(&self, name: &str) -> bool {
        self.nodes.contains_key(name)
    }
    /// Site names in execution order.
    pub fn names(&self) -> Vec<&str> {
        self.nodes.keys().map(|s| s.as_str()).collect()
    }
    /// Sample sites (latent and observed, deterministic excluded) in order.
    pub fn sample_sites(&self) -> impl Iterator<Item = &Site> {
        self.nodes.values().filter(|s| s.is_scored())
    }
    /// Latent sample sites in order.
    pub fn latent_sites(&self) -> impl Iterator<Item = &Site> {
        self.nodes.values().filter(|s| s.is_latent())
    }
    /// Observed sample sites in order.
    pub fn observed_sites(&self) -> impl Iterator<Item = &Site> {
        self.nodes.values().filter(|s| s.is_scored() && s.is_observed)
    }
    /// Param sites in order.
    pub fn param_sites(&self) -> impl Iterator<Item = &Site> {
        self.nodes.values().filter(|s| s.kind == SiteKind::Param)
    }

    /// Computes (and caches) every sample site's log-density; errors name the site.
    pub fn compute_log_prob(&self) -> Result<()> {
        for s in self.sample_sites() {
            let _ = s.log_prob()?;
        }
        Ok(())
    }

    /// `sum over sample sites of sum(scale * mask * log_prob)`: the joint log-density.
    ///
    /// ```
    /// use pyrite_core::prelude::*;
    /// use pyrite_distributions::prelude::*;
    /// let x = tch::Tensor::from_slice(&[0.5f32, 1.5]);
    /// let tr = get_trace(|| -> Result<()> {
    ///     let mu = sample("mu", Normal::new(0.0, 1.0)?)?;
    ///     plate("data", 2, |_| observe("x", Normal::new(&mu, 1.0)?, &x))?;
    ///     Ok(())
    /// })?;
    /// let mu = &tr.site("mu").unwrap().value;
    /// let expected = Normal::new(0.0, 1.0)?.log_prob(mu)? + Normal::new(mu, 1.0)?.log_prob(&x)?.sum(tch::Kind::Float);
    /// assert!(tr.log_prob_sum()?.allclose(&expected, 1e-5, 1e-6, false));
    /// # Ok::<(), PyriteError>(())
    /// ```
    ///
    /// # Errors
    ///
    /// A site's log-density failed: [`PyriteError::Distribution`] naming the site (a value
    /// outside the support, for example).
    pub fn log_prob_sum(&self) -> Result<Tensor> {
        Ok(sum_scalars(self.sample_sites().map(|s| s.log_prob_sum()).collect::<Result<Vec<_>>>()?))
    }

    /// `sum(scale * mask * log_prob)` over the latent (unobserved) sample sites: a guide's
    /// `log q(z)`.
    pub fn latent_log_prob_sum(&self) -> Result<Tensor> {
        Ok(sum_scalars(self.sample_sites().filter(|s| !s.is_observed).map(|s| s.log_prob_sum()).collect::<Result<Vec<_>>>()?))
    }

    pub(crate) fn add(&mut self, msg: &Message) -> Result<()> {
        // Only a param may be read again; any other repeated name (a sample site named like a
        // param or like a subsampled plate) would overwrite a recorded site.
        if let Some(old) = self.nodes.get(&msg.name) {
            if old.kind != SiteKind::Param || msg.kind != SiteKind::Param {
                return Err(PyriteError::DuplicateSite(msg.name.clone()));
            }
        }
        self.nodes.insert(msg.name.clone(), Site::from_message(msg));
        Ok(())
    }

    /// A table of each site's distribution and value shapes, split into batch | event, as Pyro's
    /// `trace.format_shapes()`; useful to debug broadcasting. Log-probability shapes appear once
    /// computed ([`compute_log_prob`](Self::compute_log_prob)).
    ///
    /// ```
    /// use pyrite_core::prelude::*;
    /// use pyrite_distributions::prelude::*;
    /// let tr = get_trace(|| -> Result<()> {
    ///     let p = sample("p", Dirichlet::new(tch::Tensor::ones([3], (tch::Kind::Float, tch::Device::Cpu)))?)?;
    ///     plate("data", 5, |_| sample("x", Categorical::new(&p)?))?;
    ///     Ok(())
    /// })?;
    /// tr.compute_log_prob()?;
    /// assert_eq!(tr.format_shapes(), "\
    /// Trace Shapes:
    ///  Param Sites:
    /// Sample Sites:
    ///             p dist       | 3
    ///               value      | 3
    ///               log_prob   |
    ///          data plate    5 |
    ///             x dist     5 |
    ///               value    5 |
    ///               log_prob 5 |
    /// ");
    /// # Ok::<(), PyriteError>(())
    /// ```
    pub fn format_shapes(&self) -> String {
        let mut rows: Vec<(String, String, String, String)> = Vec::new();
        let dims = |s: &[i64]| s.iter().map(|d| d.to_string()).collect::<Vec<_>>().join(" ");
        rows.push(("Trace Shapes:".into(), String::new(), String::new(), String::new()));
        rows.push(("Param Sites:".into(), String::new(), String::new(), String::new()));
        for s in self.param_sites() {
            rows.push((s.name.clone(), String::new(), dims(&s.value.size()), String::new()));
        }
        rows.push(("Sample Sites:".into(), String::new(), String::new(), String::new()));
        let mut seen_plates: Vec<String> = Vec::new();
        for s in self.nodes.values() {
            if s.kind == SiteKind::Param {
                continue;
            }
            for f in s.plates.iter().rev() {
                if !seen_plates.iter().any(|p| p.as_str() == &*f.name) {
                    seen_plates.push(f.name.to_string());
                    rows.push((f.name.to_string(), "plate".into(), f.subsample_size.to_string(), String::new()));
                }
            }
            if s.kind == SiteKind::Subsample {
                continue;
            }
            let Some(d) = s.dist.as_ref() else { continue };
            rows.push((s.name.clone(), "dist".into(), dims(d.batch_shape()), dims(d.event_shape())));
            let v = s.value.size();
            let e = d.event_shape().len().min(v.len());
            rows.push((String::new(), "value".into(), dims(&v[..v.len() - e]), dims(&v[v.len() - e..])));
            if let Some(lp) = s.log_prob.borrow().as_ref() {
                rows.push((String::new(), "log_prob".into(), dims(&lp.size()), String::new()));
            }
        }
        let w0 = rows.iter().map(|r| r.0.len()).max().unwrap_or(0);
        let w1 = rows.iter().map(|r| r.1.len()).max().unwrap_or(0);
        let w2 = rows.iter().map(|r| r.2.len()).max().unwrap_or(0);
        let mut out = String::new();
        for (a, b, c, d) in rows {
            let sep = if b.is_empty() { " " } else { "|" };
            let line = format!("{a:>w0$} {b:<w1$} {c:>w2$} {sep} {d}");
            let _ = writeln!(out, "{}", line.trim_end());
        }
        out
    }
}

/// The sum of scalar tensors, in as few operations as their number allows: one `stack` and one
/// `sum` for three or more of the same kind (instead of an addition each), and a `0.0` for none.
pub fn sum_scalars(mut terms: Vec<Tensor>) -> Tensor {
    match terms.len() {
        0 => Tensor::from(0.0f32),
        1 => terms.pop().unwrap_or_else(|| Tensor::from(0.0f32)),
        2 => &terms[0] + &terms[1],
        _ => {
            let kind = terms[0].kind();
            if terms.iter().all(|t| t.dim() == 0 && t.kind() == kind) {
                Tensor::stack(&terms, 0).sum(kind)
            } else {
                let mut it = terms.into_iter();
                let first = it.next().unwrap_or_else(|| Tensor::from(0.0f32));
                it.fold(first, |acc, t| acc + t)
            }
        }
    }
}
