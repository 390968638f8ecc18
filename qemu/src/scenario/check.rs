//! A scenario file checked against its inventory before anything boots: every node named
//! exists, durations are durations (and not negative), regular expressions compile, and
//! `{{ nodes.NAME.address }}` in commands renders. Each problem names the file, line and
//! column, and the step.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use regex::Regex;
use serde_json::json;

pub use super::file::Since;
use super::file::{Expectation, NodesFile, ScenarioFile, StepFile};
use super::spans::Spans;

/// A bad scenario: where, and what.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}{}: {message}", file.display(), place.map(|(l, c)| format!(":{l}:{c}")).unwrap_or_default())]
pub struct ScenarioError {
    pub file: PathBuf,
    pub place: Option<(usize, usize)>,
    pub message: String,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Machine {
    pub memory_mib: u32,
    pub cpus: u32,
    pub boot_timeout: Duration,
}

#[derive(Debug, Clone)]
pub struct Scenario {
    pub file: PathBuf,
    pub name: String,
    pub inventory: PathBuf,
    pub timeout: Duration,
    /// Every node of the inventory, in its order, with its machine.
    pub nodes: Vec<(String, Machine)>,
    pub steps: Vec<Step>,
}

#[derive(Debug, Clone)]
pub struct Step {
    /// `3`, or `5.2` inside a subtest (1-based, as people count).
    pub number: String,
    pub place: Option<(usize, usize)>,
    pub kind: StepKind,
}

#[derive(Debug, Clone)]
pub struct Expect {
    pub exit: i32,
    pub stdout: Option<Regex>,
    pub stderr: Option<Regex>,
    pub no_answer: bool,
}

#[derive(Debug, Clone)]
pub enum StepKind {
    Boot(Vec<String>),
    Start(Vec<String>),
    Crash(Vec<String>),
    Shutdown(Vec<String>),
    Reboot(Vec<String>),
    Pause(Vec<String>),
    Resume(Vec<String>),
    LinkDown(Vec<String>),
    LinkUp(Vec<String>),
    Partition(Vec<Vec<String>>),
    Cut {
        from: String,
        to: String,
    },
    Heal,
    Run {
        node: String,
        cmd: String,
        timeout: Duration,
        expect: Expect,
        /// `{{ saved.NAME }}` for later steps: the stdout, trimmed.
        save: Option<String>,
        /// A figure for the report: the stdout as seconds.
        figure: Option<String>,
    },
    WaitUntil {
        node: String,
        cmd: String,
        timeout: Duration,
        interval: Duration,
    },
    Sleep(Duration),
    Subtest {
        name: String,
        steps: Vec<Step>,
    },
    Measure {
        name: String,
        node: String,
        cmd: String,
        timeout: Duration,
        interval: Duration,
        since: Since,
    },
}

impl StepKind {
    /// Whether the step changes the cluster (the clock of `since: event` restarts after it).
    pub fn is_event(&self) -> bool {
        matches!(
            self,
            StepKind::Boot(_)
                | StepKind::Start(_)
                | StepKind::Crash(_)
                | StepKind::Shutdown(_)
                | StepKind::Reboot(_)
                | StepKind::Pause(_)
                | StepKind::Resume(_)
                | StepKind::LinkDown(_)
                | StepKind::LinkUp(_)
                | StepKind::Partition(_)
                | StepKind::Cut { .. }
                | StepKind::Heal
        )
    }
}

impl Step {
    /// One line for people: `run p1: ping -c1 p2`.
    pub fn label(&self) -> String {
        let list = |n: &[String]| n.join(", ");
        match &self.kind {
            StepKind::Boot(n) => format!("boot {}", list(n)),
            StepKind::Start(n) => format!("start {}", list(n)),
            StepKind::Crash(n) => format!("crash {}", list(n)),
            StepKind::Shutdown(n) => format!("shutdown {}", list(n)),
            StepKind::Reboot(n) => format!("reboot {}", list(n)),
            StepKind::Pause(n) => format!("pause {}", list(n)),
            StepKind::Resume(n) => format!("resume {}", list(n)),
            StepKind::LinkDown(n) => format!("link down {}", list(n)),
            StepKind::LinkUp(n) => format!("link up {}", list(n)),
            StepKind::Partition(groups) => format!(
                "partition {}",
                groups
                    .iter()
                    .map(|g| format!("{{{}}}", g.join(",")))
                    .collect::<Vec<_>>()
                    .join(" | ")
            ),
            StepKind::Cut { from, to } => format!("cut {from} -> {to}"),
            StepKind::Heal => "heal".into(),
            StepKind::Run { node, cmd, .. } => format!("run {node}: {cmd}"),
            StepKind::WaitUntil { node, cmd, .. } => format!("wait until {node}: {cmd}"),
            StepKind::Sleep(d) => format!("sleep {}", humantime::format_duration(*d)),
            StepKind::Subtest { name, .. } => format!("subtest {name}"),
            StepKind::Measure {
                name,
                node,
                cmd,
                since,
                ..
            } => {
                let from = match since {
                    Since::Step => "",
                    Since::Event => " (since the last event)",
                };
                format!("measure {name}{from}: until {node}: {cmd}")
            }
        }
    }

    /// The node a step is about, when it is about one.
    pub fn node(&self) -> Option<&str> {
        match &self.kind {
            StepKind::Run { node, .. }
            | StepKind::WaitUntil { node, .. }
            | StepKind::Measure { node, .. } => Some(node),
            StepKind::Boot(n)
            | StepKind::Start(n)
            | StepKind::Crash(n)
            | StepKind::Shutdown(n)
            | StepKind::Reboot(n)
            | StepKind::Pause(n)
            | StepKind::Resume(n)
            | StepKind::LinkDown(n)
            | StepKind::LinkUp(n) => n.first().map(String::as_str),
            _ => None,
        }
    }
}

struct Checker<'a> {
    file: &'a Path,
    spans: Spans,
    nodes: &'a [(String, Option<String>)],
    vars: minijinja::Environment<'static>,
    /// `nodes`, and `saved` as steps that save are checked (in order, so a name is known only
    /// after the step that saves it).
    context: std::cell::RefCell<serde_json::Value>,
}

/// How a saved value stands in a checked command until the runner knows it.
pub fn saved_marker(name: &str) -> String {
    format!("{{{{ saved.{name} }}}}")
}

impl Checker<'_> {
    fn err(&self, path: &str, message: impl Into<String>) -> ScenarioError {
        ScenarioError {
            file: self.file.to_path_buf(),
            place: self.spans.find(path),
            message: message.into(),
        }
    }

    fn duration(
        &self,
        path: &str,
        text: Option<&str>,
        default: Duration,
    ) -> Result<Duration, ScenarioError> {
        let Some(text) = text else {
            return Ok(default);
        };
        let t = text.trim();
        if t.starts_with('-') {
            return Err(self.err(
                path,
                format!("`{t}` is negative: a duration is like 90s, 2m or 1h30m"),
            ));
        }
        let d = humantime::parse_duration(t).map_err(|e| {
            self.err(
                path,
                format!("`{t}` is not a duration like 90s, 2m or 1h30m ({e})"),
            )
        })?;
        if d.is_zero() {
            return Err(self.err(
                path,
                format!("`{t}` is zero: give a duration above nothing"),
            ));
        }
        Ok(d)
    }

    fn node(&self, path: &str, name: &str) -> Result<String, ScenarioError> {
        if self.nodes.iter().any(|(n, _)| n == name) {
            Ok(name.to_string())
        } else {
            Err(self.err(
                path,
                format!(
                    "no node `{name}` in the inventory (nodes: {})",
                    self.known()
                ),
            ))
        }
    }

    fn known(&self) -> String {
        self.nodes
            .iter()
            .map(|(n, _)| n.as_str())
            .collect::<Vec<_>>()
            .join(", ")
    }

    fn nodes_of(&self, path: &str, given: &NodesFile) -> Result<Vec<String>, ScenarioError> {
        match given {
            NodesFile::One(all) if all == "all" => {
                Ok(self.nodes.iter().map(|(n, _)| n.clone()).collect())
            }
            NodesFile::One(one) => Ok(vec![self.node(path, one)?]),
            NodesFile::Many(list) if list.is_empty() => Err(self.err(path, "names no node")),
            NodesFile::Many(list) => list
                .iter()
                .enumerate()
                .map(|(i, n)| self.node(&format!("{path}.{i}"), n))
                .collect(),
        }
    }

    fn command(&self, path: &str, cmd: &str) -> Result<String, ScenarioError> {
        if cmd.trim().is_empty() {
            return Err(self.err(path, "the command is empty"));
        }
        self.vars
            .render_str(cmd, &*self.context.borrow())
            .map_err(|e| {
                self.err(
                    path,
                    format!(
                        "in `{cmd}`: {e} (variables: nodes.NAME.address, nodes.NAME.name, \
                         saved.NAME after a step that saves it)"
                    ),
                )
            })
    }

    /// A name for `save:` or `figure:`: letters, digits and `_`.
    fn name(&self, path: &str, name: &Option<String>) -> Result<Option<String>, ScenarioError> {
        let Some(n) = name else { return Ok(None) };
        let ok = n
            .chars()
            .next()
            .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
            && n.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
        if !ok {
            return Err(self.err(
                path,
                format!("`{n}` is not a name: letters, digits and _, not starting with a digit"),
            ));
        }
        Ok(Some(n.clone()))
    }

    /// A regular expression, after `{{ … }}` variables (an address matches itself).
    fn regex(&self, path: &str, text: &Option<String>) -> Result<Option<Regex>, ScenarioError> {
        text.as_ref()
            .map(|r| {
                let r = self.command(path, r)?;
                Regex::new(&r)
                    .map_err(|e| self.err(path, format!("`{r}` is not a regular expression: {e}")))
            })
            .transpose()
    }

    fn expect(&self, path: &str, e: &Expectation) -> Result<Expect, ScenarioError> {
        Ok(Expect {
            exit: e.exit.unwrap_or(0),
            stdout: self.regex(&format!("{path}.stdout"), &e.stdout)?,
            stderr: self.regex(&format!("{path}.stderr"), &e.stderr)?,
            no_answer: e.no_answer,
        })
    }

    fn steps(
        &self,
        base: &str,
        prefix: &str,
        steps: &[StepFile],
    ) -> Result<Vec<Step>, ScenarioError> {
        steps
            .iter()
            .enumerate()
            .map(|(i, s)| {
                let path = format!("{base}.{i}");
                let number = format!("{prefix}{}", i + 1);
                let kind = self.step(&path, &number, s)?;
                Ok(Step {
                    number,
                    place: self.spans.find(&path),
                    kind,
                })
            })
            .collect()
    }

    fn step(&self, path: &str, number: &str, s: &StepFile) -> Result<StepKind, ScenarioError> {
        let at = |key: &str| format!("{path}.{key}");
        Ok(match s {
            StepFile::Boot(n) => StepKind::Boot(self.nodes_of(&at("boot"), n)?),
            StepFile::Start(n) => StepKind::Start(self.nodes_of(&at("start"), n)?),
            StepFile::Crash(n) => StepKind::Crash(self.nodes_of(&at("crash"), n)?),
            StepFile::Shutdown(n) => StepKind::Shutdown(self.nodes_of(&at("shutdown"), n)?),
            StepFile::Reboot(n) => StepKind::Reboot(self.nodes_of(&at("reboot"), n)?),
            StepFile::Pause(n) => StepKind::Pause(self.nodes_of(&at("pause"), n)?),
            StepFile::Resume(n) => StepKind::Resume(self.nodes_of(&at("resume"), n)?),
            StepFile::LinkDown(n) => StepKind::LinkDown(self.nodes_of(&at("link_down"), n)?),
            StepFile::LinkUp(n) => StepKind::LinkUp(self.nodes_of(&at("link_up"), n)?),
            StepFile::Partition(groups) => {
                let mut seen = Vec::new();
                let mut out = Vec::new();
                for (g, group) in groups.iter().enumerate() {
                    let mut names = Vec::new();
                    for (i, n) in group.iter().enumerate() {
                        let p = format!("{path}.partition.{g}.{i}");
                        let n = self.node(&p, n)?;
                        if seen.contains(&n) {
                            return Err(self.err(&p, format!("{n} is in two groups")));
                        }
                        seen.push(n.clone());
                        names.push(n);
                    }
                    out.push(names);
                }
                if out.len() < 2 {
                    return Err(self.err(
                        &at("partition"),
                        "a partition needs at least two groups, like [[p1], [p2, p3]]",
                    ));
                }
                StepKind::Partition(out)
            }
            StepFile::Cut(c) => {
                let from = self.node(&at("cut.from"), &c.from)?;
                let to = self.node(&at("cut.to"), &c.to)?;
                if from == to {
                    return Err(self.err(&at("cut"), "a cut is between two different nodes"));
                }
                StepKind::Cut { from, to }
            }
            StepFile::Heal(_) => StepKind::Heal,
            StepFile::Run(r) => {
                let kind = StepKind::Run {
                    node: self.node(&at("run.node"), &r.node)?,
                    cmd: self.command(&at("run.cmd"), &r.cmd)?,
                    timeout: self.duration(
                        &at("run.timeout"),
                        r.timeout.as_deref(),
                        Duration::from_secs(60),
                    )?,
                    expect: self.expect(&at("run.expect"), &r.expect)?,
                    save: self.name(&at("run.save"), &r.save)?,
                    figure: self.name(&at("run.figure"), &r.figure)?,
                };
                if let StepKind::Run { save: Some(n), .. } = &kind {
                    let mut context = self.context.borrow_mut();
                    if let Some(ctx) = context.as_object_mut() {
                        let saved = ctx.entry("saved").or_insert_with(|| json!({}));
                        saved[n.as_str()] = json!(saved_marker(n));
                    }
                }
                kind
            }
            StepFile::Expect(e) => StepKind::Run {
                node: self.node(&at("expect.node"), &e.node)?,
                cmd: self.command(&at("expect.cmd"), &e.cmd)?,
                timeout: self.duration(
                    &at("expect.timeout"),
                    e.timeout.as_deref(),
                    Duration::from_secs(60),
                )?,
                expect: self.expect(
                    &at("expect"),
                    &Expectation {
                        exit: e.exit,
                        stdout: e.stdout.clone(),
                        stderr: e.stderr.clone(),
                        no_answer: e.no_answer,
                    },
                )?,
                save: None,
                figure: None,
            },
            StepFile::WaitUntil(w) => StepKind::WaitUntil {
                node: self.node(&at("wait_until.node"), &w.node)?,
                cmd: self.command(&at("wait_until.cmd"), &w.cmd)?,
                timeout: self.duration(
                    &at("wait_until.timeout"),
                    w.timeout.as_deref(),
                    Duration::from_secs(120),
                )?,
                interval: self.duration(
                    &at("wait_until.interval"),
                    w.interval.as_deref(),
                    Duration::from_secs(2),
                )?,
            },
            StepFile::Sleep(d) => {
                StepKind::Sleep(self.duration(&at("sleep"), Some(d), Duration::ZERO)?)
            }
            StepFile::Subtest(t) => {
                if t.name.trim().is_empty() {
                    return Err(self.err(&at("subtest.name"), "a subtest needs a name"));
                }
                StepKind::Subtest {
                    name: t.name.clone(),
                    steps: self.steps(&at("subtest.steps"), &format!("{number}."), &t.steps)?,
                }
            }
            StepFile::Measure(m) => StepKind::Measure {
                name: m.name.clone(),
                node: self.node(&at("measure.until.node"), &m.until.node)?,
                cmd: self.command(&at("measure.until.cmd"), &m.until.cmd)?,
                timeout: self.duration(
                    &at("measure.timeout"),
                    m.timeout.as_deref(),
                    Duration::from_secs(120),
                )?,
                interval: self.duration(
                    &at("measure.until.interval"),
                    m.until.interval.as_deref(),
                    Duration::from_secs(1),
                )?,
                since: m.since,
            },
        })
    }
}

/// Parses scenario `text` (as read from `file`): only its shape, before the inventory is
/// known. Unknown keys and wrong types are errors with their place.
pub fn parse(file: &Path, text: &str) -> Result<ScenarioFile, ScenarioError> {
    serde_yaml_ng::from_str(text).map_err(|e| ScenarioError {
        file: file.to_path_buf(),
        place: e.location().map(|l| (l.line(), l.column())),
        message: e
            .to_string()
            .split(" at line ")
            .next()
            .unwrap_or_default()
            .to_string(),
    })
}

/// An error about the value at `path` (dotted, like `inventory`) of scenario `text`.
pub fn error_at(file: &Path, text: &str, path: &str, message: impl Into<String>) -> ScenarioError {
    ScenarioError {
        file: file.to_path_buf(),
        place: Spans::of(text).find(path),
        message: message.into(),
    }
}

/// Where the scenario's inventory is: beside the scenario when relative.
pub fn inventory_path(file: &Path, raw: &ScenarioFile) -> PathBuf {
    file.parent().unwrap_or(Path::new(".")).join(&raw.inventory)
}

/// Checks a parsed scenario against its inventory's nodes (name, address).
pub fn check(
    file: &Path,
    text: &str,
    raw: &ScenarioFile,
    nodes: &[(String, Option<String>)],
) -> Result<Scenario, ScenarioError> {
    let mut vars = minijinja::Environment::new();
    vars.set_undefined_behavior(minijinja::UndefinedBehavior::Strict);
    let context = json!({
        "nodes": nodes
            .iter()
            .map(|(n, a)| (n.clone(), json!({ "name": n, "address": a })))
            .collect::<serde_json::Map<_, _>>(),
    });
    let c = Checker {
        file,
        spans: Spans::of(text),
        nodes,
        vars,
        context: std::cell::RefCell::new(context),
    };
    if raw.steps.is_empty() {
        return Err(c.err("steps", "the scenario has no steps"));
    }
    let timeout = c.duration(
        "timeout",
        raw.timeout.as_deref(),
        Duration::from_secs(30 * 60),
    )?;
    let defaults = Machine {
        memory_mib: raw.machine.memory_mib.unwrap_or(1536),
        cpus: raw.machine.cpus.unwrap_or(2),
        boot_timeout: c.duration(
            "machine.boot_timeout",
            raw.machine.boot_timeout.as_deref(),
            Duration::from_secs(600),
        )?,
    };
    for name in raw.nodes.keys() {
        c.node(&format!("nodes.{name}"), name)?;
    }
    let mut machines = Vec::new();
    for (name, _) in nodes {
        let own = raw.nodes.get(name).cloned().unwrap_or_default();
        let m = Machine {
            memory_mib: own.memory_mib.unwrap_or(defaults.memory_mib),
            cpus: own.cpus.unwrap_or(defaults.cpus),
            boot_timeout: c.duration(
                &format!("nodes.{name}.boot_timeout"),
                own.boot_timeout.as_deref(),
                defaults.boot_timeout,
            )?,
        };
        if !(256..=16384).contains(&m.memory_mib) {
            return Err(c.err(
                &format!("nodes.{name}"),
                format!("memory_mib {} is not 256-16384", m.memory_mib),
            ));
        }
        if !(1..=8).contains(&m.cpus) {
            return Err(c.err(
                &format!("nodes.{name}"),
                format!("cpus {} is not 1-8", m.cpus),
            ));
        }
        machines.push((name.clone(), m));
    }
    let steps = c.steps("steps", "", &raw.steps)?;
    Ok(Scenario {
        file: file.to_path_buf(),
        name: file
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_else(|| "scenario".into()),
        inventory: inventory_path(file, raw),
        timeout,
        nodes: machines,
        steps,
    })
}

/// The JSON Schema of scenario files, for editors (docs/scenario.schema.json).
pub fn schema() -> serde_json::Value {
    let mut schema = serde_json::to_value(schemars::schema_for!(ScenarioFile)).unwrap_or_default();
    if let Some(obj) = schema.as_object_mut() {
        obj.insert("title".into(), "piimage test scenario".into());
    }
    schema
}

/// Every node a step list touches, for `--list`.
pub fn nodes_named(steps: &[Step]) -> BTreeMap<String, usize> {
    let mut out = BTreeMap::new();
    for s in steps {
        if let StepKind::Subtest { steps, .. } = &s.kind {
            for (k, v) in nodes_named(steps) {
                *out.entry(k).or_insert(0) += v;
            }
        } else if let Some(n) = s.node() {
            *out.entry(n.to_string()).or_insert(0) += 1;
        }
    }
    out
}
