//! The host side of the control shell (guest/piimage-control): commands go to the node over
//! a virtio serial port that QEMU exposes as a unix socket, answers come back with their exit
//! code, stdout and stderr. Independent of the node's network, so it works through partitions
//! and link cuts.

use std::collections::{HashMap, HashSet};
use std::io::{BufRead, BufReader, Write};
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

use base64::Engine;

use crate::{Error, Result};

/// What a command did.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Output {
    pub exit: i32,
    pub stdout: String,
    pub stderr: String,
}

#[derive(Default)]
struct State {
    ready: bool,
    answers: HashMap<u64, Output>,
    /// Requests `wait_ready` sent: any answer to one means the shell is there.
    probes: HashSet<u64>,
    closed: bool,
}

pub struct Control {
    writer: Mutex<UnixStream>,
    shared: Arc<(Mutex<State>, Condvar)>,
    next_id: Mutex<u64>,
}

/// The guest adds no more than this to a command's own timeout (start-up, base64).
const MARGIN: Duration = Duration::from_secs(15);

/// How long `wait_ready` waits for "ready" before asking the shell directly.
const PROBE_EVERY: Duration = Duration::from_secs(15);

impl Control {
    /// Connects to the socket QEMU listens on (waiting up to `patience` for it to appear).
    pub fn connect(path: &Path, patience: Duration) -> Result<Control> {
        let stream = crate::connect_when_there(path, patience, "control socket")?;
        let reader = stream.try_clone().map_err(|error| Error::Io {
            what: format!("control socket {}", path.display()),
            error,
        })?;
        let shared: Arc<(Mutex<State>, Condvar)> = Arc::default();
        let theirs = shared.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(reader).lines() {
                let Ok(line) = line else { break };
                let (lock, cvar) = &*theirs;
                if let Ok(mut state) = lock.lock() {
                    if line.starts_with("piimage-control ready") {
                        state.ready = true;
                    } else if let Some((id, output)) = parse_answer(&line) {
                        if state.probes.remove(&id) {
                            state.ready = true;
                        } else {
                            state.answers.insert(id, output);
                        }
                    }
                }
                cvar.notify_all();
            }
            let (lock, cvar) = &*theirs;
            if let Ok(mut state) = lock.lock() {
                state.closed = true;
            }
            cvar.notify_all();
        });
        Ok(Control {
            writer: Mutex::new(stream),
            shared,
            next_id: Mutex::new(1),
        })
    }

    /// Waits until the guest's control shell has said it is ready, or has answered one of
    /// the probes sent while waiting. The shell says "ready" once, when it opens its port, and
    /// that line can be lost around a reconnect (QEMU writes it to a client that has gone
    /// before it notices); a probe queued in the socket is answered whenever the shell reads.
    pub fn wait_ready(&self, timeout: Duration) -> bool {
        self.wait_ready_probing(timeout, PROBE_EVERY)
    }

    fn wait_ready_probing(&self, timeout: Duration, every: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            if self
                .wait(left.min(every), |s| s.ready.then_some(()))
                .is_some()
            {
                return true;
            }
            if Instant::now() >= deadline || self.is_closed() || self.probe().is_err() {
                return false;
            }
        }
    }

    /// Forgets the shell's "ready": the node is about to reboot, and only the next boot's
    /// shell may count as ready again.
    pub fn expect_new_boot(&self) {
        if let Ok(mut state) = self.shared.0.lock() {
            state.ready = false;
            state.probes.clear();
        }
    }

    /// Sends `true` as a probe, without waiting for its answer.
    fn probe(&self) -> Result<()> {
        let id = self.next_id()?;
        if let Ok(mut state) = self.shared.0.lock() {
            state.probes.insert(id);
        }
        self.send(id, "true", Duration::from_secs(5))
    }

    fn next_id(&self) -> Result<u64> {
        let mut next = self
            .next_id
            .lock()
            .map_err(|_| Error::Control("poisoned".into()))?;
        *next += 1;
        Ok(*next)
    }

    fn send(&self, id: u64, command: &str, timeout: Duration) -> Result<()> {
        let encoded = base64::engine::general_purpose::STANDARD.encode(command);
        let seconds = timeout.as_secs().max(1);
        let mut w = self
            .writer
            .lock()
            .map_err(|_| Error::Control("poisoned".into()))?;
        writeln!(w, "{id} {seconds} {encoded}")
            .map_err(|e| Error::Control(format!("sending the command: {e}")))
    }

    /// Runs `command` with bash on the node, killed after `timeout`.
    pub fn run(&self, command: &str, timeout: Duration) -> Result<Output> {
        let id = self.next_id()?;
        self.send(id, command, timeout)?;
        match self.wait(timeout + MARGIN, |s| s.answers.remove(&id)) {
            Some(output) => Ok(output),
            None if self.is_closed() => Err(Error::Control(
                "the node's control channel closed (the machine stopped)".into(),
            )),
            None => Err(Error::NoAnswer {
                seconds: (timeout + MARGIN).as_secs(),
            }),
        }
    }

    fn is_closed(&self) -> bool {
        self.shared.0.lock().map(|s| s.closed).unwrap_or(true)
    }

    fn wait<T>(
        &self,
        timeout: Duration,
        mut take: impl FnMut(&mut State) -> Option<T>,
    ) -> Option<T> {
        let deadline = Instant::now() + timeout;
        let (lock, cvar) = &*self.shared;
        let mut state = lock.lock().ok()?;
        loop {
            if let Some(found) = take(&mut state) {
                return Some(found);
            }
            let now = Instant::now();
            if state.closed || now >= deadline {
                return None;
            }
            state = cvar.wait_timeout(state, deadline - now).ok()?.0;
        }
    }
}

impl Drop for Control {
    /// Closes both ends, so the reader thread ends and QEMU (which serves one client at a
    /// time) can accept the next connection.
    fn drop(&mut self) {
        if let Ok(w) = self.writer.lock() {
            let _ = w.shutdown(std::net::Shutdown::Both);
        }
    }
}

fn parse_answer(line: &str) -> Option<(u64, Output)> {
    let mut words = line.strip_prefix("piimage-result ")?.split(' ');
    let id = words.next()?.parse().ok()?;
    let exit = words.next()?.parse().ok()?;
    let decode = |w: Option<&str>| {
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(w.unwrap_or("").trim())
            .ok()?;
        Some(String::from_utf8_lossy(&bytes).into_owned())
    };
    let stdout = decode(words.next())?;
    let stderr = decode(words.next())?;
    Some((
        id,
        Output {
            exit,
            stdout,
            stderr,
        },
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answers_are_decoded() {
        let (id, out) = parse_answer("piimage-result 7 1 aGVsbG8K ").unwrap();
        assert_eq!(id, 7);
        assert_eq!(
            out,
            Output {
                exit: 1,
                stdout: "hello\n".into(),
                stderr: String::new()
            }
        );
        assert!(parse_answer("piimage-result x").is_none());
    }

    /// The guest script, its port replaced by a socket pair, serving a `Control`.
    fn guest_script_serving(
        dir: &Path,
        edit: impl Fn(String) -> String,
    ) -> (Control, std::process::Child) {
        let sock = dir.join("ctl");
        let listener = std::os::unix::net::UnixListener::bind(&sock).unwrap();
        // A socket cannot be opened by path: the script's port becomes its standard input.
        let script = include_str!("../guest/piimage-control")
            .replace("port=/dev/virtio-ports/piimage.control", "port=/dev/stdin")
            .replace("exec 3<>\"$port\" || exit 1", "exec 3<&0");
        let script_path = dir.join("control.sh");
        std::fs::write(&script_path, edit(script)).unwrap();
        let accept = std::thread::spawn(move || listener.accept().unwrap().0);
        let control = Control::connect(&sock, Duration::from_secs(5)).unwrap();
        let guest_end = accept.join().unwrap();
        let guest = std::process::Command::new("bash")
            .arg(&script_path)
            .stdin(std::os::fd::OwnedFd::from(guest_end))
            .spawn()
            .unwrap();
        (control, guest)
    }

    /// The guest script speaks the same protocol: run it against a socket pair, with a fake
    /// port, and ask it things.
    #[test]
    fn the_guest_script_answers_the_host() {
        let dir = tempfile::tempdir().unwrap();
        let (control, mut guest) = guest_script_serving(dir.path(), |s| s);
        assert!(control.wait_ready(Duration::from_secs(10)));
        let out = control
            .run("echo out; echo err >&2; exit 3", Duration::from_secs(10))
            .unwrap();
        assert_eq!(
            out,
            Output {
                exit: 3,
                stdout: "out\n".into(),
                stderr: "err\n".into()
            }
        );
        let slow = control.run("sleep 30", Duration::from_secs(1)).unwrap();
        assert_eq!(slow.exit, 124, "timeout(1) reports 124");
        let _ = guest.kill();
        let _ = guest.wait();
    }

    /// A "ready" lost on the way (as around a reconnect) still ends in ready: the shell
    /// answers a probe. After `expect_new_boot` the old ready no longer counts.
    #[test]
    fn a_lost_ready_is_made_up_for_by_a_probe() {
        let dir = tempfile::tempdir().unwrap();
        let (control, mut guest) = guest_script_serving(dir.path(), |s| {
            let without = s.replace("printf 'piimage-control ready", ": printf 'lost");
            assert_ne!(without, s, "the script says ready");
            without
        });
        assert!(control
            .wait(Duration::from_millis(500), |s| s.ready.then_some(()))
            .is_none());
        assert!(control.wait_ready_probing(Duration::from_secs(10), Duration::from_millis(100)));
        control.expect_new_boot();
        assert!(control
            .wait(Duration::from_millis(300), |s| s.ready.then_some(()))
            .is_none());
        assert!(control.wait_ready_probing(Duration::from_secs(10), Duration::from_millis(100)));
        let out = control.run("echo still", Duration::from_secs(10)).unwrap();
        assert_eq!(out.stdout, "still\n");
        let _ = guest.kill();
        let _ = guest.wait();
    }
}
