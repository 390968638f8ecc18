//! The scenario runner: steps in order on one cluster; the first step that fails ends the run
//! (the rest are reported as not run), and the failing node's console tail goes with it.

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use super::check::{Expect, Scenario, Step, StepKind};
use super::report::{Failure, Figure, Report, Status, StepReport};
use crate::cluster::Cluster;
use crate::control::Output;
use crate::Error;

/// What the runner says while it works.
pub enum Event<'a> {
    Started { step: &'a Step, depth: usize },
    Finished { step: &'a StepReport },
}

struct Outcome {
    status: Status,
    message: Option<String>,
    output: Option<Output>,
}

impl Outcome {
    fn passed() -> Outcome {
        Outcome {
            status: Status::Passed,
            message: None,
            output: None,
        }
    }
    fn failed(message: String) -> Outcome {
        Outcome {
            status: Status::Failed,
            message: Some(message),
            output: None,
        }
    }
    fn error(e: Error) -> Outcome {
        Outcome {
            status: Status::Error,
            message: Some(e.to_string()),
            output: None,
        }
    }
}

struct Runner<'a> {
    cluster: &'a mut Cluster,
    interrupted: &'a AtomicBool,
    deadline: Instant,
    on_event: &'a mut dyn FnMut(Event),
    steps: Vec<StepReport>,
    boots: Vec<Figure>,
    measures: Vec<Figure>,
    failure: Option<(Status, Failure)>,
    /// Values kept by `save:`, put into later commands.
    saved: Vec<(String, String)>,
    /// When the last step that changed the cluster ended (`since: event`).
    last_event: Instant,
}

/// Runs `scenario` on `cluster`. Never fails as a function: what went wrong is in the report.
pub fn run(
    scenario: &Scenario,
    cluster: &mut Cluster,
    interrupted: &AtomicBool,
    on_event: &mut dyn FnMut(Event),
) -> Report {
    let started = Instant::now();
    let mut r = Runner {
        cluster,
        interrupted,
        deadline: started + scenario.timeout,
        on_event,
        steps: Vec::new(),
        boots: Vec::new(),
        measures: Vec::new(),
        failure: None,
        saved: Vec::new(),
        last_event: started,
    };
    r.steps_of(&scenario.steps, None, 0);
    let status = match &r.failure {
        None => Status::Passed,
        Some((status, _)) => *status,
    };
    Report {
        format: 1,
        scenario: scenario.name.clone(),
        file: scenario.file.display().to_string(),
        status,
        seconds: started.elapsed().as_secs_f64(),
        boots: r.boots,
        measures: r.measures,
        steps: r.steps,
        failure: r.failure.map(|(_, f)| f),
        artifacts: None,
    }
}

const KEEP: usize = 4096;

fn clip(text: &str) -> String {
    if text.len() <= KEEP {
        return text.to_string();
    }
    let mut end = KEEP;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}… ({} bytes in all)", &text[..end], text.len())
}

impl Runner<'_> {
    /// A checked command with the saved values in it.
    fn fill(&self, cmd: &str) -> String {
        let mut out = cmd.to_string();
        for (name, value) in &self.saved {
            out = out.replace(&super::check::saved_marker(name), value);
        }
        out
    }

    fn start(&mut self, nodes: &[String]) -> Outcome {
        if nodes.is_empty() {
            return Outcome::passed();
        }
        match self.cluster.start(nodes) {
            Ok(ready) => {
                for (node, seconds) in ready {
                    self.boots.push(Figure {
                        name: node,
                        seconds,
                    });
                }
                Outcome::passed()
            }
            Err(e) => Outcome::error(e),
        }
    }

    fn steps_of(&mut self, steps: &[Step], subtest: Option<&str>, depth: usize) {
        for step in steps {
            if let StepKind::Subtest { name, steps } = &step.kind {
                self.steps_of(steps, Some(name), depth + 1);
                continue;
            }
            let skip = if self.interrupted.load(Ordering::SeqCst) {
                Some(Status::Interrupted)
            } else if self.failure.is_some() {
                Some(Status::Skipped)
            } else {
                None
            };
            let begun = Instant::now();
            let outcome = match skip {
                Some(status) => Outcome {
                    status,
                    message: None,
                    output: None,
                },
                None => {
                    (self.on_event)(Event::Started { step, depth });
                    if Instant::now() > self.deadline {
                        Outcome::failed("the scenario's timeout passed before this step".into())
                    } else {
                        let outcome = self.step(step);
                        if step.kind.is_event() {
                            self.last_event = Instant::now();
                        }
                        outcome
                    }
                }
            };
            // A step cut short by Ctrl-C did not fail: it was interrupted.
            let status = if outcome.status != Status::Passed
                && skip.is_none()
                && self.interrupted.load(Ordering::SeqCst)
            {
                Status::Interrupted
            } else {
                outcome.status
            };
            let report = StepReport {
                number: step.number.clone(),
                label: step.label(),
                subtest: subtest.map(str::to_string),
                status,
                seconds: begun.elapsed().as_secs_f64(),
                node: step.node().map(str::to_string),
                message: outcome.message.clone(),
                stdout: outcome.output.as_ref().map(|o| clip(&o.stdout)),
                stderr: outcome.output.as_ref().map(|o| clip(&o.stderr)),
            };
            (self.on_event)(Event::Finished { step: &report });
            if matches!(status, Status::Failed | Status::Error | Status::Interrupted)
                && self.failure.is_none()
            {
                let node = step.node().map(str::to_string);
                let console_tail = node
                    .as_deref()
                    .map(|n| self.cluster.console_tail(n, 40))
                    .unwrap_or_default();
                self.failure = Some((
                    status,
                    Failure {
                        step: step.number.clone(),
                        label: step.label(),
                        subtest: subtest.map(str::to_string),
                        node,
                        message: outcome.message.unwrap_or_else(|| "interrupted".into()),
                        console_tail,
                    },
                ));
            }
            self.steps.push(report);
        }
    }

    fn left(&self, wanted: Duration) -> Duration {
        wanted.min(self.deadline.saturating_duration_since(Instant::now()))
    }

    fn each(
        &mut self,
        nodes: &[String],
        f: impl Fn(&mut Cluster, &str) -> crate::Result<()>,
    ) -> Outcome {
        for n in nodes {
            if let Err(e) = f(self.cluster, n) {
                return Outcome::error(e);
            }
        }
        Outcome::passed()
    }

    fn step(&mut self, step: &Step) -> Outcome {
        match &step.kind {
            StepKind::Boot(nodes) => {
                // A cluster shared with an earlier scenario of the same inventory is up
                // already: boot starts only what is not.
                let down: Vec<String> = nodes
                    .iter()
                    .filter(|n| !self.cluster.is_up(n))
                    .cloned()
                    .collect();
                let mut outcome = self.start(&down);
                if down.len() < nodes.len() && outcome.status == Status::Passed {
                    let up: Vec<&str> = nodes
                        .iter()
                        .filter(|n| !down.contains(n))
                        .map(String::as_str)
                        .collect();
                    outcome.message = Some(format!(
                        "already up (booted by an earlier scenario of this inventory): {}",
                        up.join(", ")
                    ));
                }
                outcome
            }
            StepKind::Start(nodes) => self.start(nodes),
            StepKind::Crash(nodes) => self.each(nodes, |c, n| c.crash(n)),
            StepKind::Shutdown(nodes) => {
                for n in nodes {
                    if let Err(e) = self.cluster.shutdown(n, Duration::from_secs(180)) {
                        return Outcome::failed(e.to_string());
                    }
                }
                Outcome::passed()
            }
            StepKind::Reboot(nodes) => {
                for n in nodes {
                    match self.cluster.reboot(n) {
                        Ok(seconds) => self.boots.push(Figure {
                            name: n.clone(),
                            seconds,
                        }),
                        Err(e) => return Outcome::error(e),
                    }
                }
                Outcome::passed()
            }
            StepKind::Pause(nodes) => self.each(nodes, |c, n| c.pause(n)),
            StepKind::Resume(nodes) => self.each(nodes, |c, n| c.resume(n)),
            StepKind::LinkDown(nodes) => self.each(nodes, |c, n| c.set_link(n, false)),
            StepKind::LinkUp(nodes) => self.each(nodes, |c, n| c.set_link(n, true)),
            StepKind::Partition(groups) => match self.cluster.partition(groups) {
                Ok(()) => Outcome::passed(),
                Err(e) => Outcome::error(e),
            },
            StepKind::Cut { from, to } => match self.cluster.cut(from, to) {
                Ok(()) => Outcome::passed(),
                Err(e) => Outcome::error(e),
            },
            StepKind::Heal => {
                self.cluster.heal();
                Outcome::passed()
            }
            StepKind::Sleep(d) => {
                let until = Instant::now() + self.left(*d);
                while Instant::now() < until && !self.interrupted.load(Ordering::SeqCst) {
                    std::thread::sleep(Duration::from_millis(100));
                }
                Outcome::passed()
            }
            StepKind::Run {
                node,
                cmd,
                timeout,
                expect,
                save,
                figure,
            } => {
                let cmd = self.fill(cmd);
                let result = self.cluster.execute(node, &cmd, self.left(*timeout));
                let mut outcome = judge(expect, result);
                if outcome.status != Status::Passed {
                    return outcome;
                }
                let stdout = outcome
                    .output
                    .as_ref()
                    .map(|o| o.stdout.trim().to_string())
                    .unwrap_or_default();
                if let Some(name) = save {
                    self.saved.retain(|(n, _)| n != name);
                    self.saved.push((name.clone(), stdout.clone()));
                }
                if let Some(name) = figure {
                    match stdout.parse::<f64>() {
                        Ok(seconds) if seconds.is_finite() && seconds >= 0.0 => {
                            self.measures.push(Figure {
                                name: name.clone(),
                                seconds,
                            });
                            outcome.message = Some(format!("{name}: {seconds:.1} s"));
                        }
                        _ => {
                            return Outcome::failed(format!(
                                "figure {name}: the command printed `{stdout}`, not a number of seconds"
                            ))
                        }
                    }
                }
                outcome
            }
            StepKind::WaitUntil {
                node,
                cmd,
                timeout,
                interval,
            } => match self.cluster.wait_until_succeeds(
                node,
                &self.fill(cmd),
                self.left(*timeout),
                *interval,
            ) {
                Ok((out, _)) => Outcome {
                    output: Some(out),
                    ..Outcome::passed()
                },
                Err(e) => Outcome::failed(e.to_string()),
            },
            StepKind::Measure {
                name,
                node,
                cmd,
                timeout,
                interval,
                since,
            } => {
                let began = match since {
                    super::check::Since::Step => Instant::now(),
                    super::check::Since::Event => self.last_event,
                };
                let cmd = self.fill(cmd);
                match self
                    .cluster
                    .wait_until_succeeds(node, &cmd, self.left(*timeout), *interval)
                {
                    Ok((out, _)) => {
                        let seconds = began.elapsed().as_secs_f64();
                        self.measures.push(Figure {
                            name: name.clone(),
                            seconds,
                        });
                        Outcome {
                            message: Some(format!("{name}: {seconds:.1} s")),
                            output: Some(out),
                            ..Outcome::passed()
                        }
                    }
                    Err(e) => Outcome::failed(e.to_string()),
                }
            }
            StepKind::Subtest { .. } => Outcome::passed(),
        }
    }
}

/// Whether a command's result meets the step's expectations.
fn judge(expect: &Expect, result: crate::Result<Output>) -> Outcome {
    let out = match result {
        Ok(out) => out,
        Err(Error::NoAnswer { seconds }) if expect.no_answer => {
            return Outcome {
                message: Some(format!("no answer within {seconds} s, as expected")),
                ..Outcome::passed()
            }
        }
        Err(e @ Error::NoAnswer { .. }) => return Outcome::failed(e.to_string()),
        Err(e) => return Outcome::error(e),
    };
    let mut problems = Vec::new();
    if expect.no_answer {
        problems.push(format!(
            "expected no answer, but it answered (exit {})",
            out.exit
        ));
    } else if out.exit != expect.exit {
        problems.push(format!("exit {} (expected {})", out.exit, expect.exit));
    }
    for (what, re, text) in [
        ("stdout", &expect.stdout, &out.stdout),
        ("stderr", &expect.stderr, &out.stderr),
    ] {
        if let Some(re) = re {
            if !re.is_match(text) {
                problems.push(format!("{what} does not match /{re}/"));
            }
        }
    }
    let message = if problems.is_empty() {
        None
    } else {
        let mut m = problems.join("; ");
        if !out.stdout.trim().is_empty() {
            m.push_str(&format!("\nstdout: {}", clip(out.stdout.trim())));
        }
        if !out.stderr.trim().is_empty() {
            m.push_str(&format!("\nstderr: {}", clip(out.stderr.trim())));
        }
        Some(m)
    };
    Outcome {
        status: if problems.is_empty() {
            Status::Passed
        } else {
            Status::Failed
        },
        message,
        output: Some(out),
    }
}
