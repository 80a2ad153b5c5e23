//! The one error type of the library.

use std::path::PathBuf;

/// Everything that can go wrong in `repalign`, each variant naming its cause.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A tensor handed to the API has the wrong shape.
    #[error("{argument}: expected {expected}, got shape {actual:?}")]
    Shape {
        /// Which argument (e.g. `output image`).
        argument: String,
        /// What was expected, in words.
        expected: String,
        /// The shape received.
        actual: Vec<usize>,
    },

    /// A tensor handed to the API holds NaN or infinite values.
    #[error("{argument} contains NaN or infinite values")]
    NonFinite {
        /// Which argument.
        argument: String,
    },

    /// A tensor handed to the API is not float32 (convert it with `.cast(DType::F32)`).
    #[error("{argument}: expected float32 values, got {dtype}")]
    Dtype {
        /// Which argument.
        argument: String,
        /// The dtype received.
        dtype: String,
    },

    /// The image is too small (or of an unsupported size) for the teacher.
    #[error("{teacher} cannot take a {height}x{width} input: {reason}")]
    InputSize {
        /// Teacher name.
        teacher: String,
        /// Input height after preprocessing.
        height: usize,
        /// Input width after preprocessing.
        width: usize,
        /// Why not.
        reason: String,
    },

    /// Output and target features do not correspond tap for tap.
    #[error("output and target features differ: {0}")]
    FeatureMismatch(String),

    /// A mask handed to the loss cannot weight it.
    #[error("invalid mask: {0}")]
    Mask(String),

    /// A configuration value is out of range.
    #[error("invalid configuration: {0}")]
    Config(String),

    /// The teacher name is not one we know.
    #[error("unknown teacher `{name}` (known: {known})")]
    UnknownTeacher {
        /// The name given.
        name: String,
        /// The names we accept.
        known: String,
    },

    /// Reading a weight file failed.
    #[error("cannot read weights {path}: {source}")]
    WeightsIo {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },

    /// The weight file is not valid safetensors.
    #[error("{origin}: not a valid safetensors file: {reason}")]
    WeightsFormat {
        /// The file (or `<memory>`).
        origin: String,
        /// What the parser said.
        reason: String,
    },

    /// A weight the teacher needs is absent.
    #[error("{origin}: missing weight `{key}`")]
    MissingWeight {
        /// The file.
        origin: String,
        /// The key.
        key: String,
    },

    /// The file holds weights the teacher does not use (wrong architecture or variant).
    #[error("{origin}: unexpected weight `{key}`{more} (is this the right teacher for this file?)")]
    UnexpectedWeight {
        /// The file.
        origin: String,
        /// The first unused key.
        key: String,
        /// `" and N more"` when there are several.
        more: String,
    },

    /// A weight has the wrong shape.
    #[error("{origin}: weight `{key}` has shape {actual:?}, expected {expected:?}")]
    WeightShape {
        /// The file.
        origin: String,
        /// The key.
        key: String,
        /// What the teacher needs.
        expected: Vec<usize>,
        /// What the file holds.
        actual: Vec<usize>,
    },

    /// A weight has a dtype we cannot convert to f32.
    #[error("{origin}: weight `{key}` has unsupported dtype {dtype}")]
    WeightDtype {
        /// The file.
        origin: String,
        /// The key.
        key: String,
        /// The dtype found.
        dtype: String,
    },

    /// A weight holds NaN or infinite values.
    #[error("{origin}: weight `{key}` contains NaN or infinite values")]
    WeightNonFinite {
        /// The file.
        origin: String,
        /// The key.
        key: String,
    },

    /// The weights do not describe any teacher we can build.
    #[error("{origin}: {reason}")]
    Architecture {
        /// The file.
        origin: String,
        /// What does not fit.
        reason: String,
    },

    /// The target-feature cache's disk store failed.
    #[error("target cache {path}: {reason}")]
    Cache {
        /// The file or directory.
        path: PathBuf,
        /// What went wrong.
        reason: String,
    },

    /// The backend failed to read a tensor back.
    #[error("backend error: {0}")]
    Backend(String),

    /// The requested backend or device is not in this build or not on this machine, or
    /// cannot compute in the requested precision.
    #[error("{0}")]
    Device(String),
}

/// `Result` with [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;
