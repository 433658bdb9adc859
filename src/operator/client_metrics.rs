//! Counts the operator's own API requests, by verb and resource, as
//! `traceval_kube_requests_total`: a tower layer on the kube `Client`, so
//! every request is counted when it is sent (also when the API server is
//! unreachable and it fails). Tests read it to bound the requests made while
//! the server is down and the writes made in a conflict. Labels are bounded:
//! the verb and the resource plural (with its subresource), never names.

use std::task::{Context, Poll};

use http::{Method, Request};
use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeLabelSet, EncodeMetric};
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use tower::{Layer, Service};

/// Label set of the request counter.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RequestLabels {
    /// Kubernetes verb: get, list, watch, create, update, patch, delete, deletecollection.
    pub verb: &'static str,
    /// Resource plural, with `/subresource` when there is one, e.g. `tracedservices/status`.
    pub resource: String,
}

/// The request counter; a [`Layer`] for `kube::client::ClientBuilder`.
#[derive(Clone, Debug, Default)]
pub struct ClientMetrics {
    requests: Family<RequestLabels, Counter>,
}

impl ClientMetrics {
    /// Counts one request.
    pub fn count<B>(&self, request: &Request<B>) {
        self.requests.get_or_create(&labels(request)).inc();
    }
}

/// The verb and resource of a request to the Kubernetes API.
pub fn labels<B>(request: &Request<B>) -> RequestLabels {
    let uri = request.uri();
    let segments: Vec<&str> = uri.path().trim_matches('/').split('/').collect();
    let rest = match segments.first() {
        Some(&"api") => segments.get(2..),
        Some(&"apis") => segments.get(3..),
        _ => None,
    }
    .unwrap_or_default();
    let rest = match rest {
        ["namespaces", _, resource, tail @ ..] => [&[*resource][..], tail].concat(),
        other => other.to_vec(),
    };
    let (resource, named) = match rest.as_slice() {
        [] => ("other".to_owned(), false),
        [resource] => ((*resource).to_owned(), false),
        [resource, _] => ((*resource).to_owned(), true),
        [resource, _, sub, ..] => (format!("{resource}/{sub}"), true),
    };
    let watch = uri
        .query()
        .unwrap_or_default()
        .split('&')
        .any(|pair| pair == "watch=true" || pair == "watch=1");
    let verb = match *request.method() {
        Method::GET if watch => "watch",
        Method::GET if named => "get",
        Method::GET => "list",
        Method::POST => "create",
        Method::PUT => "update",
        Method::PATCH => "patch",
        Method::DELETE if named => "delete",
        Method::DELETE => "deletecollection",
        _ => "other",
    };
    RequestLabels { verb, resource }
}

impl Collector for ClientMetrics {
    fn encode(&self, mut encoder: DescriptorEncoder<'_>) -> Result<(), std::fmt::Error> {
        let metric = encoder.encode_descriptor(
            "kube_requests",
            "Requests the operator sent to the Kubernetes API, by verb and resource",
            None,
            self.requests.metric_type(),
        )?;
        self.requests.encode(metric)
    }
}

impl<S> Layer<S> for ClientMetrics {
    type Service = CountRequests<S>;

    fn layer(&self, inner: S) -> Self::Service {
        CountRequests {
            inner,
            metrics: self.clone(),
        }
    }
}

/// The service of [`ClientMetrics`]: counts, then sends.
#[derive(Clone, Debug)]
pub struct CountRequests<S> {
    inner: S,
    metrics: ClientMetrics,
}

impl<S, B> Service<Request<B>> for CountRequests<S>
where
    S: Service<Request<B>>,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = S::Future;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request<B>) -> Self::Future {
        self.metrics.count(&request);
        self.inner.call(request)
    }
}

/// A client for the inferred config (like `Client::try_default`) whose
/// requests are counted in `metrics`.
pub async fn client(metrics: &ClientMetrics) -> Result<kube::Client, kube::Error> {
    let config = kube::Config::infer()
        .await
        .map_err(kube::Error::InferConfig)?;
    Ok(kube::client::ClientBuilder::try_from(config)?
        .with_layer(metrics)
        .build())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn of(method: Method, uri: &str) -> (&'static str, String) {
        let request = Request::builder()
            .method(method)
            .uri(uri)
            .body(())
            .expect("request");
        let labels = labels(&request);
        (labels.verb, labels.resource)
    }

    #[test]
    fn verbs_and_resources_of_requests() {
        let ns = "https://k:6443/apis/apps/v1/namespaces/ns";
        assert_eq!(
            of(Method::GET, &format!("{ns}/deployments?watch=true&rv=1")),
            ("watch", "deployments".into())
        );
        assert_eq!(
            of(Method::GET, &format!("{ns}/deployments")),
            ("list", "deployments".into())
        );
        assert_eq!(
            of(
                Method::PATCH,
                &format!("{ns}/deployments/web?fieldManager=x")
            ),
            ("patch", "deployments".into())
        );
        assert_eq!(
            of(
                Method::PATCH,
                "/apis/traceval.dev/v1alpha1/namespaces/ns/tracedservices/a/status"
            ),
            ("patch", "tracedservices/status".into())
        );
        assert_eq!(
            of(
                Method::PUT,
                "/apis/coordination.k8s.io/v1/namespaces/ns/leases/l"
            ),
            ("update", "leases".into())
        );
        assert_eq!(
            of(Method::GET, "/api/v1/namespaces/ns"),
            ("get", "namespaces".into())
        );
        assert_eq!(
            of(Method::GET, "/api/v1/persistentvolumes/pv-1"),
            ("get", "persistentvolumes".into())
        );
        assert_eq!(of(Method::GET, "/version"), ("list", "other".into()));
        assert_eq!(
            of(Method::DELETE, "/api/v1/namespaces/ns/services"),
            ("deletecollection", "services".into())
        );
    }

    #[test]
    fn counts_in_the_prometheus_text() {
        let metrics = ClientMetrics::default();
        let mut layered = metrics.layer(tower::service_fn(|_: Request<()>| async {
            Ok::<_, std::convert::Infallible>(())
        }));
        let request = Request::post("/api/v1/namespaces/ns/events")
            .body(())
            .expect("request");
        drop(layered.call(request));
        let mut registry = super::super::metrics::Registry::default();
        registry.register_collector(Box::new(metrics));
        let text = registry.encode();
        assert!(
            text.contains(r#"traceval_kube_requests_total{verb="create",resource="events"} 1"#),
            "{text}"
        );
    }
}
