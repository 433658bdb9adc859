//! Where a URL points, as far as a NetworkPolicy can tell.

use std::net::IpAddr;

/// A parsed http(s) URL of something the pods connect to (trace endpoint, package index).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Endpoint {
    /// The URL as the user wrote it.
    pub url: String,
    /// What the host is.
    pub host: Host,
    /// Port, explicit or the scheme's default.
    pub port: u16,
}

/// The kind of host of an [`Endpoint`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Host {
    /// An IP literal: egress can be limited to it.
    Ip(IpAddr),
    /// A Service DNS name (`name.ns.svc[.cluster.local]`, or a bare `name` in the pods'
    /// own namespace): egress can be limited to that namespace.
    ClusterService {
        /// The Service's namespace; the pods' own when `None`.
        namespace: Option<String>,
    },
    /// Any other name: NetworkPolicies cannot match DNS names, so only the port is limited.
    External(String),
}

impl Endpoint {
    /// Parses an http or https URL with a host; `None` for anything else.
    pub fn parse(raw: &str) -> Option<Self> {
        let url = url::Url::parse(raw).ok()?;
        if !matches!(url.scheme(), "http" | "https") {
            return None;
        }
        let port = url.port_or_known_default()?;
        let host = match url.host()? {
            url::Host::Ipv4(ip) => Host::Ip(IpAddr::V4(ip)),
            url::Host::Ipv6(ip) => Host::Ip(IpAddr::V6(ip)),
            url::Host::Domain(domain) => classify_domain(domain),
        };
        Some(Self {
            url: raw.to_owned(),
            host,
            port,
        })
    }

    /// An object storage endpoint as `oss.endpoint` takes it: a URL, or a
    /// bare host name (`oss-cn-hangzhou-internal.aliyuncs.com`), which
    /// rclone reaches over https.
    pub fn parse_storage(raw: &str) -> Option<Self> {
        if raw.contains("://") {
            Self::parse(raw)
        } else {
            Self::parse(&format!("https://{raw}"))
        }
    }

    /// For a plain-http URL, the `host[:port]` pip must be told to trust
    /// (`--trusted-host`): pip ignores an http index otherwise ("not a
    /// trusted or secure host"). The user chose http by writing the URL;
    /// `None` for https, which pip verifies.
    pub fn plain_http_authority(&self) -> Option<String> {
        let url = url::Url::parse(&self.url).ok()?;
        if url.scheme() != "http" {
            return None;
        }
        let host = url.host_str()?;
        Some(match url.port() {
            Some(port) => format!("{host}:{port}"),
            None => host.to_owned(),
        })
    }
}

fn classify_domain(domain: &str) -> Host {
    let domain = domain.trim_end_matches('.');
    let labels: Vec<&str> = domain.split('.').collect();
    match labels.as_slice() {
        [_single] => Host::ClusterService { namespace: None },
        [_service, namespace, "svc", ..] => Host::ClusterService {
            namespace: Some((*namespace).to_owned()),
        },
        _ => Host::External(domain.to_owned()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_http_index_names_its_authority_for_pip() {
        let e = Endpoint::parse("http://pypi.infra.svc.cluster.local/simple/").unwrap();
        assert_eq!(
            e.plain_http_authority().as_deref(),
            Some("pypi.infra.svc.cluster.local")
        );
        let e = Endpoint::parse("http://10.0.0.7:8080/simple").unwrap();
        assert_eq!(e.plain_http_authority().as_deref(), Some("10.0.0.7:8080"));
        let e = Endpoint::parse("https://pypi.org/simple").unwrap();
        assert_eq!(e.plain_http_authority(), None);
    }

    #[test]
    fn classifies_hosts() {
        let e = Endpoint::parse("http://jaeger-collector.observability.svc.cluster.local:4318")
            .unwrap();
        assert_eq!(
            e.host,
            Host::ClusterService {
                namespace: Some("observability".into())
            }
        );
        assert_eq!(e.port, 4318);
        let e = Endpoint::parse("http://jaeger:4317").unwrap();
        assert_eq!(e.host, Host::ClusterService { namespace: None });
        let e = Endpoint::parse("https://10.1.2.3/v1/traces").unwrap();
        assert_eq!(e.host, Host::Ip("10.1.2.3".parse().unwrap()));
        assert_eq!(e.port, 443);
        let e = Endpoint::parse("https://pypi.org/simple").unwrap();
        assert_eq!(e.host, Host::External("pypi.org".into()));
    }

    #[test]
    fn rejects_non_http() {
        assert!(Endpoint::parse("ftp://example.com").is_none());
        assert!(Endpoint::parse("jaeger:4317").is_none());
        assert!(Endpoint::parse("not a url").is_none());
    }
}
