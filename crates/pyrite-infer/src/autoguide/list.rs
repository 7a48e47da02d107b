//! `AutoGuideList`: autoguides over disjoint sites of one model, run as one guide.

use std::collections::HashMap;

use indexmap::IndexMap;
use pyrite_core::prelude::*;
use tch::Tensor;

use super::guide::{AutoGuide, GuidePosterior};
use super::init::InitStrategy;
use super::prototype::Prototype;

/// Pyro's `AutoGuideList`: a guide made of parts, each an autoguide built on the model blocked
/// to some of its sites (`block(BlockSpec::expose(..), ..)`), no two guiding one site. Its run
/// builds the model's plates once and runs every part inside them (so a subsampled plate draws
/// one subsample); [`median`](AutoGuide::median), [`quantiles`](AutoGuide::quantiles) and
/// [`sample_posterior`](AutoGuide::sample_posterior) merge the parts'.
///
/// ```
/// use pyrite_core::prelude::*;
/// use pyrite_distributions::prelude::*;
/// use pyrite_infer::prelude::*;
/// use tch::Tensor;
/// let data = Tensor::from_slice(&[1.0f32, 2.0, 3.0]);
/// let model = |x: &Tensor| -> Result<()> {
///     let mu = sample("mu", Normal::new(0.0, 10.0)?)?;
///     let sigma = sample("sigma", LogNormal::new(0.0, 1.0)?)?;
///     plate("data", 3, |_| observe("obs", Normal::new(&mu, &sigma)?, x))?;
///     Ok(())
/// };
/// // A point estimate of sigma, a Normal for mu.
/// let mut guide = AutoGuideList::new(&model, &data)?;
/// guide.append(AutoDelta::new(&|x: &Tensor| block(BlockSpec::expose(&["sigma"]), || model(x)), &data)?)?;
/// guide.append(AutoNormal::new(&|x: &Tensor| block(BlockSpec::hide(&["sigma"]), || model(x)), &data)?)?;
/// let mut svi = Svi::new(&model, &guide, Optimizer::adam(0.05), TraceElbo::new());
/// for _ in 0..20 {
///     svi.step(&data)?;
/// }
/// drop(svi);
/// let median = guide.median()?;
/// assert_eq!(median.keys().collect::<Vec<_>>(), vec!["sigma", "mu"]);
/// assert_eq!(guide.sample_posterior(5)?["mu"].size(), vec![5]);
/// // A third part guiding mu again is refused, naming the site and the parts.
/// let err = guide.append(AutoNormal::new(&model, &data)?).unwrap_err();
/// assert_eq!(err.to_string(), "site `mu`: parts 1 and 2 of the AutoGuideList both guide it; its parts must guide disjoint sites");
/// # Ok::<(), PyriteError>(())
/// ```
pub struct AutoGuideList {
    /// All the model's latent sites and plates.
    model: Prototype,
    parts: Vec<Box<dyn AutoGuide>>,
    /// The parts' sites, part after part, in the model's plates.
    proto: Prototype,
    /// Which part guides each site.
    owners: HashMap<String, usize>,
}

impl AutoGuideList {
    /// An empty list for `model(args)`, whose latent sites and plates one run of the model finds
    /// (with `init_to_feasible`, which draws no random numbers).
    ///
    /// # Errors
    ///
    /// The model's errors in the prototype run; [`PyriteError::Enumerate`] for a discrete latent
    /// site not marked for enumeration.
    pub fn new<A: ?Sized, R>(model: &impl Fn(&A) -> Result<R>, args: &A) -> Result<Self> {
        let model = Prototype::discover(&|| model(args).map(|_| ()), &InitStrategy::Feasible)?;
        let proto = Prototype { sites: Vec::new(), plates: model.plates.clone(), max_plate_nesting: model.max_plate_nesting };
        Ok(AutoGuideList { model, parts: Vec::new(), proto, owners: HashMap::new() })
    }

    /// Adds a guide for part of the model (Pyro's `append`). On an error the list is left as it
    /// was.
    ///
    /// # Errors
    ///
    /// [`PyriteError::GuideOverlap`] for a site an earlier part guides;
    /// [`PyriteError::UnknownSite`] for a site that is not a latent site of the model;
    /// [`PyriteError::GuideMismatch`] for a site of another shape than the model's;
    /// [`PyriteError::Plate`] for a plate of another size or dim than the model's.
    pub fn append(&mut self, part: impl AutoGuide + 'static) -> Result<()> {
        let index = self.parts.len();
        let sites = &part.prototype().sites;
        for site in sites {
            let Some(in_model) = self.model.sites.iter().find(|s| s.name == site.name) else {
                return Err(PyriteError::UnknownSite(site.name.clone()));
            };
            if in_model.shape != site.shape {
                return Err(PyriteError::GuideMismatch {
                    site: site.name.clone(),
                    detail: format!("shape {:?} in the model but {:?} in part {index} of the AutoGuideList", in_model.shape, site.shape),
                });
            }
            if let Some(&first) = self.owners.get(&site.name) {
                return Err(PyriteError::GuideOverlap { site: site.name.clone(), first, second: index });
            }
        }
        for plate in &part.prototype().plates {
            if !self.model.plates.iter().any(|p| p.name == plate.name && p.size == plate.size && p.dim == plate.dim) {
                return Err(PyriteError::Plate {
                    plate: plate.name.clone(),
                    problem: format!("part {index} of the AutoGuideList has it of size {} at dim {}, unlike the model", plate.size, plate.dim),
                });
            }
        }
        for site in sites {
            self.owners.insert(site.name.clone(), index);
            self.proto.sites.push(site.clone());
        }
        self.parts.push(Box::new(part));
        Ok(())
    }

    /// The parts, in the order they were appended.
    pub fn parts(&self) -> &[Box<dyn AutoGuide>] {
        &self.parts
    }
}

impl AutoGuide for AutoGuideList {
    /// The parts' sites, part after part, and all the model's plates.
    fn prototype(&self) -> &Prototype {
        &self.proto
    }

    fn sample_sites_in(&self, plates: &[(String, BuiltPlate)]) -> Result<()> {
        self.parts.iter().try_for_each(|p| p.sample_sites_in(plates))
    }

    /// The parts' quantiles, merged.
    fn quantile(&self, q: f64) -> Result<IndexMap<String, Tensor>> {
        let mut out = IndexMap::new();
        for part in &self.parts {
            out.extend(part.quantile(q)?);
        }
        Ok(out)
    }

    /// [`GuidePosterior::Parts`]: each part's posterior.
    fn get_posterior(&self) -> Result<GuidePosterior> {
        Ok(GuidePosterior::Parts(self.parts.iter().map(|p| p.get_posterior()).collect::<Result<_>>()?))
    }
}
