//! Reliability suite (issue 8): privilege. Filled in by its own change.
