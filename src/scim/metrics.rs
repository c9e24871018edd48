//! The service's Prometheus metrics (`GET /metrics`, names prefixed `canon_`): requests and
//! their latency by tenant, resource, method and status; time in the rules engine and in the
//! store; each tenant's rule version; rate-limited and shed requests.
//!
//! Every label takes its values from a bounded set: tenant ids the service knows (else `-`),
//! route names, a fixed list of methods, status codes, store operations. Never a resource
//! id, a user name or a raw path.

use std::sync::Arc;
use std::time::{Duration, Instant};

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::registry::Registry;

use super::mapper::{MappedProfile, ProfileMapper};

/// Where a request went: a known tenant or `-`, the route's resource, the method.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RouteLabels {
    pub tenant: String,
    pub resource: &'static str,
    pub method: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RequestLabels {
    tenant: String,
    resource: &'static str,
    method: &'static str,
    status: u16,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct TenantLabels {
    tenant: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RuleLabels {
    tenant: String,
    version: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct StoreLabels {
    operation: &'static str,
}

type HistogramFamily<L> = Family<L, Histogram, fn() -> Histogram>;

/// Request latencies: 0.5 ms to about 16 s (Okta and Entra give up at 60 s).
fn request_histogram() -> Histogram {
    Histogram::new(exponential_buckets(0.0005, 2.0, 16))
}

/// Engine and store calls: 10 µs to about 5 s.
fn call_histogram() -> Histogram {
    Histogram::new(exponential_buckets(0.00001, 2.5, 15))
}

pub struct Metrics {
    registry: Registry,
    requests: Family<RequestLabels, Counter>,
    latency: HistogramFamily<RouteLabels>,
    engine: Histogram,
    store: HistogramFamily<StoreLabels>,
    rule_version: Family<RuleLabels, Gauge>,
    rate_limited: Family<TenantLabels, Counter>,
    in_flight: Gauge,
    shed: Counter,
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics::new()
    }
}

impl Metrics {
    pub fn new() -> Metrics {
        let mut registry = Registry::with_prefix("canon");
        let requests = Family::<RequestLabels, Counter>::default();
        registry.register(
            "http_requests",
            "Requests answered, by tenant (`-`: none or unknown), resource, method and status",
            requests.clone(),
        );
        let latency = HistogramFamily::<RouteLabels>::new_with_constructor(request_histogram);
        registry.register(
            "http_request_duration_seconds",
            "Time from a request's head to its response, by tenant, resource and method",
            latency.clone(),
        );
        let engine = call_histogram();
        registry.register(
            "engine_seconds",
            "Time the rules engine took to map one user (every create, PUT and PATCH of a user)",
            engine.clone(),
        );
        let store = HistogramFamily::<StoreLabels>::new_with_constructor(call_histogram);
        registry.register(
            "store_seconds",
            "Time of each store call, by operation (writes include their commit)",
            store.clone(),
        );
        let rule_version = Family::<RuleLabels, Gauge>::default();
        registry.register(
            "rule_version_info",
            "The rule version each tenant serves now (always 1)",
            rule_version.clone(),
        );
        let rate_limited = Family::<TenantLabels, Counter>::default();
        registry.register(
            "rate_limited",
            "Requests answered 429 because their tenant was over its rate limit",
            rate_limited.clone(),
        );
        let in_flight = Gauge::default();
        registry.register(
            "requests_in_flight",
            "Requests being served now (bounded by connections.max_in_flight)",
            in_flight.clone(),
        );
        let shed = Counter::default();
        registry.register(
            "overloaded",
            "Requests answered 503 because the service was at its bound of requests in flight",
            shed.clone(),
        );
        Metrics {
            registry,
            requests,
            latency,
            engine,
            store,
            rule_version,
            rate_limited,
            in_flight,
            shed,
        }
    }

    /// One answered request.
    pub fn request(&self, route: RouteLabels, status: u16, took: Duration) {
        self.latency
            .get_or_create(&route)
            .observe(took.as_secs_f64());
        self.requests
            .get_or_create(&RequestLabels {
                tenant: route.tenant,
                resource: route.resource,
                method: route.method,
                status,
            })
            .inc();
    }

    pub fn rate_limited(&self, tenant: &str) {
        self.rate_limited
            .get_or_create(&TenantLabels {
                tenant: tenant.to_string(),
            })
            .inc();
    }

    pub fn store_call(&self, operation: &'static str, took: Duration) {
        self.store
            .get_or_create(&StoreLabels { operation })
            .observe(took.as_secs_f64());
    }

    /// A request started (its guard ends it).
    pub fn in_flight(self: &Arc<Self>) -> InFlightGuard {
        self.in_flight.inc();
        InFlightGuard(self.clone())
    }

    pub fn shed(&self) {
        self.shed.inc();
    }

    /// The whole exposition in the text format, the rule versions `(tenant, version)` as of
    /// now (tenants come, go and reload between scrapes).
    pub fn encode<'a>(&self, rule_versions: impl IntoIterator<Item = (&'a str, String)>) -> String {
        self.rule_version.clear();
        for (tenant, version) in rule_versions {
            self.rule_version
                .get_or_create(&RuleLabels {
                    tenant: tenant.to_string(),
                    version,
                })
                .set(1);
        }
        let mut text = String::new();
        // Writing into a String cannot fail.
        let _ = prometheus_client::encoding::text::encode(&mut text, &self.registry);
        text
    }

    /// `mapper`, its every call timed into `canon_engine_seconds`.
    pub fn timed_mapper(
        self: &Arc<Self>,
        mapper: Arc<dyn ProfileMapper>,
    ) -> Arc<dyn ProfileMapper> {
        Arc::new(TimedMapper {
            inner: mapper,
            metrics: self.clone(),
        })
    }
}

/// Ends a request's count in `canon_requests_in_flight` when dropped.
pub struct InFlightGuard(Arc<Metrics>);

impl Drop for InFlightGuard {
    fn drop(&mut self) {
        self.0.in_flight.dec();
    }
}

struct TimedMapper {
    inner: Arc<dyn ProfileMapper>,
    metrics: Arc<Metrics>,
}

impl ProfileMapper for TimedMapper {
    fn version(&self) -> String {
        self.inner.version()
    }

    fn map(&self, user: &serde_json::Value) -> MappedProfile {
        let started = Instant::now();
        let profile = self.inner.map(user);
        self.metrics.engine.observe(started.elapsed().as_secs_f64());
        profile
    }

    // The organisation graph (issue 21) passes through: a wrapper that dropped these would
    // silently serve profiles without the derived values.
    fn has_org_graph(&self) -> bool {
        self.inner.has_org_graph()
    }

    fn org_signature(&self) -> String {
        self.inner.org_signature()
    }

    fn org_entry(&self, user: &serde_json::Value) -> crate::eval::OrgEntry {
        self.inner.org_entry(user)
    }

    fn reports_alike(&self, a: u64, b: u64) -> bool {
        self.inner.reports_alike(a, b)
    }

    fn map_in(
        &self,
        user: &serde_json::Value,
        population: &dyn crate::eval::Population,
    ) -> MappedProfile {
        let started = Instant::now();
        let profile = self.inner.map_in(user, population);
        self.metrics.engine.observe(started.elapsed().as_secs_f64());
        profile
    }
}
