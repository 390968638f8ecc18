//! The command line, parsed once into these types; `commands` turns them into work.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

#[derive(Debug, Parser)]
#[command(
    name = "piimage",
    version,
    about = "Bake reproducible per-node Raspberry Pi SD-card images, inspect them, and test the cluster in QEMU",
    long_about = "piimage edits Raspberry Pi SD-card images in user space: no root, no mount, no loop device.\n\
                  Images may be raw (.img) or compressed as downloaded (.img.xz, .img.gz, .img.zst, .zip);\n\
                  compressed bases are decompressed once into a cache keyed by their content hash.\n\n\
                  Exit codes: 0 success, 1 a test step failed, 2 bad input, 3 machine or harness failure.",
    after_help = "Examples:\n  piimage inspect 2024-11-19-raspios-bookworm-arm64-lite.img.xz\n  piimage inspect node.img --json | jq .addresses\n  piimage apply base.img --ops changes.yaml -o p1.img"
)]
pub struct Cli {
    /// Log what piimage does (or set PIIMAGE_LOG=debug).
    #[arg(short, long, global = true)]
    pub verbose: bool,

    /// Where decompressed base images are kept [default: $XDG_CACHE_HOME/piimage or ~/.cache/piimage].
    #[arg(long, global = true, env = "PIIMAGE_CACHE_DIR", value_name = "DIR")]
    pub cache_dir: Option<PathBuf>,

    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Show an image's partitions, filesystems, OS flavour, hostname, addresses, users, keys and services.
    #[command(
        after_help = "The --json form is stable (see docs/inspect-json.md); its \"format\" field is bumped only if a field changes meaning."
    )]
    Inspect(InspectArgs),
    /// Write one image per node of the inventory (DIR/NODE.img) and a manifest.
    #[command(
        after_help = "Same inputs (inventory, base, SOURCE_DATE_EPOCH) give byte-identical images; the manifest\n\
records the inputs' hash, each image's sha256, and the ranges each node changed.\n\n\
`packages:` are resolved by apt against the image's own architecture, dpkg status and sources\n\
(or `apt: { sources, mirror }`), fetched once into the cache (CACHE/packages/, by SHA-256),\n\
listed in the manifest, and installed on the card at its first boot with no network; a second\n\
bake of the same inputs needs no mirror (docs/packages.md)."
    )]
    Bake(BakeArgs),
    /// Show the changes bake would make to each node's image, without writing anything.
    #[command(
        after_help = "The inventory (-c, default ./piimage.yaml) names the base image and the nodes; see\n\
docs/inventory.schema.json for every key, and fixtures/inventories/lab.yaml for an example.\n\
Each change is a file operation, the same list `piimage apply --ops` takes (print it with --json)."
    )]
    Plan(PlanArgs),
    /// Apply a list of file operations (YAML or JSON) to an image and write a new image.
    #[command(after_help = "The operations file is a list; each item has an `op`:\n\
  - { op: write, fs: root, path: /etc/hostname, content: \"p1\\n\", mode: \"0644\", owner: { uid: 0, gid: 0 } }\n\
  - { op: append, fs: root, path: /etc/hosts, content: \"10.0.0.2 p2\\n\" }\n\
  - { op: mkdir, fs: root, path: /home/pi/.ssh, mode: \"0700\", owner: { uid: 1000, gid: 1000 } }\n\
  - { op: symlink, fs: root, path: /etc/systemd/system/multi-user.target.wants/ssh.service, target: /lib/systemd/system/ssh.service }\n\
  - { op: remove, fs: root, path: /etc/motd }\n\
  - { op: chmod, fs: root, path: /usr/local/bin/tool, mode: \"0755\" }\n\
  - { op: chown, fs: root, path: /home/pi, owner: { uid: 1000, gid: 1000 } }\n\
  - { op: touch, fs: root, path: /etc/hostname, mtime: 1700000000 }\n\
  - { op: cmdline, set: [cgroup_enable=memory], remove: [quiet] }\n\
  - { op: config_txt, section: all, lines: [enable_uart=1] }\n\
`fs` is `boot` (the FAT partition) or `root` (ext4). Binary content: content: { base64: \"...\" }.\n\
Times come from SOURCE_DATE_EPOCH, else the base's last write: same inputs, same bytes.")]
    Apply(ApplyArgs),
    /// Write images onto SD cards (or USB disks, loop devices, files): safely, verified, in parallel.
    #[command(after_help = "Forms:\
\n  piimage flash -c lab.yaml --node p3 /dev/sdb           one node (baked first if missing or stale)\
\n  piimage flash -c lab.yaml --node p1 --node p2 /dev/sdb /dev/sdc   pairs, in order\
\n  piimage flash -c lab.yaml --all /dev/sdb /dev/sdc /dev/sdd        every node, devices in order\
\n  piimage flash -c lab.yaml --watch                      lab mode: each new card gets the next node\
\n  piimage flash p3.img.xz /dev/sdb /dev/sdc              one prebaked image onto several cards\n\
\nBefore any byte is written, each target is listed (model, size, transport, serial) and refused if\
\na partition is mounted, it holds the running system or swap, it is read-only, the image does not\
\nfit, or it is not removable/USB/MMC/loop (--force overrides only that). Then confirmation is\
\nasked (--yes skips it; without a terminal and without --yes nothing is written).\n\
\nOnly what the filesystems use is written (ext4 bitmaps, FAT tables, their metadata, and all bytes\
\noutside the partitions), never skipping bytes merely for being zero; the partition table last;\
\nthen everything written is read back and compared (--no-verify skips it).\n\
\nExit codes: 0 every card written and verified; 1 some card failed (the others still finish);\
\n2 bad input or a refused target (nothing written); 3 the machine failed.")]
    Flash(FlashArgs),
    /// Build or list piimage's built-in bases (Debian arm64 for Raspberry Pi, reproducible).
    #[command(subcommand)]
    Base(BaseCommand),
    /// Boot the baked cluster in QEMU and run a scenario on it: drive it, break it, report.
    #[command(
        after_help = "A scenario (YAML; docs/scenario.schema.json) names an inventory, which is baked exactly as for\n\
the cards (cached by its inputs), and steps: boot, run (with expect: exit, stdout/stderr regex,\n\
no_answer), wait_until, crash, start, shutdown, reboot, pause, resume, link_down, link_up,\n\
partition, cut, heal, sleep, subtest, measure. {{ nodes.NAME.address }} works in commands.\n\
\n\
Each node is one qemu-system-aarch64 -M virt on a copy-on-write overlay of a test copy of its\n\
image (the baked image plus a control shell on a virtio port, never on a card), all of them on\n\
a private segment switched by piimage itself on loopback sockets: partitions and one-way cuts\n\
never touch the guests' firewalls.\n\
\n\
Exit codes: 0 every scenario passed; 1 a step failed; 2 bad input (nothing booted);\n\
3 harness failure (QEMU missing, a node never booted).\n\
\n\
Examples:\n  piimage test scenarios/smoke.yaml\n  piimage test scenarios/failover.yaml --junit junit.xml --json report.json\n  piimage test scenarios/smoke.yaml --dry-run"
    )]
    Test(TestArgs),
    /// Check what this machine has for each command, and print the command that fixes each gap.
    #[command(
        after_help = "Checks every program piimage and its tests run (the one list, scripts/requirements.txt):
found on PATH (or /usr/sbin, /sbin), its Debian package at the lowest version that works, the
qemu-aarch64 binfmt_misc entry with its F flag, root where a command needs it, and free disk in
the cache directory. Each command refuses to start with the same lines when it lacks something.

Exit codes: 0 bake, flash, base build and test have all they need (the developers' test suite
and benchmarks are reported too, but do not count); 1 something they need is missing.

Examples:
  piimage doctor
  piimage doctor --json | jq '.findings[] | select(.state != \"ok\")'
  bash scripts/install.sh     # installs everything on the list"
    )]
    Doctor(DoctorArgs),
}

#[derive(Debug, Args)]
pub struct TestArgs {
    /// Scenario files, run one after another.
    #[arg(required = true, value_name = "SCENARIO")]
    pub scenarios: Vec<PathBuf>,
    /// Write JUnit XML here (a testsuite per scenario).
    #[arg(long, value_name = "FILE")]
    pub junit: Option<PathBuf>,
    /// Write the JSON report here (every step's timing and every measure).
    #[arg(long, value_name = "FILE")]
    pub json: Option<PathBuf>,
    /// Keep consoles, overlays and the report even when everything passed.
    #[arg(long)]
    pub keep: bool,
    /// Where artifacts go [default: a new folder under the temporary directory].
    #[arg(long, value_name = "DIR")]
    pub artifacts: Option<PathBuf>,
    /// Print each scenario's plan (nodes, machines, steps, timeouts) and boot nothing.
    #[arg(long, visible_alias = "list")]
    pub dry_run: bool,
}

#[derive(Debug, Args)]
pub struct DoctorArgs {
    /// Print every finding as JSON.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Subcommand)]
pub enum BaseCommand {
    /// Build the built-in base (or reuse the cached build of the same recipe and package indexes).
    #[command(
        after_help = "The base is bootstrapped with mmdebstrap from Debian's arm64 packages (the recipe is\n\
fixtures/base/debian-bookworm-arm64/), then laid out like Debian's Raspberry Pi images: MBR,\n\
FAT32 RASPIFIRM (firmware, kernel, initrd, device trees, config.txt, cmdline.txt), ext4 RASPIROOT.\n\
Needs root and, on a non-arm64 machine, qemu-user-static in binfmt_misc (scripts/install.sh).\n\
It is cached under the cache directory by the hash of the recipe, SOURCE_DATE_EPOCH and the\n\
mirror's indexes: same package versions, same bytes. Inventories use it as\n\
`base: builtin:debian-bookworm-arm64` (built on first use). `--variant lite` builds\n\
builtin:debian-bookworm-arm64-lite, the same without Docker, fail2ban, GlusterFS and keepalived\n\
(as Raspberry Pi OS Lite comes), for inventories that add them with `packages:`.\n\n\
Examples:\n  sudo piimage base build\n  sudo piimage base build --variant lite\n  sudo piimage base build -o debian-pi.img --json | jq .image.sha256"
    )]
    Build(BaseBuildArgs),
    /// List the built bases in the cache.
    List(BaseListArgs),
}

#[derive(Debug, Args)]
pub struct BaseBuildArgs {
    /// Debian suite.
    #[arg(long, default_value = "bookworm")]
    pub suite: String,
    /// Debian architecture.
    #[arg(long, default_value = "arm64")]
    pub arch: String,
    /// Which built-in base of that suite and architecture: `lite` is the one without Docker,
    /// fail2ban, GlusterFS and keepalived (as Raspberry Pi OS Lite comes; add them with
    /// `packages:`).
    #[arg(long, value_name = "VARIANT")]
    pub variant: Option<String>,
    /// Also copy the image here (sparse, atomically).
    #[arg(short, long, value_name = "FILE")]
    pub output: Option<PathBuf>,
    /// Debian mirror to bootstrap from.
    #[arg(long, env = "PIIMAGE_MIRROR", value_name = "URL")]
    pub mirror: Option<String>,
    /// Print the base's manifest as JSON (with its path) instead of a summary.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct BaseListArgs {
    /// Print the list as JSON.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct InspectArgs {
    /// The image: .img, .img.xz, .img.gz, .img.zst or .zip.
    pub image: PathBuf,
    /// Print the report as JSON.
    #[arg(long)]
    pub json: bool,
}

/// Which inventory, and which of its nodes.
#[derive(Debug, Args)]
pub struct InventoryArgs {
    /// The inventory file.
    #[arg(
        short = 'c',
        long = "config",
        value_name = "FILE",
        default_value = "piimage.yaml"
    )]
    pub config: PathBuf,
    /// Only these nodes (repeat for more); all nodes when absent.
    #[arg(long = "node", value_name = "NAME")]
    pub nodes: Vec<String>,
}

#[derive(Debug, Args)]
pub struct BakeArgs {
    #[command(flatten)]
    pub inventory: InventoryArgs,
    /// Where the images go [default: images/ beside the inventory].
    #[arg(short, long, value_name = "DIR")]
    pub output: Option<PathBuf>,
    /// Also record each image's whole-file SHA-256 (reads every byte of every image; the
    /// chunk digests the manifest always has cost only what each node changed).
    #[arg(long)]
    pub sha256: bool,
    /// Print the manifest as JSON.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct PlanArgs {
    #[command(flatten)]
    pub inventory: InventoryArgs,
    /// Print the file operations as JSON: an object of node name to its list.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct ApplyArgs {
    /// The base image (raw or compressed); it is never modified.
    pub image: PathBuf,
    /// The file operations, YAML or JSON.
    #[arg(long, value_name = "FILE")]
    pub ops: PathBuf,
    /// Where to write the new image (written to a temporary file, renamed when complete).
    #[arg(short, long, value_name = "FILE")]
    pub output: PathBuf,
    /// Print what was done as JSON.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct FlashArgs {
    /// The inventory (with --node, --all or --watch).
    #[arg(short = 'c', long = "config", value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// The node to flash onto the next device (repeat: pairs with the devices in order).
    #[arg(long = "node", value_name = "NAME")]
    pub nodes: Vec<String>,
    /// Every node of the inventory, onto the devices in order.
    #[arg(long, conflicts_with = "nodes")]
    pub all: bool,
    /// Where the baked images are [default: images/ beside the inventory].
    #[arg(long, value_name = "DIR")]
    pub images: Option<PathBuf>,
    /// Lab mode: wait for cards, flash the next node onto each, say which label to write on it.
    #[arg(long, requires = "config", conflicts_with = "all")]
    pub watch: bool,
    /// IMAGE DEVICE… (a prebaked image), or DEVICE… with --node/--all.
    #[arg(value_name = "IMAGE|DEVICE")]
    pub paths: Vec<PathBuf>,
    /// Do not ask for confirmation.
    #[arg(short, long)]
    pub yes: bool,
    /// Allow a target that is not removable, USB, MMC or a loop device (an internal disk).
    #[arg(long)]
    pub force: bool,
    /// Skip reading everything back after writing.
    #[arg(long)]
    pub no_verify: bool,
    /// Print the results as JSON.
    #[arg(long)]
    pub json: bool,
}
