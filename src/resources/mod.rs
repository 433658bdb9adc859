//! Pure builders: a validated object in, typed Kubernetes objects out, one
//! folder per kind (`tracedservice/`, `evaluationtask/`). No I/O and no
//! client here; this is where most unit tests live. The root holds only what
//! both kinds' builders use: metadata and labels, hashes, pod security, and
//! env-var constructors.

pub mod env_var;
pub mod evaluationtask;
pub mod meta;
pub mod security;
pub mod tracedservice;
