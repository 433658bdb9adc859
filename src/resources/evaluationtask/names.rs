//! Names of an EvaluationTask's children, kept within Kubernetes' length
//! limits: a task name may have up to 253 characters, a CronJob name 52
//! (its Jobs append 11), a Job name and a label value 63. A name that would
//! be too long is cut and made unique again with a hash of the whole name.

use crate::api::hash::short_hash;

/// Longest CronJob name the API server accepts.
pub const MAX_CRONJOB_NAME: usize = 52;
/// Longest label value (and Job name, which becomes the `job-name` label).
pub const MAX_LABEL_VALUE: usize = 63;
/// Longest name of a ServiceAccount, Role or RoleBinding.
pub const MAX_NAME: usize = 253;

/// `{base}{suffix}`, or when longer than `max`, `{cut base}-{hash of base}{suffix}`.
pub fn bounded(base: &str, suffix: &str, max: usize) -> String {
    if base.len() + suffix.len() <= max {
        return format!("{base}{suffix}");
    }
    let hash = short_hash(base.as_bytes(), 4);
    let keep = max.saturating_sub(suffix.len() + hash.len() + 1);
    // Names are ASCII (DNS subdomains); cut on a char boundary regardless.
    let mut end = keep.min(base.len());
    while !base.is_char_boundary(end) {
        end -= 1;
    }
    let cut = base[..end].trim_end_matches(['-', '.']);
    format!("{cut}-{hash}{suffix}")
}

/// The task's name as a label value (at most 63 characters).
pub fn label_value(task_name: &str) -> String {
    bounded(task_name, "", MAX_LABEL_VALUE)
}

/// Name of the evaluator's ServiceAccount, Role and RoleBinding.
pub fn rbac_name(task_name: &str) -> String {
    bounded(task_name, "-evaluator", MAX_NAME)
}

/// Name of the CronJob of an online task.
pub fn cronjob_name(task_name: &str) -> String {
    bounded(task_name, "-eval", MAX_CRONJOB_NAME)
}

/// Name of the Job of a single-traces task; `run_hash` changes with
/// everything that shapes its (immutable) pod template.
pub fn job_name(task_name: &str, run_hash: &str) -> String {
    bounded(task_name, &format!("-{run_hash}"), MAX_LABEL_VALUE)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_names_are_kept() {
        assert_eq!(cronjob_name("qa"), "qa-eval");
        assert_eq!(rbac_name("qa"), "qa-evaluator");
        assert_eq!(job_name("qa", "0123abcd"), "qa-0123abcd");
        assert_eq!(label_value("qa"), "qa");
    }

    #[test]
    fn long_names_are_cut_within_limits_and_stay_distinct() {
        let a = format!("{}-a", "x".repeat(100));
        let b = format!("{}-b", "x".repeat(100));
        for (name, max) in [
            (cronjob_name(&a), MAX_CRONJOB_NAME),
            (label_value(&a), MAX_LABEL_VALUE),
            (job_name(&a, "0123abcd"), MAX_LABEL_VALUE),
        ] {
            assert!(name.len() <= max, "{name}");
            assert!(!name.contains("--"), "{name}");
        }
        assert!(cronjob_name(&a).ends_with("-eval"));
        assert_ne!(cronjob_name(&a), cronjob_name(&b));
        assert_ne!(label_value(&a), label_value(&b));
        assert_eq!(
            cronjob_name(&a),
            cronjob_name(&a),
            "deterministic across reconciles"
        );
    }
}
