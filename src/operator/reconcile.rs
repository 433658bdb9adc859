//! One reconcile of a TracedService, as a pipeline of named steps:
//! dereference → validate → build → apply → cleanup → update_status.

use std::sync::Arc;
use std::time::Duration;

use k8s_openapi::jiff::Timestamp;
use kube::ResourceExt;
use kube::core::DeserializeGuard;
use kube::runtime::controller::Action;

use super::Context;
use super::apply::apply;
use super::cleanup::{cleanup, cleanup_event, cleanup_needed};
use super::conditions::Observation;
use super::dereference::dereference;
use super::error::{Error, ErrorClass};
use super::finalizer;
use super::metrics::Outcome;
use super::status::{desired_status, publish, update_status};
use crate::api::TracedService;
use crate::resources::{build, validate};

/// Periodic resync of a healthy TracedService; watches drive everything else.
const RESYNC: Duration = Duration::from_secs(300);
/// How often a missing dependency (e.g. the OSS CSI driver) is checked again.
const DEPENDENCY_RECHECK: Duration = Duration::from_secs(60);
/// First and longest backoff after a transient error.
const BACKOFF_MIN: Duration = Duration::from_secs(1);
const BACKOFF_MAX: Duration = Duration::from_secs(300);

/// Reconciles one TracedService (or reports one that cannot be read).
pub async fn reconcile(
    object: Arc<DeserializeGuard<TracedService>>,
    ctx: Arc<Context>,
) -> Result<Action, Error> {
    let _timer = ctx.metrics.start();
    let result = match &object.0 {
        Ok(ts) => reconcile_service(ts, &ctx).await,
        Err(invalid) => Err(Error::InvalidObject(invalid.error.clone())),
    };
    ctx.metrics
        .count(Outcome::of(result.as_ref().err().map(Error::class)));
    if result.is_ok() {
        ctx.forget_failures(&key(&object));
    }
    result
}

async fn reconcile_service(ts: &TracedService, ctx: &Context) -> Result<Action, Error> {
    if ts.metadata.deletion_timestamp.is_some() {
        // Owner references let the garbage collector remove the namespaced
        // children; only the cluster-scoped volumes need the operator.
        if finalizer::has_finalizer(ts) {
            finalizer::finalize(&ctx.client, ts).await?;
        }
        return Ok(Action::await_change());
    }
    let dereferenced = dereference(&ctx.client, ts).await?;
    let svc = match validate(ts) {
        Ok(svc) => svc,
        Err(invalid) => {
            let observation = Observation::InvalidSpec(invalid.to_string());
            let status = desired_status(
                ts,
                None,
                &observation,
                ctx.trace_ui.as_deref(),
                Timestamp::now(),
            );
            update_status(ctx, ts, status).await?;
            return Err(Error::InvalidSpec(invalid));
        }
    };
    if dereferenced.oss_csi_driver_missing {
        let error = Error::OssCsiDriverMissing;
        let observation = Observation::MissingDependency(error.to_string());
        let status = desired_status(
            ts,
            Some(&svc),
            &observation,
            ctx.trace_ui.as_deref(),
            Timestamp::now(),
        );
        update_status(ctx, ts, status).await?;
        return Err(error);
    }
    let wants_volumes = finalizer::wants_volumes(ts);
    if wants_volumes && !finalizer::has_finalizer(ts) {
        // Before any volume exists, so none can outlive the TracedService.
        finalizer::add(&ctx.client, ts).await?;
    }
    let children = build(&svc, &ctx.options);
    let caches = ctx.service_caches(&svc.namespace).await;
    let applied = match apply(&ctx.client, &ctx.ledger, caches.as_deref(), children).await {
        Ok(applied) => applied,
        Err(error) => {
            let observation = Observation::ApplyFailed(error.to_string());
            let status = desired_status(
                ts,
                Some(&svc),
                &observation,
                ctx.trace_ui.as_deref(),
                Timestamp::now(),
            );
            // Best effort: the apply error is what gets retried.
            if let Err(status_error) = update_status(ctx, ts, status).await {
                tracing::warn!(error = %status_error, "failed to record the apply failure");
            }
            return Err(error);
        }
    };
    // Volumes are not watched: checked by listing once per process.
    let unchecked_volumes = finalizer::has_finalizer(ts) && ctx.first_volume_check(&svc.owner.uid);
    if cleanup_needed(
        ts,
        &svc,
        caches.as_deref(),
        &applied.wanted,
        unchecked_volumes,
    ) {
        let deleted = cleanup(&ctx.client, &svc, &applied.wanted).await?;
        if let Some(event) = cleanup_event(&deleted) {
            publish(ctx, ts, event).await;
        }
    }
    if applied.writes > 0 {
        tracing::debug!(object = %svc.name, writes = applied.writes, "applied children");
    }
    if !wants_volumes && finalizer::has_finalizer(ts) {
        // Cleanup deleted the volumes the spec dropped.
        finalizer::remove(&ctx.client, ts).await?;
    }
    let observation = Observation::Applied(&applied.deployment);
    let status = desired_status(
        ts,
        Some(&svc),
        &observation,
        ctx.trace_ui.as_deref(),
        Timestamp::now(),
    );
    update_status(ctx, ts, status).await?;
    Ok(Action::requeue(RESYNC))
}

/// Decides the retry after a failed reconcile by the error's class.
pub fn error_policy(
    object: Arc<DeserializeGuard<TracedService>>,
    error: &Error,
    ctx: Arc<Context>,
) -> Action {
    let name = key(&object);
    retry_action(&name, error.class(), error, DEPENDENCY_RECHECK, || {
        ctx.record_failure(&name)
    })
}

/// The action after a failed reconcile of object `name`, by the error's
/// class: wait for the object to change, check a missing dependency again
/// after `recheck`, or back off by the count of transient failures in a row
/// (`failures` records this one and returns the count).
pub fn retry_action(
    name: &str,
    class: ErrorClass,
    error: &dyn std::fmt::Display,
    recheck: Duration,
    failures: impl FnOnce() -> u32,
) -> Action {
    match class {
        ErrorClass::InvalidSpec => {
            tracing::warn!(object = %name, %error, "waiting for the object to change");
            Action::await_change()
        }
        ErrorClass::MissingDependency => {
            tracing::warn!(object = %name, %error, "missing dependency");
            Action::requeue(recheck)
        }
        ErrorClass::Transient => {
            let delay = backoff(failures());
            tracing::warn!(object = %name, %error, ?delay, "retrying");
            Action::requeue(delay)
        }
    }
}

/// Exponential backoff: 1 s, 2 s, 4 s, ... up to 5 minutes.
pub fn backoff(failures: u32) -> Duration {
    let exponent = failures.saturating_sub(1).min(16);
    BACKOFF_MIN
        .saturating_mul(1u32 << exponent)
        .min(BACKOFF_MAX)
}

fn key(object: &DeserializeGuard<TracedService>) -> String {
    format!(
        "{}/{}",
        object.namespace().unwrap_or_default(),
        object.name_any()
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_grows_and_caps() {
        assert_eq!(backoff(1), Duration::from_secs(1));
        assert_eq!(backoff(2), Duration::from_secs(2));
        assert_eq!(backoff(5), Duration::from_secs(16));
        assert_eq!(backoff(30), BACKOFF_MAX);
    }
}
