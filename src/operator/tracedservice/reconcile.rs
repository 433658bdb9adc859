//! One reconcile of a TracedService, as a pipeline of named steps:
//! dereference → validate → build → apply → cleanup → update_status.

use std::sync::Arc;
use std::time::Duration;

use k8s_openapi::jiff::Timestamp;
use kube::ResourceExt;
use kube::core::DeserializeGuard;
use kube::runtime::controller::Action;

use super::ServiceContext;
use super::apply::apply;
use super::cleanup::{cleanup, cleanup_needed};
use super::conditions::{Observation, Rollout};
use super::dereference::dereference;
use super::status::{desired_status, publish, update_status};
use super::{finalizer, pod_failures};
use crate::api::TracedService;
use crate::operator::cleanup::cleanup_event;
use crate::operator::error::Error;
use crate::operator::retry::retry_action;
use crate::resources::tracedservice::{build, validate_with};

/// Periodic resync of a healthy TracedService; watches drive everything else.
const RESYNC: Duration = Duration::from_secs(300);
/// While the pods are not all Ready: how often they are looked at.
const POD_CHECK: Duration = Duration::from_secs(15);

/// How often a missing dependency (e.g. the OSS CSI driver) is checked again.
const DEPENDENCY_RECHECK: Duration = Duration::from_secs(60);

/// Reconciles one TracedService (or reports one that cannot be read).
pub async fn reconcile(
    object: Arc<DeserializeGuard<TracedService>>,
    ctx: Arc<ServiceContext>,
) -> Result<Action, Error> {
    let result = ctx
        .metrics
        .reconciles
        .observe(Error::class, async {
            match &object.0 {
                Ok(ts) => reconcile_service(ts, &ctx).await,
                Err(invalid) => Err(Error::InvalidObject(invalid.error.clone())),
            }
        })
        .await;
    if result.is_ok() {
        ctx.shared.forget_failures(&key(&object));
    }
    result
}

async fn reconcile_service(ts: &TracedService, ctx: &ServiceContext) -> Result<Action, Error> {
    if ts.metadata.deletion_timestamp.is_some() {
        // Owner references let the garbage collector remove the namespaced
        // children; only the cluster-scoped volumes need the operator.
        if finalizer::has_finalizer(ts) {
            finalizer::finalize(&ctx.shared.client, ts).await?;
        }
        return Ok(Action::await_change());
    }
    let dereferenced = dereference(&ctx.shared.client, ts).await?;
    let svc = match validate_with(ts, &ctx.options) {
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
        finalizer::add(&ctx.shared.client, ts).await?;
    }
    let children = build(&svc, &ctx.options);
    let caches = ctx.service_caches(&svc.namespace).await;
    let applied = match apply(
        &ctx.shared.client,
        &ctx.shared.seen_after_apply,
        caches.as_deref(),
        children,
    )
    .await
    {
        Ok(applied) => applied,
        Err(error) => {
            let observation = match &error {
                Error::NotOwned { .. } => Observation::OwnershipConflict(error.to_string()),
                _ => Observation::ApplyFailed(error.to_string()),
            };
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
        let deleted = cleanup(&ctx.shared.client, &svc, &applied.wanted).await?;
        if let Some(event) = cleanup_event(&deleted) {
            publish(ctx, ts, event).await;
        }
    }
    if applied.writes > 0 {
        tracing::debug!(object = %svc.name, writes = applied.writes, "applied children");
    }
    if !wants_volumes && finalizer::has_finalizer(ts) {
        // Cleanup deleted the volumes the spec dropped.
        finalizer::remove(&ctx.shared.client, ts).await?;
    }
    // An unfinished rollout: look at the pods for a container that fails,
    // and look again soon (a crash-looping pod changes no Deployment field
    // the watch would see).
    let rollout = Rollout::of(&applied.deployment);
    let failing = if rollout.complete || rollout.desired == 0 {
        None
    } else {
        // A diagnostic: when the pods cannot be listed (e.g. an older role
        // without `list pods`), the status says what the Deployment says.
        pod_failures::find(&ctx.shared.client, &svc)
            .await
            .unwrap_or_else(|error| {
                tracing::warn!(object = %svc.name, %error, "cannot list the pods to look for a failing container");
                None
            })
    };
    let observation = match failing {
        Some(message) => Observation::ContainerFailing(&applied.deployment, message),
        None => Observation::Applied(&applied.deployment),
    };
    let status = desired_status(
        ts,
        Some(&svc),
        &observation,
        ctx.trace_ui.as_deref(),
        Timestamp::now(),
    );
    update_status(ctx, ts, status).await?;
    Ok(Action::requeue(
        if rollout.complete || rollout.desired == 0 {
            RESYNC
        } else {
            POD_CHECK
        },
    ))
}

/// Decides the retry after a failed reconcile by the error's class.
pub fn error_policy(
    object: Arc<DeserializeGuard<TracedService>>,
    error: &Error,
    ctx: Arc<ServiceContext>,
) -> Action {
    let name = key(&object);
    retry_action(&name, error.class(), error, DEPENDENCY_RECHECK, || {
        ctx.shared.record_failure(&name)
    })
}

fn key(object: &DeserializeGuard<TracedService>) -> String {
    format!(
        "{}/{}",
        object.namespace().unwrap_or_default(),
        object.name_any()
    )
}
