//! The short hashes names and status fields are built from (child names,
//! spec hashes, trace-list hashes, evaluation span IDs): one function, so
//! the operator, the builders and the evaluator agree on every digit.

use sha2::{Digest, Sha256};

/// The first `bytes` bytes of the SHA-256 of `data`, as lowercase hex.
pub fn short_hash(data: &[u8], bytes: usize) -> String {
    Sha256::digest(data)
        .iter()
        .take(bytes)
        .map(|b| format!("{b:02x}"))
        .collect()
}
