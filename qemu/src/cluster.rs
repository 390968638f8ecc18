//! A cluster of emulated nodes on one private segment: what a test author drives, in the
//! NixOS test driver's words (`start`, `crash`, `shutdown`, `reboot`, `pause`, `resume`,
//! `execute`, `succeed`, `wait_until_succeeds`), plus the network's faults. Every wait has a
//! timeout; every node's serial console is in `WORK/NODE.console.log`.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use serde_json::json;

use crate::control::{Control, Output};
use crate::machine::{Machine, MachineSpec};
use crate::qmp::Qmp;
use crate::switch::{mac_for, NicPaths, Switch};
use crate::{Error, Result};

/// A node to boot: its test copy (the baked image plus the harness's guest side).
#[derive(Debug, Clone)]
pub struct NodeImage {
    pub name: String,
    pub image: PathBuf,
    pub memory_mib: u32,
    pub cpus: u32,
    /// How long the node may take from QEMU's start to `systemctl is-system-running`
    /// answering (three built-in nodes booting together take about 4.5 minutes here).
    pub boot_timeout: Duration,
}

#[derive(Debug, Clone)]
pub struct Options {
    /// Overlays, consoles and the segment's capture.
    pub work_dir: PathBuf,
    /// The sockets (short paths).
    pub socket_dir: PathBuf,
}

struct Node {
    name: String,
    boot_timeout: Duration,
    spec: MachineSpec,
    machine: Option<Machine>,
    control: Option<Control>,
    qmp: Option<Qmp>,
}

pub struct Cluster {
    nodes: Vec<Node>,
    switch: Switch,
}

/// How long a started node's kernel may take to hand over to init before the next node
/// starts anyway (boots are staggered: two kernels calibrating their timers at once on two
/// busy host cores can starve each other).
const STAGGER_LIMIT: Duration = Duration::from_secs(60);

impl Cluster {
    /// The nodes' boot files, extracted; the segment up. No node runs yet.
    pub fn new(images: &[NodeImage], options: Options) -> Result<Cluster> {
        host::preflight(host::Need::Test, &options.work_dir)?;
        let names: Vec<String> = images.iter().map(|n| n.name.clone()).collect();
        let switch = Switch::start(
            &options.socket_dir,
            &names,
            Some(&options.work_dir.join("segment.pcap")),
        )?;
        let mut nodes = Vec::new();
        for image in images {
            let dir = options.work_dir.join(&image.name);
            std::fs::create_dir_all(&dir).map_err(|error| Error::Io {
                what: dir.display().to_string(),
                error,
            })?;
            let boot =
                imager::bootfiles::extract(&image.image, &dir).map_err(|e| Error::Image {
                    image: image.image.display().to_string(),
                    detail: e.to_string(),
                })?;
            let initrd = boot.initrd.ok_or_else(|| Error::Image {
                image: image.image.display().to_string(),
                detail: "config.txt names no initramfs, which QEMU's direct boot needs".into(),
            })?;
            let spec = MachineSpec {
                name: image.name.clone(),
                image: image.image.clone(),
                kernel: boot.kernel,
                initrd,
                cmdline: boot.cmdline,
                memory_mib: image.memory_mib,
                cpus: image.cpus,
                network: NicPaths::in_dir(&options.socket_dir, &image.name)
                    .qemu_args(&mac_for(&image.name)),
                disk_size: None,
                work_dir: options.work_dir.clone(),
                socket_dir: Some(options.socket_dir.clone()),
                allow_reboot: true,
            };
            nodes.push(Node {
                name: image.name.clone(),
                boot_timeout: image.boot_timeout,
                spec,
                machine: None,
                control: None,
                qmp: None,
            });
        }
        Ok(Cluster { nodes, switch })
    }

    fn node(&mut self, name: &str) -> Result<&mut Node> {
        self.nodes
            .iter_mut()
            .find(|n| n.name == name)
            .ok_or_else(|| Error::Control(format!("no node {name}")))
    }

    /// Starts the nodes (staggered), then waits until each one's control shell answers and
    /// systemd has finished starting it. Returns each node's seconds from its start to ready.
    /// A node whose machine is already running (one rebooting in place) is not started again:
    /// its NIC socket stays bound and its control and QMP connections are kept.
    pub fn start(&mut self, names: &[String]) -> Result<Vec<(String, f64)>> {
        let mut started = Vec::new();
        for name in names {
            let node = self.node(name)?;
            let running = node.machine.as_mut().is_some_and(|m| m.is_running());
            if !running {
                // A stale socket from a killed QEMU would make the new one fail to bind.
                let _ = std::fs::remove_file(
                    NicPaths::in_dir(
                        node.spec.socket_dir.as_deref().unwrap_or(Path::new(".")),
                        name,
                    )
                    .qemu,
                );
                node.control = None;
                node.qmp = None;
                match node.machine.as_mut() {
                    Some(machine) => machine.start()?,
                    None => node.machine = Some(Machine::launch(node.spec.clone())?),
                }
            }
            let at = Instant::now();
            if !running {
                if let Some(machine) = node.machine.as_ref() {
                    // Follow the boot on the console: the next node starts once this kernel
                    // is done.
                    let _ = machine.console.wait_for(STAGGER_LIMIT, &|l| {
                        l.contains("Run /init as init process") || l.contains("systemd[1]")
                    });
                }
            }
            started.push((name.clone(), at));
        }
        let mut ready = Vec::new();
        for (name, at) in started {
            let node = self.node(&name)?;
            let timeout = node.boot_timeout;
            let machine = node
                .machine
                .as_mut()
                .ok_or_else(|| Error::Control("not started".into()))?;
            let control = match node.control.take() {
                Some(control) => control,
                None => {
                    let ctl_path = machine
                        .spec
                        .control_socket()
                        .ok_or_else(|| Error::Control("no control socket".into()))?;
                    Control::connect(&ctl_path, Duration::from_secs(10))?
                }
            };
            let remaining = timeout.saturating_sub(at.elapsed());
            if !control.wait_ready(remaining) {
                return Err(Error::Timeout {
                    seconds: timeout.as_secs(),
                    waiting_for: format!("{name}'s control shell (the node did not boot)"),
                    tail: machine.console.tail(40),
                });
            }
            if node.qmp.is_none() {
                let qmp_path = machine
                    .spec
                    .qmp_socket()
                    .ok_or_else(|| Error::Control("no QMP socket".into()))?;
                node.qmp = Some(Qmp::connect(&qmp_path, Duration::from_secs(10))?);
            }
            let remaining = timeout
                .saturating_sub(at.elapsed())
                .max(Duration::from_secs(1));
            let out = control.run("systemctl is-system-running --wait", remaining)?;
            node.control = Some(control);
            if out.exit != 0 && !out.stdout.contains("degraded") {
                let tail = machine.console.tail(40);
                return Err(Error::Timeout {
                    seconds: timeout.as_secs(),
                    waiting_for: format!(
                        "{name} to finish starting (systemctl is-system-running: {})",
                        out.stdout.trim()
                    ),
                    tail,
                });
            }
            ready.push((name, at.elapsed().as_secs_f64()));
        }
        Ok(ready)
    }

    /// Whether the node is running and its control shell connected (booted, not crashed,
    /// shut down or mid-reboot).
    pub fn is_up(&mut self, name: &str) -> bool {
        match self.node(name) {
            Ok(node) => {
                node.control.is_some() && node.machine.as_mut().is_some_and(|m| m.is_running())
            }
            Err(_) => false,
        }
    }

    /// Between two scenarios that share the cluster: the segment healed, every running node
    /// resumed and its cable plugged in, so the next scenario starts from a whole network.
    pub fn settle(&mut self) {
        self.switch.heal();
        let names: Vec<String> = self.nodes.iter().map(|n| n.name.clone()).collect();
        for name in names {
            if self.is_up(&name) {
                let _ = self.resume(&name);
                let _ = self.set_link(&name, true);
            }
        }
    }

    /// Runs `command` on the node as root, over the control channel.
    pub fn execute(&mut self, name: &str, command: &str, timeout: Duration) -> Result<Output> {
        let node = self.node(name)?;
        let control = node.control.as_ref().ok_or_else(|| {
            Error::Control(format!("{name} is not running (boot or start it first)"))
        })?;
        control.run(command, timeout)
    }

    /// `execute` that must exit 0.
    pub fn succeed(&mut self, name: &str, command: &str, timeout: Duration) -> Result<Output> {
        let out = self.execute(name, command, timeout)?;
        if out.exit == 0 {
            Ok(out)
        } else {
            Err(Error::Command {
                program: format!("{name}: {command}"),
                detail: format!("exit {}: {}{}", out.exit, out.stdout, out.stderr),
            })
        }
    }

    /// Runs `command` every `interval` until it exits 0, for at most `timeout`.
    pub fn wait_until_succeeds(
        &mut self,
        name: &str,
        command: &str,
        timeout: Duration,
        interval: Duration,
    ) -> Result<(Output, u32)> {
        let deadline = Instant::now() + timeout;
        let mut tries = 0;
        loop {
            tries += 1;
            let left = deadline.saturating_duration_since(Instant::now());
            let last = self.execute(
                name,
                command,
                left.clamp(Duration::from_secs(1), Duration::from_secs(60)),
            );
            match last {
                Ok(out) if out.exit == 0 => return Ok((out, tries)),
                other => {
                    if Instant::now() + interval >= deadline {
                        let detail = match other {
                            Ok(out) => {
                                format!("last exit {}: {}{}", out.exit, out.stdout, out.stderr)
                            }
                            Err(e) => e.to_string(),
                        };
                        return Err(Error::Command {
                            program: format!(
                                "{name}: {command} (tried {tries} times for {} s)",
                                timeout.as_secs()
                            ),
                            detail,
                        });
                    }
                    std::thread::sleep(interval);
                }
            }
        }
    }

    /// Power loss: the node stops at once; its disk keeps what was written.
    pub fn crash(&mut self, name: &str) -> Result<()> {
        let node = self.node(name)?;
        node.control = None;
        node.qmp = None;
        if let Some(m) = node.machine.as_mut() {
            m.kill();
        }
        Ok(())
    }

    /// A clean poweroff from inside the node, waited for.
    pub fn shutdown(&mut self, name: &str, timeout: Duration) -> Result<()> {
        let node = self.node(name)?;
        if let Some(control) = node.control.take() {
            // The answer may never come: the node goes down.
            let _ = control.run("systemctl poweroff --no-block", Duration::from_secs(10));
        }
        node.qmp = None;
        let Some(machine) = node.machine.as_mut() else {
            return Ok(());
        };
        if machine.wait_exit(timeout) {
            Ok(())
        } else {
            let tail = machine.console.tail(40);
            machine.kill();
            Err(Error::Timeout {
                seconds: timeout.as_secs(),
                waiting_for: format!("{name} to power off"),
                tail,
            })
        }
    }

    /// A clean reboot from inside the node, waited for until it is ready again. QEMU
    /// restarts the guest in place and keeps its sockets; the harness stays connected
    /// through the reboot (a reconnect could lose the new boot's "ready") and waits for the
    /// next boot's shell.
    pub fn reboot(&mut self, name: &str) -> Result<f64> {
        let node = self.node(name)?;
        let (Some(machine), Some(control)) = (node.machine.as_ref(), node.control.as_ref()) else {
            return Err(Error::Control(format!(
                "{name} is not running (boot or start it first)"
            )));
        };
        let mark = machine.console.mark();
        control.expect_new_boot();
        let _ = control.run("systemctl reboot --no-block", Duration::from_secs(10));
        // Only a restart that happened may be waited out: until then the old boot's shell
        // could still answer the next boot's probes.
        const RESTART_LIMIT: Duration = Duration::from_secs(120);
        if machine
            .console
            .wait_for_after(mark, RESTART_LIMIT, &|l| {
                l.contains("reboot: Restarting system")
            })
            .is_err()
        {
            return Err(Error::Timeout {
                seconds: RESTART_LIMIT.as_secs(),
                waiting_for: format!(
                    "{name} to restart (the kernel's \"reboot: Restarting system\")"
                ),
                tail: machine.console.tail(40),
            });
        }
        let ready = self.start(&[name.to_string()])?;
        Ok(ready.first().map_or(0.0, |r| r.1))
    }

    fn qmp(&mut self, name: &str, command: &str, args: serde_json::Value) -> Result<()> {
        let node = self.node(name)?;
        let qmp = node.qmp.as_mut().ok_or_else(|| {
            Error::Control(format!("{name} is not running (boot or start it first)"))
        })?;
        qmp.execute(command, args).map(|_| ())
    }

    /// The node's vCPUs stop (its clock too); frames for it queue nowhere.
    pub fn pause(&mut self, name: &str) -> Result<()> {
        self.qmp(name, "stop", json!({}))
    }

    pub fn resume(&mut self, name: &str) -> Result<()> {
        self.qmp(name, "cont", json!({}))
    }

    /// The node's cable pulled (the guest sees the carrier go) or plugged back.
    pub fn set_link(&mut self, name: &str, up: bool) -> Result<()> {
        self.qmp(name, "set_link", json!({ "name": "net0", "up": up }))
    }

    pub fn partition(&mut self, groups: &[Vec<String>]) -> Result<()> {
        self.switch.partition(groups)
    }

    pub fn cut(&mut self, from: &str, to: &str) -> Result<()> {
        self.switch.cut(from, to)
    }

    pub fn heal(&mut self) {
        self.switch.heal()
    }

    /// The last lines of a node's console, for reports.
    pub fn console_tail(&self, name: &str, lines: usize) -> String {
        self.nodes
            .iter()
            .find(|n| n.name == name)
            .and_then(|n| n.machine.as_ref())
            .map(|m| m.console.tail(lines))
            .unwrap_or_default()
    }

    /// Stops every node and removes the overlays: what a passing run leaves.
    pub fn discard(&mut self) {
        for node in &mut self.nodes {
            node.control = None;
            node.qmp = None;
            if let Some(m) = node.machine.as_mut() {
                m.remove_overlay();
            }
        }
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        for node in &mut self.nodes {
            node.control = None;
            node.qmp = None;
            if let Some(m) = node.machine.as_mut() {
                m.kill();
            }
        }
    }
}
