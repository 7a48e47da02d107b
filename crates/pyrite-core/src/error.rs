//! The error type of pyrite's language and inference.

use pyrite_distributions::DistError;

/// Everything that can go wrong in a model, a guide, a handler or an inference step. Each variant
/// names the site, param or plate concerned.
#[derive(Debug, thiserror::Error)]
pub enum PyriteError {
    /// A distribution refused its parameters or a value, at the named site.
    #[error("site `{site}`: {source}")]
    Distribution {
        /// The site (`"<distribution>"` when raised outside a sample statement).
        site: String,
        /// The distribution's own error.
        #[source]
        source: DistError,
    },
    /// Two sample sites with the same name in one run.
    #[error("site `{0}` appears twice in one run of the model; site names must be unique")]
    DuplicateSite(String),
    /// A shape that does not fit: an observation against its distribution, a sample against its
    /// plates.
    #[error("site `{site}`: {detail}")]
    Shape {
        /// The site.
        site: String,
        /// The shapes involved and what was expected.
        detail: String,
    },
    /// A param used inconsistently (another shape or constraint, a bad init).
    #[error("param `{name}`: {problem}")]
    Param {
        /// The param's name.
        name: String,
        /// What is wrong.
        problem: String,
    },
    /// A plate misused (dimension conflict, bad subsample).
    #[error("plate `{plate}`: {problem}")]
    Plate {
        /// The plate's name.
        plate: String,
        /// What is wrong.
        problem: String,
    },
    /// A handler or inference algorithm was given a site name the model does not have.
    #[error("unknown site `{0}`")]
    UnknownSite(String),
    /// The guide does not sample a latent site of the model.
    #[error("the guide has no site `{site}`, which is a latent (unobserved) sample site of the model")]
    MissingGuideSite {
        /// The model's latent site that the guide lacks.
        site: String,
    },
    /// Model and guide disagree about a site.
    #[error("site `{site}`: model and guide disagree: {detail}")]
    GuideMismatch {
        /// The site.
        site: String,
        /// How model and guide differ (shape, support, observed status).
        detail: String,
    },
    /// Two parts of a composite guide (`AutoGuideList`) both guide one latent site.
    #[error("site `{site}`: parts {first} and {second} of the AutoGuideList both guide it; its parts must guide disjoint sites")]
    GuideOverlap {
        /// The site.
        site: String,
        /// The part that guides it already (counted from 0, in the order they were appended).
        first: usize,
        /// The part that was appended with it again.
        second: usize,
    },
    /// NaN or infinity where a finite number is needed (data, a loss, a gradient).
    #[error("site `{site}`: {what} is not finite")]
    NonFinite {
        /// The site (or param, or loss) concerned.
        site: String,
        /// Which quantity is not finite (value, log-density, gradient).
        what: String,
    },
    /// Enumeration of a discrete site failed.
    #[error("site `{site}`: cannot enumerate: {problem}")]
    Enumerate {
        /// The discrete site.
        site: String,
        /// Why it cannot be enumerated.
        problem: String,
    },
    /// Invalid data handed to an example or a helper (with the column or argument named).
    #[error("invalid input `{what}`: {problem}")]
    InvalidInput {
        /// The column, argument or input concerned.
        what: String,
        /// What is wrong with it.
        problem: String,
    },
    /// Reading or writing a file failed.
    #[error("{path}: {problem}")]
    Io {
        /// The file.
        path: String,
        /// The underlying I/O or parse error.
        problem: String,
    },
    /// A device that libtorch cannot use on this machine (`--device cuda` without a GPU); the
    /// message is a sentence saying what libtorch sees and what to use instead, as
    /// [`DistError::Device`] (which converts into this variant) words it.
    #[error("{0}")]
    Device(String),
    /// libtorch refused an operation.
    #[error("libtorch: {}", pyrite_distributions::error::torch_message(.0))]
    Torch(#[from] tch::TchError),
    /// An error raised by user code inside a model or guide.
    #[error("{0}")]
    Model(String),
}

impl PyriteError {
    /// Attaches a site name to a distribution error.
    pub fn at_site(site: &str, source: DistError) -> Self {
        PyriteError::Distribution { site: site.to_string(), source }
    }
}

/// Distribution errors raised outside a sample statement (constructing a distribution in user
/// code, before its site is known) convert with `?`; the message names the family and parameter.
/// A refused device (`set_default_device(..)?`) concerns no site and becomes [`PyriteError::Device`].
impl From<DistError> for PyriteError {
    fn from(source: DistError) -> Self {
        match source {
            DistError::Device(problem) => PyriteError::Device(problem),
            source => PyriteError::Distribution { site: "<distribution>".to_string(), source },
        }
    }
}

/// Result alias used throughout pyrite.
pub type Result<T, E = PyriteError> = std::result::Result<T, E>;
