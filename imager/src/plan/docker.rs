//! Docker: `/etc/docker/daemon.json` (the daemon reads it; systemd's unit never reads
//! `/etc/default/docker`), and with `tcp:` a listening socket, TLS from the cluster CA unless
//! plaintext was insisted on, and a unit drop-in (overlays/docker/hosts.conf) that drops the
//! unit's own `-H fd://`, which would clash with `hosts` in daemon.json. The inventory's
//! labels are the engine's labels; `environment:` is a drop-in (overlays/docker/
//! environment.conf). Docker enabled.

use serde_json::json;

use super::{enable_installed, root_file, Context};
use crate::error::{Error, Result};
use crate::fileop::{Content, FileOp, Mode, Owner, Target};

const DOCKER_TLS: &str = "/etc/docker/tls";

pub(super) fn ops(cx: &Context) -> Result<Vec<FileOp>> {
    let Some(docker) = &cx.node.docker else {
        return Ok(Vec::new());
    };
    let mut ops = Vec::new();
    let mut daemon = docker.daemon.clone();
    // The inventory's labels become the engine's, so swarm placement can use them
    // (`engine.labels.service == web`) without a manager labelling each node.
    if !cx.node.labels.is_empty() && !daemon.contains_key("labels") {
        let labels: Vec<String> = cx
            .node
            .labels
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect();
        daemon.insert("labels".into(), json!(labels));
    }
    if let Some(tcp) = &docker.tcp {
        ops.extend(tcp_ops(cx, tcp, &mut daemon)?);
    }
    let body = serde_json::to_string_pretty(&daemon).map_err(|e| Error::Invalid {
        what: "docker.daemon".into(),
        detail: e.to_string(),
    })?;
    ops.push(root_file(
        "/etc/docker/daemon.json",
        format!("{body}\n"),
        0o644,
    ));
    if !docker.environment.is_empty() {
        ops.push(root_file(
            "/etc/systemd/system/docker.service.d/piimage-environment.conf",
            cx.templates.render(
                "docker/environment.conf",
                json!({ "environment": docker.environment }),
            )?,
            0o644,
        ));
    }
    ops.extend(enable_installed(cx, "docker.service")?);
    Ok(ops)
}

/// Docker on TCP: `hosts` in daemon.json (so the unit's own `-H fd://` must go, by a drop-in
/// that keeps the rest of the base's ExecStart), and unless plaintext was insisted on, TLS
/// with the cluster CA: clients need a certificate the same CA signed.
fn tcp_ops(
    cx: &Context,
    tcp: &crate::inventory::DockerTcp,
    daemon: &mut serde_json::Map<String, serde_json::Value>,
) -> Result<Vec<FileOp>> {
    let node = cx.node;
    let mut ops = Vec::new();
    let port = tcp
        .port
        .unwrap_or(if tcp.insecure_plaintext { 2375 } else { 2376 });
    // `fd://` is the socket systemd hands over, so it needs the package's docker.socket;
    // without one dockerd fails at start ("no sockets found via socket activation").
    let local = if cx.facts.unit("docker.socket").is_some() {
        "fd://"
    } else {
        "unix:///var/run/docker.sock"
    };
    daemon.insert(
        "hosts".into(),
        json!([local, format!("tcp://0.0.0.0:{port}")]),
    );
    if !tcp.insecure_plaintext {
        let ca = crate::pki::ClusterCa::new(cx.secret, cx.epoch)?;
        let server = ca.server(&node.name, node.address.as_ref().map(|a| a.address))?;
        let file = |name: &str, content: String, mode: u32| FileOp::Write {
            fs: Target::Root,
            path: format!("{DOCKER_TLS}/{name}"),
            content: Content::Text(content),
            mode: Some(Mode(mode)),
            owner: Some(Owner { uid: 0, gid: 0 }),
        };
        ops.push(FileOp::Mkdir {
            fs: Target::Root,
            path: DOCKER_TLS.into(),
            mode: Some(Mode(0o700)),
            owner: None,
        });
        ops.push(file("ca.pem", ca.cert_pem()?, 0o644));
        ops.push(file("server-cert.pem", server.cert_pem, 0o644));
        ops.push(file("server-key.pem", server.key_pem, 0o600));
        daemon.insert("tls".into(), json!(true));
        daemon.insert("tlsverify".into(), json!(true));
        daemon.insert("tlscacert".into(), json!(format!("{DOCKER_TLS}/ca.pem")));
        daemon.insert(
            "tlscert".into(),
            json!(format!("{DOCKER_TLS}/server-cert.pem")),
        );
        daemon.insert(
            "tlskey".into(),
            json!(format!("{DOCKER_TLS}/server-key.pem")),
        );
    }
    let (_, _, unit) = cx
        .facts
        .unit("docker.service")
        .ok_or_else(|| Error::Invalid {
            what: format!("node {}", node.name),
            detail: super::not_installed("docker.service", "configured"),
        })?;
    let exec = unit
        .lines()
        .find_map(|l| l.trim().strip_prefix("ExecStart="))
        .unwrap_or("/usr/sbin/dockerd --containerd=/run/containerd/containerd.sock");
    ops.push(root_file(
        "/etc/systemd/system/docker.service.d/50-piimage-hosts.conf",
        cx.templates.render(
            "docker/hosts.conf",
            json!({ "exec_start": without_host_flags(exec) }),
        )?,
        0o644,
    ));
    Ok(ops)
}

/// A dockerd command line without its `-H`/`--host` arguments.
fn without_host_flags(exec: &str) -> String {
    let mut out = Vec::new();
    let mut words = exec.split_whitespace();
    while let Some(w) = words.next() {
        match w {
            "-H" | "--host" => {
                words.next();
            }
            w if w.starts_with("-H=")
                || w.starts_with("--host=")
                || (w.starts_with("-H") && w.len() > 2) => {}
            w => out.push(w),
        }
    }
    out.join(" ")
}

#[cfg(test)]
mod tests {
    #[test]
    fn host_flags_leave_the_command_line() {
        assert_eq!(
            super::without_host_flags("/usr/sbin/dockerd -H fd:// $DOCKER_OPTS --containerd=/run/containerd/containerd.sock"),
            "/usr/sbin/dockerd $DOCKER_OPTS --containerd=/run/containerd/containerd.sock"
        );
        assert_eq!(
            super::without_host_flags("/usr/bin/dockerd --host=fd:// -Hunix:///x"),
            "/usr/bin/dockerd"
        );
    }
}
