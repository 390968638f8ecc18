//! Scenarios: a YAML file that names an inventory and drives its baked nodes through steps.
//! `file` is the text's shape, `check` the checked steps (with places for every error),
//! `run` the runner, `report` what it found (JSON, JUnit).

pub mod check;
pub mod file;
pub mod report;
pub mod run;
mod spans;

pub use check::{Scenario, ScenarioError, Step, StepKind};
pub use report::{Report, Status};
