//! Leader election through a `coordination.k8s.io/v1` Lease, so only one
//! operator replica reconciles at a time (client-go's algorithm, simplified):
//! the holder renews the Lease every `RETRY`; another replica takes it over
//! once it has not been renewed for `LEASE_DURATION`. Every write carries the
//! Lease's resourceVersion, so two replicas never both win.

use std::time::Duration;

use k8s_openapi::api::coordination::v1::{Lease, LeaseSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::MicroTime;
use k8s_openapi::jiff::{SignedDuration, Timestamp};
use kube::api::{ObjectMeta, PostParams};
use kube::{Api, Client};

/// How long a Lease is valid without renewal.
pub const LEASE_DURATION: Duration = Duration::from_secs(15);
/// How long the holder keeps trying to renew before it gives up leadership.
pub const RENEW_DEADLINE: Duration = Duration::from_secs(10);
/// Pause between attempts to acquire or renew.
pub const RETRY: Duration = Duration::from_secs(2);

/// Where the Lease lives and who is asking.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LeaseConfig {
    /// Lease name.
    pub name: String,
    /// Lease namespace.
    pub namespace: String,
    /// This replica's identity (its pod name).
    pub identity: String,
}

/// What to do with the Lease as it stands.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Decision {
    /// No Lease yet: create it, holding it.
    Create,
    /// We hold it: renew.
    Renew,
    /// Another holder let it expire (or released it): take it over.
    TakeOver,
    /// Another holder has it.
    Wait,
}

/// Decides from the current Lease, the time and our identity. Pure.
pub fn decide(lease: Option<&Lease>, identity: &str, now: Timestamp) -> Decision {
    let Some(spec) = lease.and_then(|l| l.spec.as_ref()) else {
        return if lease.is_none() {
            Decision::Create
        } else {
            Decision::TakeOver
        };
    };
    match spec.holder_identity.as_deref() {
        Some(holder) if holder == identity => Decision::Renew,
        None | Some("") => Decision::TakeOver,
        Some(_) => {
            let duration = spec
                .lease_duration_seconds
                .map_or(LEASE_DURATION.as_secs() as i64, i64::from);
            let expired = spec
                .renew_time
                .as_ref()
                .is_none_or(|renewed| renewed.0 + SignedDuration::from_secs(duration) < now);
            if expired {
                Decision::TakeOver
            } else {
                Decision::Wait
            }
        }
    }
}

/// Elects this replica through the configured Lease.
pub struct LeaderElector {
    api: Api<Lease>,
    config: LeaseConfig,
}

impl LeaderElector {
    /// An elector for `config`.
    pub fn new(client: Client, config: LeaseConfig) -> Self {
        Self {
            api: Api::namespaced(client, &config.namespace),
            config,
        }
    }

    /// One attempt: returns whether this replica holds the Lease afterwards.
    pub async fn try_acquire_or_renew(&self) -> Result<bool, kube::Error> {
        let current = self.api.get_opt(&self.config.name).await?;
        let now = Timestamp::now();
        let decision = decide(current.as_ref(), &self.config.identity, now);
        let previous = current
            .as_ref()
            .and_then(|l| l.spec.clone())
            .unwrap_or_default();
        let spec = |acquire_time, transitions| LeaseSpec {
            holder_identity: Some(self.config.identity.clone()),
            lease_duration_seconds: Some(LEASE_DURATION.as_secs() as i32),
            acquire_time,
            renew_time: Some(MicroTime(now)),
            lease_transitions: transitions,
            ..LeaseSpec::default()
        };
        let lease = match (decision, current) {
            (Decision::Wait, _) => return Ok(false),
            (Decision::Create, _) | (_, None) => {
                let lease = Lease {
                    metadata: ObjectMeta {
                        name: Some(self.config.name.clone()),
                        namespace: Some(self.config.namespace.clone()),
                        ..ObjectMeta::default()
                    },
                    spec: Some(spec(Some(MicroTime(now)), Some(0))),
                };
                return match self.api.create(&PostParams::default(), &lease).await {
                    Ok(_) => Ok(true),
                    Err(kube::Error::Api(status)) if status.code == 409 => Ok(false),
                    Err(e) => Err(e),
                };
            }
            (Decision::Renew, Some(mut lease)) => {
                lease.spec = Some(spec(previous.acquire_time, previous.lease_transitions));
                lease
            }
            (Decision::TakeOver, Some(mut lease)) => {
                let transitions = previous.lease_transitions.unwrap_or(0).saturating_add(1);
                lease.spec = Some(spec(Some(MicroTime(now)), Some(transitions)));
                lease
            }
        };
        // `replace` sends the resourceVersion read above: a concurrent writer makes it fail.
        match self
            .api
            .replace(&self.config.name, &PostParams::default(), &lease)
            .await
        {
            Ok(_) => Ok(true),
            Err(kube::Error::Api(status)) if status.code == 409 => Ok(false),
            Err(e) => Err(e),
        }
    }

    /// Waits until this replica holds the Lease.
    pub async fn acquire(&self) {
        tracing::info!(lease = %self.config.name, identity = %self.config.identity, "waiting for leadership");
        loop {
            match self.try_acquire_or_renew().await {
                Ok(true) => {
                    tracing::info!(lease = %self.config.name, "became the leader");
                    return;
                }
                Ok(false) => {}
                Err(error) => tracing::warn!(%error, "leader election attempt failed"),
            }
            tokio::time::sleep(RETRY).await;
        }
    }

    /// Gives the Lease up (on shutdown) so another replica need not wait for it to expire.
    pub async fn release(&self) {
        let Ok(Some(mut lease)) = self.api.get_opt(&self.config.name).await else {
            return;
        };
        let ours = lease
            .spec
            .as_ref()
            .and_then(|s| s.holder_identity.as_deref())
            == Some(self.config.identity.as_str());
        if !ours {
            return;
        }
        if let Some(spec) = lease.spec.as_mut() {
            spec.holder_identity = None;
            spec.renew_time = None;
        }
        match self
            .api
            .replace(&self.config.name, &PostParams::default(), &lease)
            .await
        {
            Ok(_) => tracing::info!(lease = %self.config.name, "released the lease"),
            Err(error) => tracing::warn!(%error, "failed to release the lease"),
        }
    }

    /// Renews the Lease until a renewal has not succeeded for `RENEW_DEADLINE`;
    /// returns then (leadership lost).
    pub async fn hold(&self) {
        let mut last_renewal = tokio::time::Instant::now();
        loop {
            tokio::time::sleep(RETRY).await;
            match self.try_acquire_or_renew().await {
                Ok(true) => last_renewal = tokio::time::Instant::now(),
                Ok(false) => {
                    tracing::error!(lease = %self.config.name, "another replica took the lease");
                    return;
                }
                Err(error) => tracing::warn!(%error, "lease renewal failed"),
            }
            if last_renewal.elapsed() > RENEW_DEADLINE {
                tracing::error!(lease = %self.config.name, "could not renew the lease in time");
                return;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lease(holder: Option<&str>, renewed: i64) -> Lease {
        Lease {
            metadata: ObjectMeta::default(),
            spec: Some(LeaseSpec {
                holder_identity: holder.map(str::to_owned),
                lease_duration_seconds: Some(15),
                renew_time: Some(MicroTime(Timestamp::from_second(renewed).expect("time"))),
                ..LeaseSpec::default()
            }),
        }
    }

    #[test]
    fn decisions() {
        let now = Timestamp::from_second(1_000).expect("now");
        assert_eq!(decide(None, "a", now), Decision::Create);
        assert_eq!(
            decide(Some(&lease(Some("a"), 999)), "a", now),
            Decision::Renew
        );
        assert_eq!(
            decide(Some(&lease(Some("b"), 990)), "a", now),
            Decision::Wait
        );
        assert_eq!(
            decide(Some(&lease(Some("b"), 980)), "a", now),
            Decision::TakeOver
        );
        assert_eq!(
            decide(Some(&lease(None, 999)), "a", now),
            Decision::TakeOver
        );
    }
}
