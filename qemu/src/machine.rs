//! One emulated arm64 machine (`qemu-system-aarch64 -M virt`), booted the way a Pi's firmware
//! would boot the image: its kernel, initramfs and command line, from its boot partition. The
//! image itself stays untouched: the machine writes to a qcow2 overlay.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::console::{Console, WaitEnd};
use crate::{Error, Result};

pub const QEMU: &str = "qemu-system-aarch64";

#[derive(Debug, Clone)]
pub struct MachineSpec {
    pub name: String,
    /// The raw image (read-only to the machine).
    pub image: PathBuf,
    pub kernel: PathBuf,
    pub initrd: PathBuf,
    /// The image's cmdline.txt; the serial console is appended.
    pub cmdline: String,
    pub memory_mib: u32,
    pub cpus: u32,
    /// Extra `-netdev`/`-device` arguments; without any the machine gets a user-mode NIC.
    pub network: Vec<String>,
    /// The disk as the machine sees it, when larger than the image (a bigger card).
    pub disk_size: Option<u64>,
    /// Where the overlay and console log go.
    pub work_dir: PathBuf,
}

pub struct Machine {
    pub spec: MachineSpec,
    child: Child,
    pub console: Console,
    pub started: Instant,
}

/// The cmdline.txt of the image with QEMU virt's UART (ttyAMA0) as the last console, the one
/// the kernel and systemd print to.
pub fn virt_cmdline(cmdline_txt: &str) -> String {
    let kept: Vec<&str> = cmdline_txt.split_whitespace().collect();
    format!("{} console=ttyAMA0,115200", kept.join(" "))
}

impl Machine {
    pub fn launch(spec: MachineSpec) -> Result<Machine> {
        host::preflight(host::Need::Test, &spec.work_dir)?;
        std::fs::create_dir_all(&spec.work_dir).map_err(|error| Error::Io {
            what: spec.work_dir.display().to_string(),
            error,
        })?;
        let overlay = spec.work_dir.join(format!("{}.qcow2", spec.name));
        let _ = std::fs::remove_file(&overlay);
        let image = std::fs::canonicalize(&spec.image).map_err(|error| Error::Io {
            what: spec.image.display().to_string(),
            error,
        })?;
        let out = Command::new("qemu-img")
            .args(["create", "-q", "-f", "qcow2", "-F", "raw", "-b"])
            .arg(&image)
            .arg(&overlay)
            .args(spec.disk_size.map(|n| n.to_string()))
            .output()
            .map_err(|error| Error::Io {
                what: "qemu-img".into(),
                error,
            })?;
        if !out.status.success() {
            return Err(Error::Command {
                program: "qemu-img create".into(),
                detail: String::from_utf8_lossy(&out.stderr).trim().into(),
            });
        }
        let log_path = spec.work_dir.join(format!("{}.console.log", spec.name));
        let log = std::fs::File::create(&log_path).map_err(|error| Error::Io {
            what: log_path.display().to_string(),
            error,
        })?;
        let mut cmd = Command::new(QEMU);
        // cortex-a72 is the Pi 4's core; `max` would also emulate pointer authentication,
        // which costs much under TCG and no Pi has.
        cmd.args([
            "-M",
            "virt",
            "-cpu",
            "cortex-a72",
            "-accel",
            "tcg,thread=multi",
        ])
        .args([
            "-smp",
            &spec.cpus.to_string(),
            "-m",
            &spec.memory_mib.to_string(),
        ])
        .args(["-display", "none", "-monitor", "none", "-serial", "stdio"])
        .arg("-no-reboot")
        .arg("-kernel")
        .arg(&spec.kernel)
        .arg("-initrd")
        .arg(&spec.initrd)
        .args(["-append", &virt_cmdline(&spec.cmdline)])
        .arg("-drive")
        .arg(format!(
            "file={},format=qcow2,if=virtio,cache=unsafe",
            overlay.display()
        ))
        .args(["-device", "virtio-rng-pci"]);
        if spec.network.is_empty() {
            cmd.args([
                "-netdev",
                "user,id=net0",
                "-device",
                "virtio-net-pci,netdev=net0,romfile=",
            ]);
        } else {
            cmd.args(&spec.network);
        }
        let stderr_path = spec.work_dir.join(format!("{}.qemu.log", spec.name));
        let stderr = std::fs::File::create(&stderr_path).map_err(|error| Error::Io {
            what: stderr_path.display().to_string(),
            error,
        })?;
        cmd.stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::from(stderr));
        let mut child = cmd.spawn().map_err(|error| Error::Io {
            what: QEMU.into(),
            error,
        })?;
        let stdout = child.stdout.take().ok_or_else(|| Error::Command {
            program: QEMU.into(),
            detail: "no console pipe".into(),
        })?;
        let console = Console::spawn(stdout, Some(log));
        Ok(Machine {
            spec,
            child,
            console,
            started: Instant::now(),
        })
    }

    /// Waits for a console line; on timeout or exit, the error carries the console's tail.
    pub fn wait_for(
        &mut self,
        what: &str,
        timeout: Duration,
        matches: &dyn Fn(&str) -> bool,
    ) -> Result<String> {
        match self.console.wait_for(timeout, matches) {
            Ok(line) => Ok(line),
            Err(WaitEnd::Timeout) => Err(Error::Timeout {
                seconds: timeout.as_secs(),
                waiting_for: what.into(),
                tail: self.console.tail(40),
            }),
            Err(WaitEnd::Closed) => {
                let mut status = self
                    .child
                    .wait()
                    .map(|s| s.to_string())
                    .unwrap_or_else(|e| e.to_string());
                // QEMU says why it stopped on its stderr, kept beside the console log.
                let qemu_log = self
                    .spec
                    .work_dir
                    .join(format!("{}.qemu.log", self.spec.name));
                if let Ok(text) = std::fs::read_to_string(qemu_log) {
                    if !text.trim().is_empty() {
                        status = format!("{status}: {}", text.trim());
                    }
                }
                Err(Error::Exited {
                    status,
                    waiting_for: what.into(),
                    tail: self.console.tail(40),
                })
            }
        }
    }

    pub fn console_log(&self) -> PathBuf {
        self.spec
            .work_dir
            .join(format!("{}.console.log", self.spec.name))
    }
}

impl Drop for Machine {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_file(self.spec.work_dir.join(format!("{}.qcow2", self.spec.name)));
    }
}

/// Seconds since `since`, for reports.
pub fn seconds(since: Instant) -> f64 {
    Duration::as_secs_f64(&since.elapsed())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_serial_console_comes_last() {
        assert_eq!(
            virt_cmdline("console=tty0 console=ttyS1,115200 root=LABEL=RASPIROOT rw\n"),
            "console=tty0 console=ttyS1,115200 root=LABEL=RASPIROOT rw console=ttyAMA0,115200"
        );
    }
}
