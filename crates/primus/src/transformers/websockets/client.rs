//! Client half of the websockets transformer (being written).
