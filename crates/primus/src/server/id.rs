//! Default spark ids: 21 characters from `A-Za-z0-9_-`, like `nanoid()`.

use rand::Rng;

const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-";

/// A fresh 126-bit random id.
pub(crate) fn nanoid() -> String {
    let mut rng = rand::rng();
    (0..21)
        .map(|_| ALPHABET[(rng.random::<u8>() & 63) as usize] as char)
        .collect()
}

#[cfg(test)]
mod tests {
    #[test]
    fn shape() {
        let id = super::nanoid();
        assert_eq!(id.len(), 21);
        assert!(id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-'));
        assert_ne!(id, super::nanoid());
    }
}
