//! The plugins users build on, each in its own folder with its server half, its Rust
//! client half and its browser half (JavaScript that the served library includes when
//! the plugin is added). Each is written on the public extension points
//! ([`Plugin`](crate::plugin::Plugin), transforms, spark state).

#[cfg(feature = "cluster")]
pub mod cluster;
mod common;
pub mod emitter;
pub mod multiplex;
pub mod omega;
pub mod responder;
pub mod rooms;
#[cfg(feature = "session")]
pub mod session;
pub mod validation;
