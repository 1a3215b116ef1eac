//! Prometheus metrics (`GET /metrics`).

use std::sync::Arc;
use std::time::Duration;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;
use winrelay_shared::protocol::SessionState;

use crate::session::{Client, Observer};

/// Label of per-target metrics.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct TargetLabel {
    /// Target name.
    pub target: String,
}

/// Label of per-request metrics.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RequestLabel {
    /// Target name.
    pub target: String,
    /// WS-Management action (`create`, `command`, `send`, `receive`, `signal`, `delete`).
    pub action: String,
    /// `ok`, `no_output_yet`, `fault`, `failed`.
    pub outcome: String,
}

/// Label of per-request latency.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ActionLabel {
    /// Target name.
    pub target: String,
    /// WS-Management action.
    pub action: String,
}

fn latency_histogram() -> Histogram {
    Histogram::new([
        0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
    ])
}

/// The relay's metrics; cheap to clone.
#[derive(Clone)]
pub struct Metrics {
    registry: Arc<Registry>,
    /// Live sessions.
    pub sessions: Gauge,
    /// Sessions started.
    pub sessions_created: Counter,
    /// Sessions whose shell ended.
    pub sessions_ended: Counter,
    /// Attached clients.
    pub clients: Gauge,
    /// Terminal bytes produced (output and echo).
    pub output_bytes: Counter,
    /// Input bytes from clients.
    pub input_bytes: Counter,
    /// Bytes sent to WebSocket clients.
    pub ws_sent_bytes: Counter,
    /// WinRM failures per target.
    pub winrm_faults: Family<TargetLabel, Counter>,
    /// Time to open a shell per target, seconds.
    pub open_seconds: Family<TargetLabel, Histogram, fn() -> Histogram>,
    /// WinRM requests per target, action and outcome.
    pub winrm_requests: Family<RequestLabel, Counter>,
    /// WinRM request latency per target and action (answered requests; a Receive's long
    /// poll that ends without output is not counted).
    pub winrm_request_seconds: Family<ActionLabel, Histogram, fn() -> Histogram>,
    /// With `[cluster]`: what the node does in the cluster.
    pub cluster: ClusterMetrics,
}

/// A cluster node's metrics (all zero without `[cluster]`).
#[derive(Clone)]
pub struct ClusterMetrics {
    /// Leases renewed.
    pub lease_renewals: Counter,
    /// Leases this node lost to another node (it stopped driving those sessions).
    pub leases_lost: Counter,
    /// Sessions this node adopted from a dead or departing owner.
    pub adoptions: Counter,
    /// Sessions that could not be adopted (and ended).
    pub adoptions_failed: Counter,
    /// Checkpoints written (output acknowledged to the target after it was in Redis).
    pub checkpoints: Counter,
    /// Redis round trips (a lease renewal), seconds.
    pub redis_latency: Histogram,
    /// Sessions of other relays this node serves clients of.
    pub followed: Gauge,
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics::new()
    }
}

impl Metrics {
    /// Creates and registers every metric.
    pub fn new() -> Metrics {
        let mut registry = Registry::with_prefix("winrelay");
        let m = Metrics {
            registry: Arc::new(Registry::default()),
            sessions: Gauge::default(),
            sessions_created: Counter::default(),
            sessions_ended: Counter::default(),
            clients: Gauge::default(),
            output_bytes: Counter::default(),
            input_bytes: Counter::default(),
            ws_sent_bytes: Counter::default(),
            winrm_faults: Family::default(),
            open_seconds: Family::new_with_constructor(latency_histogram),
            winrm_requests: Family::default(),
            winrm_request_seconds: Family::new_with_constructor(latency_histogram),
            cluster: ClusterMetrics {
                lease_renewals: Counter::default(),
                leases_lost: Counter::default(),
                adoptions: Counter::default(),
                adoptions_failed: Counter::default(),
                checkpoints: Counter::default(),
                redis_latency: Histogram::new([
                    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.5, 1.0,
                ]),
                followed: Gauge::default(),
            },
        };
        let c = &m.cluster;
        registry.register(
            "cluster_lease_renewals",
            "Session leases renewed",
            c.lease_renewals.clone(),
        );
        registry.register(
            "cluster_leases_lost",
            "Session leases lost to another relay",
            c.leases_lost.clone(),
        );
        registry.register(
            "cluster_adoptions",
            "Sessions adopted from a dead or departing relay",
            c.adoptions.clone(),
        );
        registry.register(
            "cluster_adoptions_failed",
            "Sessions that could not be adopted",
            c.adoptions_failed.clone(),
        );
        registry.register(
            "cluster_checkpoints",
            "Output checkpoints written to Redis",
            c.checkpoints.clone(),
        );
        registry.register(
            "cluster_redis_seconds",
            "Redis round trip (lease renewal)",
            c.redis_latency.clone(),
        );
        registry.register(
            "cluster_followed_sessions",
            "Sessions of other relays served here",
            c.followed.clone(),
        );
        registry.register("sessions", "Live sessions", m.sessions.clone());
        registry.register(
            "sessions_created",
            "Sessions started",
            m.sessions_created.clone(),
        );
        registry.register(
            "sessions_ended",
            "Sessions whose shell ended",
            m.sessions_ended.clone(),
        );
        registry.register("clients", "Attached WebSocket clients", m.clients.clone());
        registry.register(
            "output_bytes",
            "Terminal bytes produced",
            m.output_bytes.clone(),
        );
        registry.register(
            "input_bytes",
            "Input bytes from clients",
            m.input_bytes.clone(),
        );
        registry.register(
            "ws_sent_bytes",
            "Bytes sent to WebSocket clients",
            m.ws_sent_bytes.clone(),
        );
        registry.register(
            "winrm_failures",
            "WinRM failures per target",
            m.winrm_faults.clone(),
        );
        registry.register(
            "winrm_open_seconds",
            "Time to open a WinRS shell",
            m.open_seconds.clone(),
        );
        registry.register(
            "winrm_requests",
            "WinRM requests by target, action and outcome",
            m.winrm_requests.clone(),
        );
        registry.register(
            "winrm_request_seconds",
            "WinRM request latency by target and action",
            m.winrm_request_seconds.clone(),
        );
        Metrics {
            registry: Arc::new(registry),
            ..m
        }
    }

    /// An observer for a WinRM client talking to `target`.
    pub fn winrm_observer(&self, target: &str) -> winrm_client::RequestObserver {
        let metrics = self.clone();
        let target = target.to_string();
        winrm_client::RequestObserver(Arc::new(move |action, elapsed, outcome| {
            use winrm_client::RequestOutcome as O;
            let action = format!("{action:?}").to_ascii_lowercase();
            let outcome_name = match outcome {
                O::Ok => "ok",
                O::NoOutputYet => "no_output_yet",
                O::Fault(_) => "fault",
                O::Failed => "failed",
            };
            metrics
                .winrm_requests
                .get_or_create(&RequestLabel {
                    target: target.clone(),
                    action: action.clone(),
                    outcome: outcome_name.into(),
                })
                .inc();
            if matches!(outcome, O::Ok | O::Fault(_)) {
                metrics
                    .winrm_request_seconds
                    .get_or_create(&ActionLabel {
                        target: target.clone(),
                        action,
                    })
                    .observe(elapsed.as_secs_f64());
            }
        }))
    }

    /// The text exposition format.
    pub fn render(&self) -> String {
        let mut out = String::new();
        let _ = prometheus_client::encoding::text::encode(&mut out, &self.registry);
        out
    }
}

/// The metrics of one session, fed as its observer.
pub struct SessionMetrics {
    metrics: Metrics,
    target: TargetLabel,
}

impl SessionMetrics {
    /// Counts a new session of `target`.
    pub fn new(metrics: &Metrics, target: &str) -> SessionMetrics {
        metrics.sessions.inc();
        metrics.sessions_created.inc();
        SessionMetrics {
            metrics: metrics.clone(),
            target: TargetLabel {
                target: target.into(),
            },
        }
    }
}

impl Observer for SessionMetrics {
    fn output_len(&self, bytes: u64) {
        self.metrics.output_bytes.inc_by(bytes);
    }

    fn input(&self, _client: u64, data: &str) {
        self.metrics.input_bytes.inc_by(data.len() as u64);
    }

    fn attached(&self, _client: &Client) {
        self.metrics.clients.inc();
    }

    fn detached(&self, _client: &Client) {
        self.metrics.clients.dec();
    }

    fn opened(&self, took: Duration) {
        self.metrics
            .open_seconds
            .get_or_create(&self.target)
            .observe(took.as_secs_f64());
    }

    fn fault(&self) {
        self.metrics.winrm_faults.get_or_create(&self.target).inc();
    }

    fn ended(&self, state: &SessionState) {
        if !matches!(state, SessionState::Failed { .. }) {
            self.metrics.sessions_ended.inc();
        }
    }

    fn retired(&self) {
        self.metrics.sessions.dec();
    }
}
