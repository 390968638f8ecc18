//! The scenario file as written (serde; unknown keys refused). scenario/check.rs turns it
//! into checked steps.

use std::collections::BTreeMap;

use serde::Deserialize;

#[derive(Debug, Clone, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ScenarioFile {
    /// The inventory to bake, relative to the scenario (its `base:` may be `builtin:…`).
    pub inventory: String,
    /// The whole scenario's limit, like `20m`.
    #[serde(default)]
    pub timeout: Option<String>,
    /// Emulated machines: memory, CPUs, boot timeout; per node below.
    #[serde(default)]
    pub machine: MachineFile,
    /// Per-node machine overrides, by node name.
    #[serde(default)]
    pub nodes: BTreeMap<String, MachineFile>,
    /// Each step is a one-key mapping, `- boot: all`, as people write it.
    #[serde(deserialize_with = "serde_yaml_ng::with::singleton_map_recursive::deserialize")]
    pub steps: Vec<StepFile>,
}

#[derive(Debug, Clone, Default, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct MachineFile {
    pub memory_mib: Option<u32>,
    pub cpus: Option<u32>,
    /// From QEMU's start to `systemctl is-system-running` answering, like `10m`.
    pub boot_timeout: Option<String>,
}

/// Nodes by name, or `all`.
#[derive(Debug, Clone, Deserialize, schemars::JsonSchema)]
#[serde(untagged)]
pub enum NodesFile {
    One(String),
    Many(Vec<String>),
}

#[derive(Debug, Clone, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum StepFile {
    /// Start nodes (staggered) and wait until each is ready.
    Boot(NodesFile),
    /// Start a stopped or crashed node again, waited for.
    Start(NodesFile),
    /// Power loss.
    Crash(NodesFile),
    /// A clean poweroff, waited for.
    Shutdown(NodesFile),
    /// A clean reboot, waited for until ready.
    Reboot(NodesFile),
    /// Freeze the node's vCPUs (QMP stop).
    Pause(NodesFile),
    Resume(NodesFile),
    /// Pull the node's cable (the guest sees the carrier go).
    LinkDown(NodesFile),
    LinkUp(NodesFile),
    /// Split the segment into groups; frames cross only within a group.
    Partition(Vec<Vec<String>>),
    /// Frames from one node stop reaching another (one way).
    Cut(CutFile),
    /// Every node reaches every node again.
    Heal(EmptyFile),
    /// A command that must meet its expectations (exit 0 unless told).
    Run(RunFile),
    /// The same as `run`, with the expectations inline.
    Expect(ExpectFile),
    /// A command retried until it exits 0.
    WaitUntil(WaitFile),
    Sleep(String),
    /// Named steps, reported as one test case.
    Subtest(SubtestFile),
    /// The time from this step until a command first succeeds, kept in the report.
    Measure(MeasureFile),
}

#[derive(Debug, Clone, Default, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct EmptyFile {}

#[derive(Debug, Clone, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CutFile {
    pub from: String,
    pub to: String,
}

#[derive(Debug, Clone, Default, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Expectation {
    /// The exit code (default 0).
    pub exit: Option<i32>,
    /// A regular expression stdout must match.
    pub stdout: Option<String>,
    pub stderr: Option<String>,
    /// The node must give no answer within the timeout (paused, frozen).
    #[serde(default)]
    pub no_answer: bool,
}

#[derive(Debug, Clone, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RunFile {
    pub node: String,
    pub cmd: String,
    /// Default 60s.
    pub timeout: Option<String>,
    #[serde(default)]
    pub expect: Expectation,
    /// Keep the command's stdout (trimmed) for later steps as `{{ saved.NAME }}`, e.g. a
    /// swarm join token.
    pub save: Option<String>,
    /// Record the command's stdout, a number of seconds, as the figure NAME in the report
    /// (for what only the guest can time, like the gap in a ping log).
    pub figure: Option<String>,
}

#[derive(Debug, Clone, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ExpectFile {
    pub node: String,
    pub cmd: String,
    pub timeout: Option<String>,
    pub exit: Option<i32>,
    pub stdout: Option<String>,
    pub stderr: Option<String>,
    #[serde(default)]
    pub no_answer: bool,
}

#[derive(Debug, Clone, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct WaitFile {
    pub node: String,
    pub cmd: String,
    /// Default 120s.
    pub timeout: Option<String>,
    /// Between tries; default 2s.
    pub interval: Option<String>,
}

#[derive(Debug, Clone, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SubtestFile {
    pub name: String,
    pub steps: Vec<StepFile>,
}

#[derive(Debug, Clone, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct MeasureFile {
    pub name: String,
    pub until: UntilFile,
    /// Default 120s.
    pub timeout: Option<String>,
    /// Where the clock starts: `step` (this step, the default) or `event`, the end of the
    /// last step that changed the cluster (crash, start, partition, …), so that several
    /// measures after one crash all count from it.
    #[serde(default)]
    pub since: Since,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Since {
    #[default]
    Step,
    Event,
}

#[derive(Debug, Clone, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct UntilFile {
    pub node: String,
    pub cmd: String,
    /// Default 1s.
    pub interval: Option<String>,
}
