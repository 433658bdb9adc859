//! Reliability suite (issue 8): bad_input. Filled in by its own change.
