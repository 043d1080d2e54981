//! What the end-to-end tests need to run Alertmanager: its config (webhook
//! receivers, routes to them, short grouping delays, and the inhibit rule the
//! docs recommend, read from `docs/alerts.md`), the server itself, and the
//! webhook receiver, a real HTTP server on 127.0.0.1 that keeps every
//! notification.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::process::Command;
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::service::service_fn;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use serde_json::Value as Json;
use serde_yaml_ng::Value as Yaml;
use tokio::net::TcpListener;
use tokio::task::JoinHandle;

use super::support::{HttpApi, repo_file, start_server};
use crate::support::TempDir;
use crate::support::process::Process;

/// A webhook receiver: every notification Alertmanager posts, in order.
pub struct Webhook {
    address: SocketAddr,
    received: Arc<Mutex<Vec<Json>>>,
    task: JoinHandle<()>,
}

/// One alert of a notification.
#[derive(Debug, Clone)]
pub struct Notified {
    /// `firing` or `resolved`.
    pub status: String,
    /// Its labels.
    pub labels: Json,
    /// Its annotations.
    pub annotations: Json,
}

impl Webhook {
    /// Listens on an ephemeral port of 127.0.0.1.
    pub async fn start() -> Webhook {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap();
        let received = Arc::new(Mutex::new(Vec::new()));
        let task = tokio::spawn(accept(listener, Arc::clone(&received)));
        Webhook {
            address,
            received,
            task,
        }
    }

    /// The URL to configure in Alertmanager.
    pub fn url(&self) -> String {
        format!("http://{}/alerts", self.address)
    }

    /// How many notifications arrived so far.
    pub fn count(&self) -> usize {
        self.received
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .len()
    }

    /// Every alert of every notification from number `since` on.
    pub fn alerts_since(&self, since: usize) -> Vec<Notified> {
        let received = self.received.lock().unwrap_or_else(|p| p.into_inner());
        let mut out = Vec::new();
        for notification in received.iter().skip(since) {
            for alert in notification["alerts"].as_array().into_iter().flatten() {
                out.push(Notified {
                    status: alert["status"].as_str().unwrap_or_default().to_owned(),
                    labels: alert["labels"].clone(),
                    annotations: alert["annotations"].clone(),
                });
            }
        }
        out
    }

    /// The alerts named `name` with `status`, from notification `since` on.
    pub fn find(&self, since: usize, name: &str, status: &str) -> Vec<Notified> {
        self.alerts_since(since)
            .into_iter()
            .filter(|a| a.labels["alertname"] == name && a.status == status)
            .collect()
    }
}

impl Drop for Webhook {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn accept(listener: TcpListener, received: Arc<Mutex<Vec<Json>>>) {
    while let Ok((stream, _)) = listener.accept().await {
        let received = Arc::clone(&received);
        tokio::spawn(async move {
            let service = service_fn(move |request: Request<hyper::body::Incoming>| {
                let received = Arc::clone(&received);
                async move {
                    let body = request
                        .into_body()
                        .collect()
                        .await
                        .map(|b| b.to_bytes())
                        .unwrap_or_default();
                    let status = match serde_json::from_slice::<Json>(&body) {
                        Ok(json) => {
                            received
                                .lock()
                                .unwrap_or_else(|p| p.into_inner())
                                .push(json);
                            200
                        }
                        Err(_) => 400,
                    };
                    let mut response = Response::new(Full::new(Bytes::new()));
                    *response.status_mut() = hyper::StatusCode::from_u16(status).unwrap();
                    Ok::<_, Infallible>(response)
                }
            });
            let _ = hyper::server::conn::http1::Builder::new()
                .serve_connection(TokioIo::new(stream), service)
                .await;
        });
    }
}

/// The `inhibit_rules` that `docs/alerts.md` recommends: the YAML block that
/// starts with `inhibit_rules:`.
pub fn documented_inhibit_rules() -> Yaml {
    let doc = repo_file("docs/alerts.md");
    let start = doc
        .find("```yaml\ninhibit_rules:")
        .expect("docs/alerts.md has no ```yaml block starting with inhibit_rules:");
    let block = &doc[start + "```yaml\n".len()..];
    let block = &block[..block
        .find("```")
        .expect("unclosed ```yaml block in docs/alerts.md")];
    let parsed: Yaml = serde_yaml_ng::from_str(block).unwrap_or_else(|e| {
        panic!("the inhibit_rules block of docs/alerts.md is not YAML: {e}\n{block}")
    });
    parsed
        .get("inhibit_rules")
        .cloned()
        .expect("the block of docs/alerts.md has no inhibit_rules")
}

/// Writes an Alertmanager config into `dir`: everything to `webhook`
/// (resolved notifications included), but what a route of `routes` matches
/// (`(matcher, webhook)`, first match wins), grouped per alert, exporter,
/// account and agent, with delays of a second or two, and `inhibit_rules`.
fn write_config(
    dir: &TempDir,
    webhook: &Webhook,
    routes: &[(&str, &Webhook)],
    inhibit_rules: Yaml,
) -> std::path::PathBuf {
    let receiver = |name: String, webhook: &Webhook| {
        serde_json::json!({
            "name": name,
            "webhook_configs": [{"url": webhook.url(), "send_resolved": true}],
        })
    };
    let mut receivers = vec![receiver("webhook".to_owned(), webhook)];
    let mut child_routes = Vec::new();
    for (i, (matcher, webhook)) in routes.iter().enumerate() {
        let name = format!("route-{i}");
        child_routes.push(serde_json::json!({"matchers": [matcher], "receiver": name}));
        receivers.push(receiver(name, webhook));
    }
    let config = serde_json::json!({
        "route": {
            "receiver": "webhook",
            "group_by": ["alertname", "job", "instance", "account", "agent_name"],
            // Long enough for the alerts of one evaluation to arrive
            // together, so an inhibiting alert is there before its target's
            // group is first sent.
            "group_wait": "2s",
            "group_interval": "1s",
            "repeat_interval": "1h",
            "routes": child_routes,
        },
        "receivers": receivers,
    });
    let mut config: Yaml = serde_yaml_ng::to_value(config).unwrap();
    config
        .as_mapping_mut()
        .unwrap()
        .insert(Yaml::from("inhibit_rules"), inhibit_rules);
    let path = dir.path().join("alertmanager.yml");
    std::fs::write(&path, serde_yaml_ng::to_string(&config).unwrap()).unwrap();
    path
}

/// Starts `prometheus-alertmanager` (clustering off) on a free port, sending
/// to `webhook`.
pub async fn start(dir: &TempDir, webhook: &Webhook, inhibit_rules: Yaml) -> (Process, HttpApi) {
    start_routed(dir, webhook, &[], inhibit_rules).await
}

/// Starts `prometheus-alertmanager` (clustering off) on a free port, sending
/// what each of `routes` matches to its webhook, and the rest to `webhook`.
pub async fn start_routed(
    dir: &TempDir,
    webhook: &Webhook,
    routes: &[(&str, &Webhook)],
    inhibit_rules: Yaml,
) -> (Process, HttpApi) {
    let config = write_config(dir, webhook, routes, inhibit_rules);
    let storage = dir.path().join("alertmanager-data");
    start_server("prometheus-alertmanager", "/-/ready", |port| {
        let mut command = Command::new("prometheus-alertmanager");
        command
            .arg(format!("--config.file={}", config.display()))
            .arg(format!("--storage.path={}", storage.display()))
            .arg(format!("--web.listen-address=127.0.0.1:{port}"))
            .arg("--cluster.listen-address=");
        command
    })
    .await
}

/// The alerts Alertmanager holds named `name`, with their `status`
/// (`state`, `inhibitedBy`, `silencedBy`).
pub async fn alerts_named(api: &HttpApi, name: &str) -> Result<Vec<Json>, String> {
    let filter = format!("alertname=\"{name}\"");
    let alerts = api
        .get_json("/api/v2/alerts", &[("filter", &filter)])
        .await?;
    Ok(alerts.as_array().cloned().unwrap_or_default())
}
