//! One emulated arm64 machine (`qemu-system-aarch64 -M virt`), booted the way a Pi's firmware
//! would boot the image: its kernel, initramfs and command line, from its boot partition. The
//! image itself stays untouched: the machine writes to a qcow2 overlay.

use std::os::unix::process::CommandExt;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::console::{Console, WaitEnd};
use crate::{Error, Result};

pub const QEMU: &str = "qemu-system-aarch64";

/// Every QEMU this process started and has not reaped: what `kill_all` stops from a signal
/// handler's thread, so that an interrupted run leaves no machine behind.
static RUNNING: std::sync::Mutex<Vec<u32>> = std::sync::Mutex::new(Vec::new());

/// Kills every QEMU this process started (for a Ctrl-C handler); the waits on them end.
pub fn kill_all() {
    let pids = RUNNING.lock().map(|p| p.clone()).unwrap_or_default();
    for pid in pids {
        if let Ok(pid) = i32::try_from(pid) {
            // SAFETY: kill has no memory effects; the pid is a child we have not reaped.
            unsafe {
                libc::kill(pid, libc::SIGKILL);
            }
        }
    }
}

fn forget(pid: u32) {
    if let Ok(mut running) = RUNNING.lock() {
        running.retain(|p| *p != pid);
    }
}

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
    /// Where the QMP and control sockets go (a short path: unix sockets allow 107 bytes);
    /// without it the machine has neither.
    pub socket_dir: Option<PathBuf>,
    /// Let the guest reboot in place (else QEMU exits when the guest reboots).
    pub allow_reboot: bool,
}

impl MachineSpec {
    pub fn qmp_socket(&self) -> Option<PathBuf> {
        self.socket_dir
            .as_ref()
            .map(|d| d.join(format!("{}.qmp", self.name)))
    }

    pub fn control_socket(&self) -> Option<PathBuf> {
        self.socket_dir
            .as_ref()
            .map(|d| d.join(format!("{}.ctl", self.name)))
    }

    pub fn overlay(&self) -> PathBuf {
        self.work_dir.join(format!("{}.qcow2", self.name))
    }
}

pub struct Machine {
    pub spec: MachineSpec,
    child: Option<Child>,
    pub console: Console,
    pub started: Instant,
}

/// The cmdline.txt of the image with QEMU virt's UART (ttyAMA0) as the last console, the one
/// the kernel and systemd print to.
pub fn virt_cmdline(cmdline_txt: &str) -> String {
    let kept: Vec<&str> = cmdline_txt.split_whitespace().collect();
    format!("{} console=ttyAMA0,115200", kept.join(" "))
}

fn io(what: impl std::fmt::Display) -> impl FnOnce(std::io::Error) -> Error {
    let what = what.to_string();
    move |error| Error::Io { what, error }
}

impl Machine {
    /// A new copy-on-write overlay over the image, and the machine started on it.
    pub fn launch(spec: MachineSpec) -> Result<Machine> {
        host::preflight(host::Need::Test, &spec.work_dir)?;
        std::fs::create_dir_all(&spec.work_dir).map_err(io(spec.work_dir.display()))?;
        let overlay = spec.overlay();
        let _ = std::fs::remove_file(&overlay);
        let image = std::fs::canonicalize(&spec.image).map_err(io(spec.image.display()))?;
        let out = Command::new("qemu-img")
            .args(["create", "-q", "-f", "qcow2", "-F", "raw", "-b"])
            .arg(&image)
            .arg(&overlay)
            .args(spec.disk_size.map(|n| n.to_string()))
            .output()
            .map_err(io("qemu-img"))?;
        if !out.status.success() {
            return Err(Error::Command {
                program: "qemu-img create".into(),
                detail: String::from_utf8_lossy(&out.stderr).trim().into(),
            });
        }
        let _ = std::fs::remove_file(spec.work_dir.join(format!("{}.console.log", spec.name)));
        let mut machine = Machine {
            spec,
            child: None,
            console: Console::default(),
            started: Instant::now(),
        };
        machine.start()?;
        Ok(machine)
    }

    /// Starts QEMU on the existing overlay (again, after a crash or a shutdown); the console
    /// log goes on where it stopped.
    pub fn start(&mut self) -> Result<()> {
        if self.is_running() {
            return Ok(());
        }
        let spec = &self.spec;
        let log_path = spec.work_dir.join(format!("{}.console.log", spec.name));
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&log_path)
            .map_err(io(log_path.display()))?;
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
        .args((!spec.allow_reboot).then_some("-no-reboot"))
        .arg("-kernel")
        .arg(&spec.kernel)
        .arg("-initrd")
        .arg(&spec.initrd)
        .args(["-append", &virt_cmdline(&spec.cmdline)])
        .arg("-drive")
        .arg(format!(
            "file={},format=qcow2,if=virtio,cache=unsafe",
            spec.overlay().display()
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
        if let (Some(qmp), Some(ctl)) = (spec.qmp_socket(), spec.control_socket()) {
            let _ = std::fs::remove_file(&qmp);
            let _ = std::fs::remove_file(&ctl);
            cmd.arg("-qmp")
                .arg(format!("unix:{},server=on,wait=off", qmp.display()))
                .arg("-chardev")
                .arg(format!(
                    "socket,id=ctl,path={},server=on,wait=off",
                    ctl.display()
                ))
                .args(["-device", "virtio-serial-pci"])
                .args(["-device", "virtserialport,chardev=ctl,name=piimage.control"]);
        }
        let stderr_path = spec.work_dir.join(format!("{}.qemu.log", spec.name));
        let stderr = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&stderr_path)
            .map_err(io(stderr_path.display()))?;
        cmd.stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::from(stderr));
        // QEMU dies with us, however we end (a kill -9 of piimage included).
        // SAFETY: prctl is async-signal-safe and touches only the child's own state.
        unsafe {
            cmd.pre_exec(|| {
                if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL) != 0 {
                    return Err(std::io::Error::last_os_error());
                }
                Ok(())
            });
        }
        let mut child = cmd.spawn().map_err(io(QEMU))?;
        if let Ok(mut running) = RUNNING.lock() {
            running.push(child.id());
        }
        let stdout = child.stdout.take().ok_or_else(|| Error::Command {
            program: QEMU.into(),
            detail: "no console pipe".into(),
        })?;
        self.console = Console::spawn(stdout, Some(log));
        self.child = Some(child);
        self.started = Instant::now();
        Ok(())
    }

    pub fn is_running(&mut self) -> bool {
        match self.child.as_mut() {
            Some(child) => matches!(child.try_wait(), Ok(None)),
            None => false,
        }
    }

    /// Power loss: QEMU is killed, nothing in the guest runs again until `start`.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
            forget(child.id());
        }
    }

    /// Waits for QEMU to exit by itself (a guest poweroff), up to `timeout`.
    pub fn wait_exit(&mut self, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        while Instant::now() < deadline {
            if !self.is_running() {
                if let Some(child) = self.child.take() {
                    forget(child.id());
                }
                return true;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        false
    }

    /// The QEMU process id, while it runs.
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
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
                let mut status = match self.child.as_mut() {
                    Some(child) => child
                        .wait()
                        .map(|s| s.to_string())
                        .unwrap_or_else(|e| e.to_string()),
                    None => "not running".into(),
                };
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

    /// Removes the overlay (the machine must be stopped): what a passing run leaves behind.
    pub fn remove_overlay(&mut self) {
        self.kill();
        let _ = std::fs::remove_file(self.spec.overlay());
    }
}

impl Drop for Machine {
    fn drop(&mut self) {
        self.kill();
        if let Some(dir) = &self.spec.socket_dir {
            let _ = std::fs::remove_file(dir.join(format!("{}.qmp", self.spec.name)));
            let _ = std::fs::remove_file(dir.join(format!("{}.ctl", self.spec.name)));
        }
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
