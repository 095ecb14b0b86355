//! Transformers: the only code that knows the transport. Each has a server half and a client
//! half in its own folder.

pub mod websockets;
