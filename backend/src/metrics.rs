//! Prometheus metrics (`GET /metrics`).

use std::sync::Arc;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;

/// Label of per-target metrics.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct TargetLabel {
    /// Target name.
    pub target: String,
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
        };
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
        Metrics {
            registry: Arc::new(registry),
            ..m
        }
    }

    /// The text exposition format.
    pub fn render(&self) -> String {
        let mut out = String::new();
        let _ = prometheus_client::encoding::text::encode(&mut out, &self.registry);
        out
    }
}
