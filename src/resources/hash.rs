//! Short content hashes, for names and annotations of every kind.

use sha2::{Digest, Sha256};

/// The first `bytes` bytes of the SHA-256 of `data`, as lowercase hex.
pub fn short_hash(data: &[u8], bytes: usize) -> String {
    Sha256::digest(data)
        .iter()
        .take(bytes)
        .map(|b| format!("{b:02x}"))
        .collect()
}
