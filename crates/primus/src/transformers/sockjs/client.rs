//! Client half of the `sockjs` transformer (work in progress).
