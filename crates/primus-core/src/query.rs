//! Query string parsing like Node's `querystring.parse` (stub being written).
