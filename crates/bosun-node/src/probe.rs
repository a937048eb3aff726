//! Liveness, readiness and startup probes: a task per probe that runs it on its schedule and
//! reports when its result crosses a threshold.

use crate::runtime::ContainerRuntime;
use k8s_openapi::api::core::v1::{Container, Probe};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

/// Which probe.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProbeKind {
    Liveness,
    Readiness,
    Startup,
}

/// A probe's result crossed its threshold.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProbeResult {
    pub container: String,
    pub attempt: u32,
    pub kind: ProbeKind,
    pub ok: bool,
    pub message: String,
}

/// Where a probe's target lives.
#[derive(Debug, Clone)]
pub struct ProbeTarget {
    pub runtime: Arc<dyn ContainerRuntime>,
    pub container_id: String,
    pub pod_ip: String,
}

fn port_of(port: &IntOrString, container: &Container) -> Option<u16> {
    match port {
        IntOrString::Int(n) => u16::try_from(*n).ok(),
        IntOrString::String(name) => container
            .ports
            .iter()
            .flatten()
            .find(|p| p.name.as_deref() == Some(name.as_str()))
            .and_then(|p| u16::try_from(p.container_port).ok()),
    }
}

/// Run the probe once: Ok on success, Err with the reason otherwise.
async fn run_once(
    probe: &Probe,
    container: &Container,
    target: &ProbeTarget,
    http: &reqwest::Client,
) -> Result<(), String> {
    let timeout = Duration::from_secs(probe.timeout_seconds.unwrap_or(1).max(1) as u64);
    if let Some(exec) = &probe.exec {
        let cmd = exec.command.clone().unwrap_or_default();
        let out = target
            .runtime
            .exec(&target.container_id, &cmd, timeout)
            .await
            .map_err(|e| e.to_string())?;
        return if out.exit_code == 0 {
            Ok(())
        } else {
            Err(format!(
                "command {cmd:?} exited with {}: {}",
                out.exit_code,
                String::from_utf8_lossy(&out.stdout).trim()
            ))
        };
    }
    if let Some(get) = &probe.http_get {
        let port = port_of(&get.port, container).ok_or("unknown probe port")?;
        let host = get.host.clone().unwrap_or_else(|| target.pod_ip.clone());
        let scheme = get.scheme.as_deref().unwrap_or("HTTP").to_ascii_lowercase();
        let url = format!(
            "{scheme}://{host}:{port}{}",
            get.path.as_deref().unwrap_or("/")
        );
        let mut req = http.get(&url).timeout(timeout);
        for h in get.http_headers.iter().flatten() {
            req = req.header(h.name.as_str(), h.value.as_str());
        }
        return match req.send().await {
            Ok(resp) if (200..400).contains(&resp.status().as_u16()) => Ok(()),
            Ok(resp) => Err(format!(
                "HTTP probe failed with statuscode: {}",
                resp.status().as_u16()
            )),
            Err(e) => Err(format!("Get \"{url}\": {e}")),
        };
    }
    if let Some(tcp) = &probe.tcp_socket {
        let port = port_of(&tcp.port, container).ok_or("unknown probe port")?;
        let host = tcp.host.clone().unwrap_or_else(|| target.pod_ip.clone());
        return match tokio::time::timeout(
            timeout,
            tokio::net::TcpStream::connect((host.as_str(), port)),
        )
        .await
        {
            Ok(Ok(_)) => Ok(()),
            Ok(Err(e)) => Err(format!("dial tcp {host}:{port}: {e}")),
            Err(_) => Err(format!("dial tcp {host}:{port}: i/o timeout")),
        };
    }
    // A probe with no handler (gRPC is not supported) counts as success.
    Ok(())
}

/// Run a probe until cancelled, reporting each crossing of successThreshold/failureThreshold.
#[allow(clippy::too_many_arguments)]
pub async fn run(
    kind: ProbeKind,
    probe: Probe,
    container: Container,
    attempt: u32,
    target: ProbeTarget,
    results: mpsc::UnboundedSender<ProbeResult>,
    stop: CancellationToken,
) {
    let http = reqwest::Client::new();
    let period = Duration::from_secs(probe.period_seconds.unwrap_or(10).max(1) as u64);
    let delay = Duration::from_secs(probe.initial_delay_seconds.unwrap_or(0).max(0) as u64);
    let success_threshold = probe.success_threshold.unwrap_or(1).max(1);
    let failure_threshold = probe.failure_threshold.unwrap_or(3).max(1);
    let mut successes = 0;
    let mut failures = 0;
    // Readiness starts false, liveness and startup start as "not failed".
    let mut reported: Option<bool> = None;
    tokio::select! {
        _ = stop.cancelled() => return,
        _ = tokio::time::sleep(delay) => {}
    }
    loop {
        let outcome = run_once(&probe, &container, &target, &http).await;
        match &outcome {
            Ok(()) => {
                successes += 1;
                failures = 0;
            }
            Err(_) => {
                failures += 1;
                successes = 0;
            }
        }
        let verdict = if successes >= success_threshold {
            Some(true)
        } else if failures >= failure_threshold {
            Some(false)
        } else {
            None
        };
        if let Some(ok) = verdict
            && reported != Some(ok)
        {
            reported = Some(ok);
            let message = outcome.err().unwrap_or_default();
            let sent = results.send(ProbeResult {
                container: container.name.clone(),
                attempt,
                kind,
                ok,
                message,
            });
            if sent.is_err() {
                return;
            }
            if kind == ProbeKind::Startup && ok {
                return; // A startup probe stops once it succeeded.
            }
        }
        tokio::select! {
            _ = stop.cancelled() => return,
            _ = tokio::time::sleep(period) => {}
        }
    }
}
