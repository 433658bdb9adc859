//! Reliability suite (issue 8): evaluation. Filled in by its own change.
