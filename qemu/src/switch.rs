//! The scenario's private Ethernet segment, on the host and without root: one unix datagram
//! socket per node's NIC (QEMU's `-netdev dgram`: one datagram is one frame), and a learning
//! switch between them with a drop matrix. The matrix gives partitions, one-way cuts and their
//! healing without touching the guests' own firewalls (Docker rewrites iptables); a node's
//! link down is QEMU's `set_link` instead (the guest sees the carrier go). Every frame that
//! crosses is written to a pcap file of the segment.
//!
//! Why not vde_switch (the NixOS driver's) or QEMU's multicast sockets: neither can drop one
//! direction between two nodes while both still reach a third.

use std::collections::HashMap;
use std::fs::File;
use std::io::{BufWriter, Write};
use std::os::unix::net::UnixDatagram;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crate::{Error, Result};

/// One node's NIC: the socket the switch reads from, and where QEMU listens.
struct Port {
    name: String,
    socket: UnixDatagram,
    qemu: PathBuf,
}

struct State {
    /// `blocked[from][to]`: frames from `from` never reach `to`.
    blocked: Vec<Vec<bool>>,
    /// Where each MAC address was last seen.
    macs: HashMap<[u8; 6], usize>,
    pcap: Option<BufWriter<File>>,
    forwarded: u64,
    dropped: u64,
}

pub struct Switch {
    ports: Arc<Vec<Port>>,
    state: Arc<Mutex<State>>,
    stop: Arc<AtomicBool>,
    threads: Vec<std::thread::JoinHandle<()>>,
}

/// The paths one node's `-netdev dgram` uses: QEMU binds `qemu`, sends to `switch`.
#[derive(Debug, Clone)]
pub struct NicPaths {
    pub qemu: PathBuf,
    pub switch: PathBuf,
}

impl NicPaths {
    pub fn in_dir(dir: &Path, node: &str) -> NicPaths {
        NicPaths {
            qemu: dir.join(format!("{node}.nic")),
            switch: dir.join(format!("{node}.sw")),
        }
    }

    /// QEMU's arguments for this NIC.
    pub fn qemu_args(&self, mac: &str) -> Vec<String> {
        vec![
            "-netdev".into(),
            format!(
                "dgram,id=net0,local.type=unix,local.path={},remote.type=unix,remote.path={}",
                self.qemu.display(),
                self.switch.display()
            ),
            "-device".into(),
            format!("virtio-net-pci,netdev=net0,mac={mac},romfile="),
        ]
    }
}

/// A stable, locally administered MAC address for a node.
pub fn mac_for(node: &str) -> String {
    use sha2::{Digest, Sha256};
    let d = Sha256::digest(node.as_bytes());
    format!("52:54:00:{:02x}:{:02x}:{:02x}", d[0], d[1], d[2])
}

impl Switch {
    /// Binds one switch socket per node in `dir` and starts forwarding.
    pub fn start(dir: &Path, nodes: &[String], pcap: Option<&Path>) -> Result<Switch> {
        let mut ports = Vec::new();
        for name in nodes {
            let paths = NicPaths::in_dir(dir, name);
            let _ = std::fs::remove_file(&paths.switch);
            let socket = UnixDatagram::bind(&paths.switch).map_err(|error| Error::Io {
                what: format!("switch socket {}", paths.switch.display()),
                error,
            })?;
            socket
                .set_read_timeout(Some(Duration::from_millis(200)))
                .map_err(|error| Error::Io {
                    what: "switch socket".into(),
                    error,
                })?;
            ports.push(Port {
                name: name.clone(),
                socket,
                qemu: paths.qemu,
            });
        }
        let pcap = match pcap {
            Some(path) => Some(pcap_file(path)?),
            None => None,
        };
        let n = ports.len();
        let state = Arc::new(Mutex::new(State {
            blocked: vec![vec![false; n]; n],
            macs: HashMap::new(),
            pcap,
            forwarded: 0,
            dropped: 0,
        }));
        let ports = Arc::new(ports);
        let stop = Arc::new(AtomicBool::new(false));
        let threads = (0..n)
            .map(|from| {
                let (ports, state, stop) = (ports.clone(), state.clone(), stop.clone());
                std::thread::spawn(move || forward(from, &ports, &state, &stop))
            })
            .collect();
        Ok(Switch {
            ports,
            state,
            stop,
            threads,
        })
    }

    fn index(&self, node: &str) -> Result<usize> {
        self.ports
            .iter()
            .position(|p| p.name == node)
            .ok_or_else(|| Error::Control(format!("no node {node} on the segment")))
    }

    /// Cuts the segment into groups: frames cross only within a group. Nodes in no group are
    /// cut off from everyone.
    pub fn partition(&self, groups: &[Vec<String>]) -> Result<()> {
        let group_of: Vec<Option<usize>> = self
            .ports
            .iter()
            .map(|p| groups.iter().position(|g| g.contains(&p.name)))
            .collect();
        let mut state = self.lock();
        for (a, ga) in group_of.iter().enumerate() {
            for (b, gb) in group_of.iter().enumerate() {
                state.blocked[a][b] = a != b && (ga.is_none() || ga != gb);
            }
        }
        Ok(())
    }

    /// Frames from `from` no longer reach `to` (the other way still works).
    pub fn cut(&self, from: &str, to: &str) -> Result<()> {
        let (a, b) = (self.index(from)?, self.index(to)?);
        self.lock().blocked[a][b] = true;
        Ok(())
    }

    /// Every node reaches every node again.
    pub fn heal(&self) {
        let mut state = self.lock();
        for row in state.blocked.iter_mut() {
            row.fill(false);
        }
    }

    /// (frames forwarded, frames dropped by the matrix) so far.
    pub fn counts(&self) -> (u64, u64) {
        let s = self.lock();
        (s.forwarded, s.dropped)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }
}

impl Drop for Switch {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        for t in self.threads.drain(..) {
            let _ = t.join();
        }
        if let Some(pcap) = self.lock().pcap.as_mut() {
            let _ = pcap.flush();
        }
        for port in self.ports.iter() {
            if let Ok(addr) = port.socket.local_addr() {
                if let Some(path) = addr.as_pathname() {
                    let _ = std::fs::remove_file(path);
                }
            }
        }
    }
}

fn forward(from: usize, ports: &[Port], state: &Mutex<State>, stop: &AtomicBool) {
    let mut buf = vec![0u8; 65536];
    while !stop.load(Ordering::SeqCst) {
        let n = match ports[from].socket.recv(&mut buf) {
            Ok(n) => n,
            Err(_) => continue, // the read timeout: look at `stop` again
        };
        let frame = &buf[..n];
        if frame.len() < 14 {
            continue;
        }
        let mut dst = [0u8; 6];
        let mut src = [0u8; 6];
        dst.copy_from_slice(&frame[..6]);
        src.copy_from_slice(&frame[6..12]);
        let targets: Vec<usize> = {
            let mut s = state.lock().unwrap_or_else(|p| p.into_inner());
            s.macs.insert(src, from);
            let candidates: Vec<usize> = match s.macs.get(&dst) {
                Some(&to) if dst[0] & 1 == 0 => vec![to],
                _ => (0..ports.len()).collect(), // broadcast, multicast (VRRP) or unknown
            };
            let allowed: Vec<usize> = candidates
                .into_iter()
                .filter(|&to| to != from)
                .filter(|&to| {
                    let ok = !s.blocked[from][to];
                    if !ok {
                        s.dropped += 1;
                    }
                    ok
                })
                .collect();
            s.forwarded += allowed.len() as u64;
            if !allowed.is_empty() {
                if let Some(pcap) = s.pcap.as_mut() {
                    let _ = pcap_record(pcap, frame);
                }
            }
            allowed
        };
        for to in targets {
            // A node that is down has no socket: the frame is lost, as on a wire.
            let _ = ports[from].socket.send_to(frame, &ports[to].qemu);
        }
    }
}

fn pcap_file(path: &Path) -> Result<BufWriter<File>> {
    let io = |error| Error::Io {
        what: path.display().to_string(),
        error,
    };
    let mut w = BufWriter::new(File::create(path).map_err(io)?);
    // pcap global header: magic, version 2.4, UTC, accuracy, snaplen, Ethernet.
    let mut header = Vec::new();
    header.extend_from_slice(&0xa1b2c3d4u32.to_le_bytes());
    header.extend_from_slice(&2u16.to_le_bytes());
    header.extend_from_slice(&4u16.to_le_bytes());
    header.extend_from_slice(&0i32.to_le_bytes());
    header.extend_from_slice(&0u32.to_le_bytes());
    header.extend_from_slice(&65535u32.to_le_bytes());
    header.extend_from_slice(&1u32.to_le_bytes());
    w.write_all(&header).map_err(io)?;
    Ok(w)
}

fn pcap_record(w: &mut BufWriter<File>, frame: &[u8]) -> std::io::Result<()> {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    let len = u32::try_from(frame.len()).unwrap_or(u32::MAX);
    w.write_all(&u32::try_from(now.as_secs()).unwrap_or(0).to_le_bytes())?;
    w.write_all(&now.subsec_micros().to_le_bytes())?;
    w.write_all(&len.to_le_bytes())?;
    w.write_all(&len.to_le_bytes())?;
    w.write_all(frame)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame(dst: [u8; 6], src: [u8; 6], payload: &[u8]) -> Vec<u8> {
        let mut f = dst.to_vec();
        f.extend_from_slice(&src);
        f.extend_from_slice(&[0x08, 0x00]);
        f.extend_from_slice(payload);
        f
    }

    /// Three fake NICs on the switch: broadcast reaches all, a partition and a one-way cut
    /// drop what they should and nothing else, heal restores it.
    #[test]
    fn partitions_and_one_way_cuts_drop_exactly_their_frames() {
        let dir = tempfile::tempdir().unwrap();
        let names: Vec<String> = ["a", "b", "c"].map(String::from).to_vec();
        let nics: Vec<UnixDatagram> = names
            .iter()
            .map(|n| {
                let s = UnixDatagram::bind(NicPaths::in_dir(dir.path(), n).qemu).unwrap();
                s.set_read_timeout(Some(Duration::from_millis(300)))
                    .unwrap();
                s
            })
            .collect();
        let pcap = dir.path().join("segment.pcap");
        let switch = Switch::start(dir.path(), &names, Some(&pcap)).unwrap();
        let send = |from: usize, dst: [u8; 6], tag: u8| {
            let src = [2, 0, 0, 0, 0, from as u8];
            nics[from]
                .send_to(
                    &frame(dst, src, &[tag]),
                    NicPaths::in_dir(dir.path(), &names[from]).switch,
                )
                .unwrap();
        };
        let got = |at: usize| -> Vec<u8> {
            let mut seen = Vec::new();
            let mut buf = [0u8; 100];
            while let Ok(n) = nics[at].recv(&mut buf) {
                seen.push(buf[n - 1]);
            }
            // Each port has its own thread: frames from different senders may cross.
            seen.sort();
            seen
        };
        let bcast = [0xff; 6];
        for i in 0..3 {
            send(i, bcast, 10 + i as u8); // every node announces itself
        }
        assert_eq!(got(0), vec![11, 12]);
        assert_eq!(got(1), vec![10, 12]);
        assert_eq!(got(2), vec![10, 11]);

        switch
            .partition(&[vec!["a".into()], vec!["b".into(), "c".into()]])
            .unwrap();
        send(0, bcast, 20);
        send(1, bcast, 21);
        assert_eq!(got(0), Vec::<u8>::new());
        assert_eq!(got(1), Vec::<u8>::new());
        assert_eq!(got(2), vec![21]);

        switch.heal();
        switch.cut("a", "b").unwrap();
        send(0, [2, 0, 0, 0, 0, 1], 30); // unicast a -> b: cut
        send(1, [2, 0, 0, 0, 0, 0], 31); // unicast b -> a: still works
        send(0, [2, 0, 0, 0, 0, 2], 32); // unicast a -> c: still works
        assert_eq!(got(0), vec![31]);
        assert_eq!(got(1), Vec::<u8>::new());
        assert_eq!(got(2), vec![32]);
        let (_, dropped) = switch.counts();
        assert!(dropped >= 3, "{dropped}");
        drop(switch);
        let capture = std::fs::read(&pcap).unwrap();
        assert_eq!(&capture[..4], &0xa1b2c3d4u32.to_le_bytes());
        assert!(capture.len() > 24 + 16 * 6, "frames were captured");
    }
}
