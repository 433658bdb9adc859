//! The last step: derive the status from what was observed, write it with
//! server-side apply when it changed, and publish events for transitions.

use k8s_openapi::jiff::Timestamp;
use kube::api::{Patch, PatchParams};
use kube::runtime::events::{Event, EventType};
use kube::{Api, Resource, ResourceExt};
use serde_json::json;

use super::ServiceContext;
use super::conditions::{Observation, Rollout, assess, merge, status_of};
use crate::api::TracedService;
use crate::api::tracedservice::{ConditionStatus, ConditionType, TracedServiceStatus};
use crate::operator::error::Error;
use crate::resources::meta::MANAGER;
use crate::resources::tracedservice::ValidatedTracedService;
use crate::resources::tracedservice::command::start_command;
use crate::resources::tracedservice::service::url;

/// The status a TracedService should have. Pure: `now` is passed in.
/// Without a validated spec (invalid or not yet read), the descriptive fields
/// keep their previous values.
pub fn desired_status(
    ts: &TracedService,
    svc: Option<&ValidatedTracedService>,
    observation: &Observation<'_>,
    trace_ui_template: Option<&str>,
    now: Timestamp,
) -> TracedServiceStatus {
    let previous = ts.status.clone().unwrap_or_default();
    let assessed = assess(observation);
    let generation = ts.meta().generation;
    let conditions = merge(&previous.conditions, &assessed, generation, now);
    let mut status = TracedServiceStatus {
        observed_generation: generation,
        phase: Some(assessed.phase),
        conditions,
        ..previous
    };
    if let Some(svc) = svc {
        status.url = Some(url(svc));
        status.start_command = Some(start_command(svc).display);
        status.probe = svc.tracing.as_ref().map(|t| t.probe.probe());
        status.trace_ui_link = match (trace_ui_template, &svc.tracing) {
            (Some(template), Some(tracing)) => Some(trace_ui_link(
                template,
                &tracing.service_name,
                &svc.namespace,
                &svc.name,
            )),
            _ => None,
        };
    }
    if let Observation::Applied(deployment) = observation {
        let rollout = Rollout::of(deployment);
        status.replicas = Some(rollout.desired);
        status.ready_replicas = Some(rollout.ready);
        status.replica_summary = Some(format!("{}/{}", rollout.ready, rollout.desired));
    }
    status
}

/// Fills `{service}`, `{namespace}` and `{name}` of the operator's trace UI
/// link template, percent-encoded.
pub fn trace_ui_link(template: &str, service: &str, namespace: &str, name: &str) -> String {
    let encode = |v: &str| url::form_urlencoded::byte_serialize(v.as_bytes()).collect::<String>();
    template
        .replace("{service}", &encode(service))
        .replace("{namespace}", &encode(namespace))
        .replace("{name}", &encode(name))
}

/// Writes `status` when it differs from the current one and publishes an
/// event for each notable transition.
pub async fn update_status(
    ctx: &ServiceContext,
    ts: &TracedService,
    status: TracedServiceStatus,
) -> Result<(), Error> {
    let previous = ts.status.clone().unwrap_or_default();
    if previous == status {
        return Ok(());
    }
    let namespace = ts.namespace().unwrap_or_default();
    let api: Api<TracedService> = Api::namespaced(ctx.shared.client.clone(), &namespace);
    let patch = json!({
        "apiVersion": TracedService::api_version(&()),
        "kind": TracedService::kind(&()),
        "status": status,
    });
    api.patch_status(
        &ts.name_any(),
        &PatchParams::apply(MANAGER).force(),
        &Patch::Apply(&patch),
    )
    .await
    .map_err(Error::Status)?;
    for event in transitions(&previous, &status) {
        publish(ctx, ts, event).await;
    }
    Ok(())
}

/// Events for the changes between two statuses.
pub fn transitions(previous: &TracedServiceStatus, next: &TracedServiceStatus) -> Vec<Event> {
    let mut events = Vec::new();
    let was = |t| status_of(&previous.conditions, t);
    let now = |t| status_of(&next.conditions, t);
    let condition = |t| next.conditions.iter().find(|c| c.type_ == t);
    if now(ConditionType::Degraded) == Some(ConditionStatus::True)
        && was(ConditionType::Degraded) != Some(ConditionStatus::True)
        && let Some(c) = condition(ConditionType::Degraded)
    {
        events.push(Event {
            type_: EventType::Warning,
            reason: c.reason.as_str().to_owned(),
            note: Some(c.message.clone()),
            action: "Reconcile".to_owned(),
            secondary: None,
        });
    }
    if now(ConditionType::Ready) == Some(ConditionStatus::True)
        && was(ConditionType::Ready) != Some(ConditionStatus::True)
        && let Some(c) = condition(ConditionType::Ready)
    {
        events.push(Event {
            type_: EventType::Normal,
            reason: "Ready".to_owned(),
            note: Some(c.message.clone()),
            action: "Reconcile".to_owned(),
            secondary: None,
        });
    }
    events
}

/// Publishes an event about the TracedService; failures are logged, not fatal.
pub async fn publish(ctx: &ServiceContext, ts: &TracedService, event: Event) {
    let reference = ts.object_ref(&());
    if let Err(error) = ctx.shared.recorder.publish(&event, &reference).await {
        tracing::warn!(%error, reason = %event.reason, "failed to publish event");
    }
}
