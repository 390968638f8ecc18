//! Image engine benchmark: a typical node's changes applied to a multi-GiB sparse base, side
//! by side with `cp --sparse=always` of the same base, in one run on the same disk.
//!
//!   cargo bench --bench engine            (PIIMAGE_BENCH_ROOT_MIB / _FILL_MIB to resize)
//!
//! Figures are printed, never asserted: speed is judged by people reading the table.

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use fixtures::Fixture;
use imager::fileop::{parse_ops, FileOp};
use imager::{Epoch, Image};

const RUNS: usize = 3;

const NODE_OPS: &str = r#"
- { op: write, fs: root, path: /etc/hostname, content: "p7\n" }
- { op: append, fs: root, path: /etc/hosts, content: "172.19.181.1 p1\n172.19.181.2 p2\n172.19.181.7 p7\n" }
- op: write
  fs: root
  path: /etc/NetworkManager/system-connections/eth0.nmconnection
  mode: "0600"
  content: "[connection]\nid=eth0\ntype=ethernet\ninterface-name=eth0\n\n[ipv4]\nmethod=manual\naddress1=172.19.181.7/24,172.19.181.254\ndns=172.19.181.254;\n"
- { op: mkdir, fs: root, path: /home/pi/.ssh, mode: "0700", owner: { uid: 1000, gid: 1000 } }
- { op: write, fs: root, path: /home/pi/.ssh/authorized_keys, mode: "0600", owner: { uid: 1000, gid: 1000 }, content: "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIMiF2hsK1ujjRrK37hRaSEsdmtJHPWMfzAtxZy7FnZxn admin@lab\n" }
- { op: symlink, fs: root, path: /etc/systemd/system/multi-user.target.wants/ssh.service, target: /lib/systemd/system/ssh.service }
- { op: write, fs: root, path: /etc/docker/daemon.json, content: "{\"insecure-registries\": [\"p1:5000\"]}\n" }
- { op: write, fs: root, path: /etc/fail2ban/jail.d/sshd.local, content: "[sshd]\nenabled = true\nbackend = systemd\nmaxretry = 5\nbantime = 120\n" }
- { op: write, fs: root, path: /etc/cron.d/piimage, content: "@reboot pi /home/pi/start_pipes.sh\n" }
- { op: cmdline, set: [cgroup_enable=memory, cgroup_memory=1] }
- { op: config_txt, lines: [enable_uart=1] }
"#;

fn median(mut times: Vec<Duration>) -> Duration {
    times.sort();
    times[times.len() / 2]
}

fn allocated(path: &Path) -> u64 {
    use std::os::unix::fs::MetadataExt;
    std::fs::metadata(path)
        .map(|m| m.blocks() * 512)
        .unwrap_or(0)
}

fn mib(bytes: u64) -> String {
    format!("{:.1} MiB", bytes as f64 / 1048576.0)
}

fn secs(d: Duration) -> String {
    format!("{:.3} s", d.as_secs_f64())
}

fn main() {
    let env_mib = |name: &str, default: u32| {
        std::env::var(name)
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(default)
    };
    let root_mib = env_mib("PIIMAGE_BENCH_ROOT_MIB", 3584);
    let fill_mib = env_mib("PIIMAGE_BENCH_FILL_MIB", 1024);
    eprintln!("building the base fixture (bookworm layout, {root_mib} MiB root, {fill_mib} MiB of data; cached)…");
    let base = Fixture::new("bookworm").sized(root_mib, fill_mib).build();
    let ops: Vec<FileOp> = parse_ops(NODE_OPS).expect("benchmark operations parse");
    let dir = tempfile::tempdir_in(base.parent().expect("fixture directory"))
        .expect("scratch directory beside the base");

    let (mut edit, mut write, mut total, mut cp, mut cp_sync) =
        (vec![], vec![], vec![], vec![], vec![]);
    let mut delta = 0;
    for run in 0..RUNS {
        let out = dir.path().join(format!("node-{run}.img"));
        let start = Instant::now();
        let mut image = Image::open(&base).expect("base opens");
        image
            .apply(&ops, Epoch(1_700_000_000))
            .expect("node edits apply");
        let edited = start.elapsed();
        image.write_to(&out).expect("node image written");
        let done = start.elapsed();
        delta = image.delta().0;
        edit.push(edited);
        write.push(done - edited);
        total.push(done);

        let copy = dir.path().join(format!("cp-{run}.img"));
        let start = Instant::now();
        let status = Command::new("cp")
            .arg("--sparse=always")
            .arg(&base)
            .arg(&copy)
            .status()
            .expect("cp runs");
        cp.push(start.elapsed());
        assert!(status.success(), "cp failed");
        // piimage fsyncs before its rename; `sync FILE` gives cp the same durability.
        let synced = Command::new("sync").arg(&copy).status().expect("sync runs");
        cp_sync.push(start.elapsed());
        assert!(synced.success(), "sync failed");
        if run + 1 < RUNS {
            let _ = std::fs::remove_file(&out);
            let _ = std::fs::remove_file(&copy);
        }
    }
    let out = dir.path().join(format!("node-{}.img", RUNS - 1));
    let copy = dir.path().join(format!("cp-{}.img", RUNS - 1));
    let size = std::fs::metadata(&base).map(|m| m.len()).unwrap_or(0);

    println!();
    println!(
        "base: {} apparent, {} allocated; {} operations; median of {RUNS} runs",
        mib(size),
        mib(allocated(&base)),
        ops.len()
    );
    println!("{:<44} {:>10} {:>16}", "", "wall time", "output allocated");
    println!(
        "{:<44} {:>10} {:>16}",
        "piimage: open + apply the node's changes",
        secs(median(edit)),
        format!("delta {}", mib(delta))
    );
    println!(
        "{:<44} {:>10} {:>16}",
        "piimage: write base + delta, fsync, rename",
        secs(median(write)),
        mib(allocated(&out))
    );
    println!(
        "{:<44} {:>10} {:>16}",
        "piimage: total, one node image",
        secs(median(total)),
        mib(allocated(&out))
    );
    println!(
        "{:<44} {:>10} {:>16}",
        "cp --sparse=always (no edit at all)",
        secs(median(cp)),
        mib(allocated(&copy))
    );
    println!(
        "{:<44} {:>10} {:>16}",
        "cp --sparse=always, then sync FILE",
        secs(median(cp_sync)),
        mib(allocated(&copy))
    );
}
