//! primus-rs: Primus, the universal wrapper for real-time frameworks, in Rust.
//!
//! (Module guide is written as the pieces land.)

pub mod client;
pub mod transformers;

pub use primus_core::{from_value, parser, protocol, to_value, Frame, Parser, ParserError, Value};
