//! Client address resolution like the reference's `forwarded-for` (stub being written).
