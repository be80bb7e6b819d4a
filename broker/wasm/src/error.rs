/// What can go wrong loading or running a plugin.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The bytes are not a component that implements the Weir plugin world.
    #[error(
        "not a valid Weir plugin (it must be a component exporting weir:plugin/plugin@0.2.0 or @0.1.0): {0}"
    )]
    Invalid(String),
    /// The plugin refused its configuration (`init` returned an error).
    #[error("plugin refused its configuration: {0}")]
    Config(String),
    /// The plugin returned an error for the batch.
    #[error("plugin returned an error: {0}")]
    Plugin(String),
    /// The plugin ran out of its time budget.
    #[error("plugin exceeded its time budget of {0} ms")]
    Timeout(u64),
    /// The plugin tried to grow its memory beyond the cap.
    #[error("plugin exceeded its memory limit of {0} bytes")]
    Memory(usize),
    /// The plugin trapped (a panic, `unreachable`, an out-of-bounds access...).
    #[error("plugin trapped: {0}")]
    Trap(String),
    /// The plugin answered with something the ABI does not allow.
    #[error("plugin broke the ABI: {0}")]
    Garbage(String),
    #[error("plugin cache: {0}")]
    Io(#[from] std::io::Error),
}

impl Error {
    /// A short label for metrics: `config`, `error`, `timeout`, `memory`, `trap`, `abi`, `invalid`, `io`.
    pub fn kind(&self) -> &'static str {
        match self {
            Error::Invalid(_) => "invalid",
            Error::Config(_) => "config",
            Error::Plugin(_) => "error",
            Error::Timeout(_) => "timeout",
            Error::Memory(_) => "memory",
            Error::Trap(_) => "trap",
            Error::Garbage(_) => "abi",
            Error::Io(_) => "io",
        }
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;
