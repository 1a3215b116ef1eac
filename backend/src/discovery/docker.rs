//! Docker's answers turned into targets, as plain code: no socket, no clock.
//!
//! The input is what the Engine API (1.41) answers to `GET /services`, `/tasks`,
//! `/containers/json` and what `/events` streams, parsed into the few fields used here; the
//! output is the [`Found`] targets and the [`Skipped`] ones with the reason. The I/O half
//! (`super::engine`) only fetches those answers.

use std::collections::HashMap;
use std::net::IpAddr;

use ipnet::IpNet;
use serde::Deserialize;

use super::{Found, Skipped};
use crate::config::ShellKind;

/// A service (`GET /services`): only what discovery reads.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Service {
    /// Service id.
    #[serde(rename = "ID", default)]
    pub id: String,
    /// Its spec.
    #[serde(default)]
    pub spec: ServiceSpec,
}

/// `Service.Spec`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ServiceSpec {
    /// Service name.
    #[serde(default)]
    pub name: String,
    /// The service's labels (`docker service create --label`).
    #[serde(default)]
    pub labels: HashMap<String, String>,
    /// The task template (its container's image).
    #[serde(default)]
    pub task_template: TaskSpec,
}

/// `Spec.TaskTemplate` / `Task.Spec`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct TaskSpec {
    /// The container spec.
    #[serde(default)]
    pub container_spec: ContainerSpec,
}

/// `ContainerSpec`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ContainerSpec {
    /// Image reference (often with `@sha256:...`).
    #[serde(default)]
    pub image: String,
}

/// A task (`GET /tasks`).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Task {
    /// Task id.
    #[serde(rename = "ID", default)]
    pub id: String,
    /// Its service.
    #[serde(rename = "ServiceID", default)]
    pub service_id: String,
    /// Replica number (replicated services only).
    #[serde(default)]
    pub slot: Option<u64>,
    /// The node it runs on.
    #[serde(rename = "NodeID", default)]
    pub node_id: String,
    /// What the orchestrator wants (`running`, `shutdown`, ...).
    #[serde(default)]
    pub desired_state: String,
    /// What it is.
    #[serde(default)]
    pub status: TaskStatus,
    /// Its spec (image).
    #[serde(default)]
    pub spec: TaskSpec,
    /// Its addresses, per network.
    #[serde(default)]
    pub networks_attachments: Vec<NetworkAttachment>,
}

/// `Task.Status`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct TaskStatus {
    /// When the state last changed (RFC 3339).
    #[serde(default)]
    pub timestamp: String,
    /// `running`, `starting`, `failed`, ...
    #[serde(default)]
    pub state: String,
}

/// `Task.NetworksAttachments[]`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct NetworkAttachment {
    /// The network.
    #[serde(default)]
    pub network: AttachedNetwork,
    /// `10.0.1.5/24`, ...
    #[serde(default)]
    pub addresses: Vec<String>,
}

/// `NetworksAttachments[].Network`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct AttachedNetwork {
    /// Network id.
    #[serde(rename = "ID", default)]
    pub id: String,
    /// Its spec (the name).
    #[serde(default)]
    pub spec: NetworkSpec,
}

/// `Network.Spec`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct NetworkSpec {
    /// Network name.
    #[serde(default)]
    pub name: String,
}

/// A container (`GET /containers/json`).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Container {
    /// Container id.
    #[serde(default)]
    pub id: String,
    /// `/name` (Docker prefixes a slash).
    #[serde(default)]
    pub names: Vec<String>,
    /// Image name.
    #[serde(default)]
    pub image: String,
    /// Created, seconds since the epoch.
    #[serde(default)]
    pub created: i64,
    /// `running`, `exited`, ...
    #[serde(default)]
    pub state: String,
    /// `Up 5 minutes`, ...
    #[serde(default)]
    pub status: String,
    /// Its labels.
    #[serde(default)]
    pub labels: HashMap<String, String>,
    /// Its networks.
    #[serde(default)]
    pub network_settings: ContainerNetworks,
}

/// `Container.NetworkSettings`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ContainerNetworks {
    /// By network name.
    #[serde(default)]
    pub networks: HashMap<String, Endpoint>,
}

/// `NetworkSettings.Networks[NAME]`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Endpoint {
    /// IPv4 address (may be empty).
    #[serde(rename = "IPAddress", default)]
    pub ip_address: String,
    /// IPv6 address (may be empty).
    #[serde(rename = "GlobalIPv6Address", default)]
    pub global_ipv6_address: String,
}

/// A network (`GET /networks/NAME?verbose=true&scope=swarm`): the addresses of every
/// task on it, across the Swarm. The Engine API documents no `NetworksAttachments` on
/// tasks, so typed clients drop them; this is where task addresses are documented.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct NetworkDetail {
    /// By service name (`""` for plain containers).
    #[serde(default)]
    pub services: HashMap<String, NetworkService>,
}

/// `Network.Services[NAME]`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct NetworkService {
    /// Its tasks on the network.
    #[serde(default)]
    pub tasks: Vec<NetworkTask>,
}

/// `Network.Services[NAME].Tasks[]`.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct NetworkTask {
    /// `SERVICE.SLOT.TASKID` (or `SERVICE.NODEID.TASKID`).
    #[serde(rename = "Name", default)]
    pub name: String,
    /// Its address on the network.
    #[serde(rename = "EndpointIP", default)]
    pub endpoint_ip: String,
}

/// One message of `GET /events`.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct Event {
    /// `container`, `service`, `network`, `node`, ...
    #[serde(rename = "Type", default)]
    pub kind: String,
    /// `start`, `die`, `create`, `update`, `remove`, `connect`, ...
    #[serde(rename = "Action", default)]
    pub action: String,
}

/// Everything discovery reads from one engine at one moment.
#[derive(Debug, Clone, Default)]
pub struct Snapshot {
    /// Labelled services (empty when the engine is not a Swarm manager).
    pub services: Vec<Service>,
    /// Tasks of those services.
    pub tasks: Vec<Task>,
    /// Running containers.
    pub containers: Vec<Container>,
    /// The block's network in detail (task addresses), when it is a Swarm network.
    pub network: Option<NetworkDetail>,
}

/// What a `[[discovery]]` block asks for, as the core needs it.
#[derive(Debug, Clone)]
pub struct Rules {
    /// The network whose addresses are used.
    pub network: String,
    /// The ranges an address must lie in.
    pub allow_networks: Vec<IpNet>,
    /// Label key that marks a target.
    pub label_key: String,
    /// Its value, if the rule names one.
    pub label_value: Option<String>,
}

impl Rules {
    /// `KEY=VALUE` or `KEY` into a rule.
    pub fn new(network: &str, allow_networks: &[IpNet], label: &str) -> Rules {
        let (key, value) = match label.split_once('=') {
            Some((k, v)) => (k.to_string(), Some(v.to_string())),
            None => (label.to_string(), None),
        };
        Rules {
            network: network.to_string(),
            allow_networks: allow_networks.to_vec(),
            label_key: key,
            label_value: value,
        }
    }

    /// Whether `labels` carry the marking label.
    pub fn marked(&self, labels: &HashMap<String, String>) -> bool {
        match (labels.get(&self.label_key), &self.label_value) {
            (Some(v), Some(want)) => v == want,
            (Some(_), None) => true,
            (None, _) => false,
        }
    }

    fn allowed(&self, ip: &IpAddr) -> bool {
        self.allow_networks.iter().any(|n| n.contains(ip))
    }

    /// The filter for `/services` and `/containers/json` (`label=KEY=VALUE`).
    pub fn label_filter(&self) -> String {
        match &self.label_value {
            Some(v) => format!("{}={}", self.label_key, v),
            None => self.label_key.clone(),
        }
    }
}

/// Labels a service or container may set (anything else about access comes from the block).
pub mod labels {
    /// `cmd`, `powershell` or `powershell-pipe`.
    pub const SHELL: &str = "winrelay.shell";
    /// The WinRM port.
    pub const PORT: &str = "winrelay.port";
    /// The PowerShell session configuration (for PowerShell remoting).
    pub const CONFIGURATION: &str = "winrelay.configuration";
}

/// Swarm puts this label on the containers of its tasks.
const SWARM_TASK_LABEL: &str = "com.docker.swarm.task.id";

/// The shell a label names: `cmd`, `powershell` (PSRP) or `powershell-pipe`.
pub fn shell_from_label(value: &str) -> Option<ShellKind> {
    serde_json::from_value(serde_json::Value::String(value.to_string())).ok()
}

/// What labels choose: the shell, the port, the session configuration.
type Choices = (Option<ShellKind>, Option<u16>, Option<String>);

/// What the labels choose. A bad value is a reason to skip the target (so nobody connects
/// with settings they did not mean).
fn choices(labels: &HashMap<String, String>) -> Result<Choices, String> {
    let shell = match labels.get(labels::SHELL) {
        Some(v) => Some(shell_from_label(v).ok_or_else(|| {
            format!(
                "label {}={v:?}: use cmd, powershell or powershell-pipe",
                labels::SHELL
            )
        })?),
        None => None,
    };
    let port = match labels.get(labels::PORT) {
        Some(v) => Some(
            v.parse::<u16>()
                .ok()
                .filter(|p| *p != 0)
                .ok_or_else(|| format!("label {}={v:?} is not a port", labels::PORT))?,
        ),
        None => None,
    };
    let configuration = labels.get(labels::CONFIGURATION).cloned();
    Ok((shell, port, configuration))
}

/// `10.0.1.5/24` or `10.0.1.5` into an address.
fn parse_address(text: &str) -> Option<IpAddr> {
    text.split('/').next()?.parse().ok()
}

/// The targets in `snap` under `rules`, sorted by name, and what was left out and why.
pub fn targets(snap: &Snapshot, rules: &Rules) -> (Vec<Found>, Vec<Skipped>) {
    let mut found = Vec::new();
    let mut skipped = Vec::new();
    let mut add =
        |name: String, addr: Option<IpAddr>, labels: &HashMap<String, String>, f: Found| {
            let skip = |why: String| Skipped {
                name: name.clone(),
                why,
            };
            if !crate::config::valid_name(&name) {
                skipped.push(skip("the name is not usable as a target name".into()));
                return;
            }
            let Some(addr) = addr else {
                skipped.push(skip(format!("no address on network {}", rules.network)));
                return;
            };
            if !rules.allowed(&addr) {
                skipped.push(skip(format!("address {addr} is outside allow_networks")));
                return;
            }
            match choices(labels) {
                Ok((shell, port, configuration)) => found.push(Found {
                    name,
                    address: addr,
                    shell,
                    port,
                    configuration,
                    ..f
                }),
                Err(why) => skipped.push(skip(why)),
            }
        };

    let services: HashMap<&str, &Service> = snap
        .services
        .iter()
        .filter(|s| rules.marked(&s.spec.labels))
        .map(|s| (s.id.as_str(), s))
        .collect();
    for task in &snap.tasks {
        let Some(service) = services.get(task.service_id.as_str()) else {
            continue;
        };
        if task.desired_state != "running" || task.status.state != "running" {
            continue;
        }
        let which = match task.slot {
            Some(slot) if slot > 0 => slot.to_string(),
            // Global services have no slot: one task per node.
            _ => task.node_id.clone(),
        };
        let name = format!("{}.{}", service.spec.name, which);
        let suffix = format!(".{}", task.id);
        let addr = task
            .networks_attachments
            .iter()
            .filter(|a| a.network.spec.name == rules.network)
            .flat_map(|a| a.addresses.iter())
            .find_map(|a| parse_address(a))
            .or_else(|| {
                snap.network
                    .as_ref()?
                    .services
                    .get(&service.spec.name)?
                    .tasks
                    .iter()
                    .find(|t| t.name.ends_with(&suffix))
                    .and_then(|t| parse_address(&t.endpoint_ip))
            });
        let image = if task.spec.container_spec.image.is_empty() {
            &service.spec.task_template.container_spec.image
        } else {
            &task.spec.container_spec.image
        };
        add(
            name,
            addr,
            &service.spec.labels,
            Found {
                group: service.spec.name.clone(),
                slot: task.slot.filter(|s| *s > 0),
                node: Some(task.node_id.clone()),
                image: short_image(image),
                state: task.status.state.clone(),
                since: Some(task.status.timestamp.clone()).filter(|t| !t.is_empty()),
                ..Found::default()
            },
        );
    }

    for c in &snap.containers {
        // Task containers are found as tasks (with their service's labels), not twice.
        if c.labels.contains_key(SWARM_TASK_LABEL) || !rules.marked(&c.labels) {
            continue;
        }
        if c.state != "running" {
            continue;
        }
        let Some(name) = c
            .names
            .first()
            .map(|n| n.trim_start_matches('/').to_string())
        else {
            continue;
        };
        let addr = c
            .network_settings
            .networks
            .get(&rules.network)
            .and_then(|e| {
                parse_address(&e.ip_address).or_else(|| parse_address(&e.global_ipv6_address))
            });
        add(
            name,
            addr,
            &c.labels,
            Found {
                group: String::new(),
                node: None,
                image: short_image(&c.image),
                state: c.state.clone(),
                since: u64::try_from(c.created).ok().filter(|s| *s > 0).map(|s| {
                    let at = std::time::UNIX_EPOCH + std::time::Duration::from_secs(s);
                    humantime::format_rfc3339_seconds(at).to_string()
                }),
                ..Found::default()
            },
        );
    }
    found.sort_by(|a, b| a.name.cmp(&b.name));
    found.dedup_by(|a, b| a.name == b.name);
    (found, skipped)
}

/// An image reference without its digest.
fn short_image(image: &str) -> String {
    image.split('@').next().unwrap_or(image).to_string()
}

/// Whether an event may change the targets (then the lists are read again).
pub fn relevant(event: &Event) -> bool {
    match event.kind.as_str() {
        "service" | "node" => true,
        "network" => matches!(event.action.as_str(), "connect" | "disconnect"),
        "container" => matches!(
            event.action.as_str(),
            "start"
                | "die"
                | "stop"
                | "kill"
                | "destroy"
                | "rename"
                | "pause"
                | "unpause"
                | "update"
        ),
        _ => false,
    }
}
