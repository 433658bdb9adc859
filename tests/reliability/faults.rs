//! Reliability suite (issue 8): faults. Filled in by its own change.
