//! Client half of the `engine.io` transformer (see below).
