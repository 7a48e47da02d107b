//! The error type of the distributions crate.

/// What went wrong when building or using a distribution or a transform.
///
/// Every variant names the distribution (or transform) and, where there is one, the parameter,
/// so that a message reads like `Normal: parameter `scale` must be positive`.
#[derive(Debug, thiserror::Error)]
pub enum DistError {
    /// A constructor argument is outside its constraint (a negative scale, probabilities that do
    /// not sum to one, a NaN).
    #[error("{dist}: parameter `{param}` {problem}")]
    InvalidParameter {
        /// The distribution or transform.
        dist: &'static str,
        /// The parameter.
        param: &'static str,
        /// What is wrong with it.
        problem: String,
    },
    /// A value passed to `log_prob` lies outside the support or has the wrong shape.
    #[error("{dist}: value {problem}")]
    InvalidValue {
        /// The distribution.
        dist: &'static str,
        /// What is wrong with the value.
        problem: String,
    },
    /// Shapes that do not broadcast together.
    #[error("{dist}: shapes do not broadcast: {detail}")]
    Shape {
        /// The distribution or transform.
        dist: &'static str,
        /// The shapes involved.
        detail: String,
    },
    /// The operation does not exist for this family (for example `rsample` of a Categorical).
    #[error("{dist}: {op} is not supported")]
    Unsupported {
        /// The distribution or transform.
        dist: &'static str,
        /// The operation.
        op: &'static str,
    },
    /// libtorch refused an operation; `context` says which.
    #[error("{context}: {}", torch_message(source))]
    Torch {
        /// The operation that failed.
        context: String,
        #[source]
        /// libtorch's error.
        source: tch::TchError,
    },
    /// A device that libtorch cannot use on this machine (a CUDA GPU where there is none, an
    /// index past the last GPU); the message is a sentence saying what libtorch sees and what to
    /// use instead. Raised by [`set_default_device`](crate::device::set_default_device).
    #[error("{0}")]
    Device(String),
}

/// Result alias of the distributions crate.
pub type Result<T, E = DistError> = std::result::Result<T, E>;

/// libtorch's message without what it appends for C++ debugging: tch's "Internal torch error: "
/// prefix and the backtrace from "Exception raised from" on (the full text stays in the error's
/// `Debug`).
///
/// ```
/// use tch::{Kind, Tensor};
/// let not_positive_definite = Tensor::from_slice(&[1.0f64, 2.0, 2.0, 1.0]).reshape([2, 2]);
/// let e = not_positive_definite.f_linalg_cholesky(false).unwrap_err();
/// let text = pyrite_distributions::error::torch_message(&e);
/// assert!(text.starts_with("linalg.cholesky: "), "{text}");
/// assert!(!text.contains("Exception raised from") && !text.contains('\n'), "{text}");
/// ```
pub fn torch_message(e: &tch::TchError) -> String {
    let text = e.to_string();
    let text = text.split("Exception raised from").next().unwrap_or_default();
    let text = text.trim_start_matches("Internal torch error: ").trim();
    text.lines().map(str::trim).filter(|l| !l.is_empty()).collect::<Vec<_>>().join(" ")
}
