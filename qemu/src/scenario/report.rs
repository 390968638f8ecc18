//! What a run found, for people and machines: every step's outcome and time, boot figures,
//! measures, and the failure with the node's console tail. JSON as it is (serde), JUnit XML
//! through quick-junit (a testsuite per scenario, a testcase per step or subtest).

use serde::Serialize;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Passed,
    /// An expectation did not hold: the cluster is wrong.
    Failed,
    /// The harness or the machine failed (a node never booted, QEMU died).
    Error,
    /// Not run: an earlier step failed, or the run was interrupted.
    Skipped,
    Interrupted,
}

#[derive(Debug, Clone, Serialize)]
pub struct StepReport {
    pub number: String,
    pub label: String,
    /// The subtest it belongs to.
    pub subtest: Option<String>,
    pub status: Status,
    pub seconds: f64,
    pub node: Option<String>,
    pub message: Option<String>,
    pub stdout: Option<String>,
    pub stderr: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Figure {
    pub name: String,
    pub seconds: f64,
}

#[derive(Debug, Clone, Serialize)]
pub struct Failure {
    pub step: String,
    pub label: String,
    /// The subtest the step belongs to, when it does.
    pub subtest: Option<String>,
    pub node: Option<String>,
    pub message: String,
    /// The last lines of that node's serial console.
    pub console_tail: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub format: u32,
    pub scenario: String,
    pub file: String,
    pub status: Status,
    pub seconds: f64,
    /// Seconds from each node's QEMU start to ready, each time it booted.
    pub boots: Vec<Figure>,
    pub measures: Vec<Figure>,
    pub steps: Vec<StepReport>,
    pub failure: Option<Failure>,
    /// Where consoles, overlays and this report were kept, when they were.
    pub artifacts: Option<String>,
}

impl Report {
    /// JUnit XML of several scenarios' reports: a testsuite each; a testcase per top-level
    /// step, a subtest's steps folded into one testcase named after it.
    pub fn junit(reports: &[Report]) -> Result<String, quick_junit::SerializeError> {
        use quick_junit::{NonSuccessKind, TestCase, TestCaseStatus, TestSuite};
        let mut all = quick_junit::Report::new("piimage test");
        for report in reports {
            let mut suite = TestSuite::new(report.scenario.clone());
            let mut cases: Vec<(String, Vec<&StepReport>)> = Vec::new();
            for step in &report.steps {
                let key = match &step.subtest {
                    Some(name) => format!("subtest {name}"),
                    None => format!("{} {}", step.number, step.label),
                };
                match cases.last_mut() {
                    Some((k, steps)) if *k == key && step.subtest.is_some() => steps.push(step),
                    _ => cases.push((key, vec![step])),
                }
            }
            for (name, steps) in cases {
                let worst = steps
                    .iter()
                    .map(|s| s.status)
                    .find(|s| *s != Status::Passed)
                    .unwrap_or(Status::Passed);
                let status = match worst {
                    Status::Passed => TestCaseStatus::success(),
                    Status::Skipped | Status::Interrupted => {
                        let mut s = TestCaseStatus::skipped();
                        s.set_message(if worst == Status::Interrupted {
                            "interrupted"
                        } else {
                            "not run: an earlier step failed"
                        });
                        s
                    }
                    Status::Failed | Status::Error => {
                        let kind = if worst == Status::Failed {
                            NonSuccessKind::Failure
                        } else {
                            NonSuccessKind::Error
                        };
                        let mut s = TestCaseStatus::non_success(kind);
                        let bad = steps.iter().find(|s| s.status == worst);
                        if let Some(bad) = bad {
                            s.set_message(format!(
                                "step {} ({}): {}",
                                bad.number,
                                bad.label,
                                bad.message.clone().unwrap_or_default()
                            ));
                        }
                        s
                    }
                };
                let mut case = TestCase::new(name, status);
                let seconds: f64 = steps.iter().map(|s| s.seconds).sum();
                case.set_time(std::time::Duration::from_secs_f64(seconds.max(0.0)));
                case.set_classname(report.scenario.clone());
                if matches!(worst, Status::Failed | Status::Error) {
                    if let Some(f) = &report.failure {
                        case.set_system_out(format!(
                            "node {}: the console's last lines:\n{}",
                            f.node.clone().unwrap_or_default(),
                            f.console_tail
                        ));
                    }
                }
                suite.add_test_case(case);
            }
            all.add_test_suite(suite);
        }
        all.to_string()
    }
}
