//! Structured logging into the node's tracing output (`hanzo:node/log`).
//!
//! The host tags every record with the tenant and plugin, so messages need
//! not repeat them. Use the macros for formatted messages:
//!
//! ```no_run
//! let models = ["gpt-4o-mini"];
//! hanzo_node_sdk::log::info!("fetched {} models", models.len());
//! ```

pub use crate::wit::hanzo::node::log::Level;

/// Writes one record at `level`.
///
/// Outside a component (native unit tests) the record goes to stderr.
pub fn log(level: Level, message: &str) {
    #[cfg(target_arch = "wasm32")]
    crate::wit::hanzo::node::log::log(level, message);
    #[cfg(not(target_arch = "wasm32"))]
    eprintln!("[{level:?}] {message}");
}

/// Writes a `trace` record.
pub fn trace(message: &str) {
    log(Level::Trace, message);
}

/// Writes a `debug` record.
pub fn debug(message: &str) {
    log(Level::Debug, message);
}

/// Writes an `info` record.
pub fn info(message: &str) {
    log(Level::Info, message);
}

/// Writes a `warn` record.
pub fn warn(message: &str) {
    log(Level::Warn, message);
}

/// Writes an `error` record.
pub fn error(message: &str) {
    log(Level::Error, message);
}

#[doc(hidden)]
#[macro_export]
macro_rules! __log_at {
    ($level:ident, $($arg:tt)+) => {
        $crate::log::log($crate::log::Level::$level, &::std::format!($($arg)+))
    };
}

#[doc(hidden)]
#[macro_export]
macro_rules! __log_trace {
    ($($arg:tt)+) => { $crate::__log_at!(Trace, $($arg)+) };
}

#[doc(hidden)]
#[macro_export]
macro_rules! __log_debug {
    ($($arg:tt)+) => { $crate::__log_at!(Debug, $($arg)+) };
}

#[doc(hidden)]
#[macro_export]
macro_rules! __log_info {
    ($($arg:tt)+) => { $crate::__log_at!(Info, $($arg)+) };
}

#[doc(hidden)]
#[macro_export]
macro_rules! __log_warn {
    ($($arg:tt)+) => { $crate::__log_at!(Warn, $($arg)+) };
}

#[doc(hidden)]
#[macro_export]
macro_rules! __log_error {
    ($($arg:tt)+) => { $crate::__log_at!(Error, $($arg)+) };
}

/// Logs a formatted message at `trace` level: `trace!("x = {x}")`.
#[doc(inline)]
pub use crate::__log_trace as trace;

/// Logs a formatted message at `debug` level.
#[doc(inline)]
pub use crate::__log_debug as debug;

/// Logs a formatted message at `info` level.
#[doc(inline)]
pub use crate::__log_info as info;

/// Logs a formatted message at `warn` level.
#[doc(inline)]
pub use crate::__log_warn as warn;

/// Logs a formatted message at `error` level.
#[doc(inline)]
pub use crate::__log_error as error;
