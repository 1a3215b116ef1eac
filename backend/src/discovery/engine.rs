//! The Docker source's I/O: the Engine API through bollard, over the unix socket or TCP with
//! TLS, at API version 1.41 or lower (what the engine says it speaks). Answers go through
//! JSON into [`super::docker`]'s types, so the core reads exactly what the API returns.

use std::collections::HashMap;
use std::pin::Pin;

use bollard::query_parameters::{
    EventsOptions, InspectNetworkOptions, ListContainersOptions, ListServicesOptions,
    ListTasksOptions,
};
use bollard::{ClientVersion, Docker};
use futures::{Stream, StreamExt};
use serde::de::DeserializeOwned;

use super::docker::{self, Rules, Snapshot};
use super::{Found, Skipped, Source, SourceError};
use crate::config::DiscoveryConfig;

/// The newest Engine API this relay asks for (Docker 20.10 speaks 1.41 and no newer).
pub const MAX_API: ClientVersion = ClientVersion {
    major_version: 1,
    minor_version: 41,
};

/// Seconds a request (not the event stream) may take.
const TIMEOUT_SECS: u64 = 30;

type Events = Pin<
    Box<dyn Stream<Item = Result<bollard::models::EventMessage, bollard::errors::Error>> + Send>,
>;

/// Swarm services' running tasks and plain containers of one Docker engine.
pub struct DockerSource {
    endpoint: String,
    docker: Docker,
    negotiated: bool,
    rules: Rules,
    events: Option<Events>,
}

impl DockerSource {
    /// A source for the block (connects lazily).
    pub fn new(c: &DiscoveryConfig) -> Result<DockerSource, bollard::errors::Error> {
        let docker = if let Some(path) = c.endpoint.strip_prefix("unix://") {
            Docker::connect_with_unix(path, TIMEOUT_SECS, &MAX_API)?
        } else {
            // Checked at load: tcp:// comes with all three files.
            let (Some(cert), Some(key), Some(ca)) = (&c.cert, &c.key, &c.endpoint_ca) else {
                return Err(bollard::errors::Error::UnsupportedURISchemeError {
                    uri: c.endpoint.clone(),
                });
            };
            Docker::connect_with_ssl(&c.endpoint, key, cert, ca, TIMEOUT_SECS, &MAX_API)?
        };
        Ok(DockerSource {
            endpoint: c.endpoint.clone(),
            docker,
            negotiated: false,
            rules: Rules::new(&c.network, &c.allow_networks, &c.label),
            events: None,
        })
    }

    fn subscribe(&self) -> Events {
        let filters = HashMap::from([(
            "type".to_string(),
            ["service", "container", "network", "node"]
                .map(String::from)
                .to_vec(),
        )]);
        Box::pin(self.docker.events(Some(EventsOptions {
            since: None,
            until: None,
            filters: Some(filters),
        })))
    }
}

/// The labelled services, their running tasks and the labelled running containers.
async fn snapshot(docker: &Docker, rules: &Rules) -> Result<Snapshot, SourceError> {
    let label = || HashMap::from([("label".to_string(), vec![rules.label_filter()])]);
    let services = match docker
        .list_services(Some(ListServicesOptions {
            filters: Some(label()),
            status: None,
        }))
        .await
    {
        Ok(s) => convert(s)?,
        // 503: this engine is not a Swarm manager; only plain containers then.
        Err(bollard::errors::Error::DockerResponseServerError {
            status_code: 503, ..
        }) => Vec::new(),
        Err(e) => return Err(failed("listing services", e)),
    };
    let mut tasks = Vec::new();
    if !services.is_empty() {
        let ids: Vec<String> = services
            .iter()
            .map(|s: &docker::Service| s.id.clone())
            .collect();
        let filters = HashMap::from([
            ("service".to_string(), ids),
            ("desired-state".to_string(), vec!["running".to_string()]),
        ]);
        tasks = convert(
            docker
                .list_tasks(Some(ListTasksOptions {
                    filters: Some(filters),
                }))
                .await
                .map_err(|e| failed("listing tasks", e))?,
        )?;
    }
    // Task addresses: typed clients drop the tasks' undocumented NetworksAttachments.
    let mut network = None;
    if !tasks.is_empty() {
        match docker
            .inspect_network(
                &rules.network,
                Some(InspectNetworkOptions {
                    verbose: true,
                    scope: Some("swarm".into()),
                }),
            )
            .await
        {
            Ok(n) => network = Some(convert(vec![n])?.remove(0)),
            // No such Swarm network: the tasks have no address on it.
            Err(bollard::errors::Error::DockerResponseServerError {
                status_code: 404, ..
            }) => {}
            Err(e) => return Err(failed("inspecting the network", e)),
        }
    }
    let containers = convert(
        docker
            .list_containers(Some(ListContainersOptions {
                filters: Some(label()),
                ..Default::default()
            }))
            .await
            .map_err(|e| failed("listing containers", e))?,
    )?;
    Ok(Snapshot {
        services,
        tasks,
        containers,
        network,
    })
}

fn failed(what: &str, e: bollard::errors::Error) -> SourceError {
    SourceError(format!("{what}: {e}"))
}

/// bollard's typed answer back to the API's JSON, then into the core's types.
fn convert<T: serde::Serialize, U: DeserializeOwned>(v: Vec<T>) -> Result<Vec<U>, SourceError> {
    v.into_iter()
        .map(|x| {
            serde_json::to_value(x)
                .and_then(serde_json::from_value)
                .map_err(|e| SourceError(format!("unexpected answer from the engine: {e}")))
        })
        .collect()
}

impl Source for DockerSource {
    fn describe(&self) -> String {
        format!("docker {}", self.endpoint)
    }

    async fn list(&mut self) -> Result<(Vec<Found>, Vec<Skipped>), SourceError> {
        if !self.negotiated {
            self.docker = self
                .docker
                .clone()
                .negotiate_version()
                .await
                .map_err(|e| failed("asking the engine's API version", e))?;
            self.negotiated = true;
        }
        // Follow events from before the lists are read, so no change falls between them.
        if self.events.is_none() {
            self.events = Some(self.subscribe());
        }
        let snap = snapshot(&self.docker, &self.rules).await?;
        Ok(docker::targets(&snap, &self.rules))
    }

    async fn changed(&mut self) -> Result<(), SourceError> {
        loop {
            if self.events.is_none() {
                self.events = Some(self.subscribe());
            }
            let Some(events) = self.events.as_mut() else {
                continue;
            };
            match events.next().await {
                Some(Ok(e)) => {
                    let event: docker::Event = serde_json::to_value(e)
                        .and_then(serde_json::from_value)
                        .unwrap_or_default();
                    if docker::relevant(&event) {
                        return Ok(());
                    }
                }
                Some(Err(e)) => {
                    self.events = None;
                    return Err(failed("following events", e));
                }
                None => {
                    self.events = None;
                    return Err(SourceError("the engine closed the event stream".into()));
                }
            }
        }
    }
}
