//! Many cards at once: a job is one image onto one target; all jobs run together, one thread
//! each, and each ends in its own outcome, so one failing card never stops the others. The
//! caller sees progress through a callback and decides how to show it.

use std::path::PathBuf;
use std::time::Instant;

use super::target::{refusals, Target};
use super::write::{flash, FlashError, Phase, Report};
use imager::usedmap::UsedMap;

/// One image onto one target.
#[derive(Debug, Clone)]
pub struct Job {
    /// What to write on the card's label: the node's name, or the image's file name.
    pub label: String,
    pub image: PathBuf,
    /// The ranges to write, read from the image's filesystems.
    pub map: UsedMap,
    pub target: Target,
}

impl Job {
    /// Bytes this job writes (and reads back when verifying).
    pub fn bytes(&self) -> u64 {
        self.map.data_bytes() + self.map.table_bytes()
    }
}

pub struct Outcome {
    pub label: String,
    pub target: PathBuf,
    pub result: Result<Report, FlashError>,
    pub seconds: f64,
}

/// Why any of `jobs` must not be written, each reason naming its target; empty when all may.
pub fn refused(jobs: &[Job], force: bool) -> Vec<String> {
    jobs.iter()
        .flat_map(|job| {
            refusals(&job.target, job.map.image_len, force)
                .into_iter()
                .map(|why| format!("{}: {why}", job.target.path.display()))
        })
        .collect()
}

/// What each job's thread reports: which job (its index), the phase, bytes done of the phase's
/// total. Called from the jobs' threads; `Done` once at the end of each job.
pub enum Progress<'a> {
    Step {
        job: usize,
        phase: Phase,
        done: u64,
        of: u64,
    },
    Done {
        job: usize,
        result: &'a Result<Report, FlashError>,
    },
}

/// Every job at once, one thread each; outcomes in the jobs' order.
pub fn write_all(
    jobs: Vec<Job>,
    verify: bool,
    progress: &(dyn Fn(Progress) + Sync),
) -> Vec<Outcome> {
    std::thread::scope(|scope| {
        let handles: Vec<_> = jobs
            .into_iter()
            .enumerate()
            .map(|(index, job)| {
                scope.spawn(move || {
                    let started = Instant::now();
                    let result = flash(
                        &job.image,
                        &job.map,
                        &job.target.path,
                        job.target.is_block,
                        verify,
                        &mut |phase, done, of| {
                            progress(Progress::Step {
                                job: index,
                                phase,
                                done,
                                of,
                            })
                        },
                    );
                    progress(Progress::Done {
                        job: index,
                        result: &result,
                    });
                    Outcome {
                        label: job.label,
                        target: job.target.path,
                        result,
                        seconds: started.elapsed().as_secs_f64(),
                    }
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| match h.join() {
                Ok(outcome) => outcome,
                // A panic in a worker is a bug; carry it to the caller's thread as one.
                Err(panic) => std::panic::resume_unwind(panic),
            })
            .collect()
    })
}

#[derive(Debug, thiserror::Error)]
pub enum PairError {
    #[error("{} is named twice", .0.display())]
    NamedTwice(PathBuf),
    #[error("{}: {error}", device.display())]
    Target {
        device: PathBuf,
        error: std::io::Error,
    },
}

/// Each image with its device, in order: every device described (model, size, transport)
/// and named once.
pub fn pair(
    images: Vec<(String, PathBuf, UsedMap)>,
    devices: &[PathBuf],
    system: &super::System,
) -> Result<Vec<Job>, PairError> {
    let mut seen = Vec::new();
    let mut jobs = Vec::new();
    for ((label, image, map), device) in images.into_iter().zip(devices) {
        let canonical = std::fs::canonicalize(device).unwrap_or_else(|_| device.clone());
        if seen.contains(&canonical) {
            return Err(PairError::NamedTwice(device.clone()));
        }
        seen.push(canonical);
        let target = super::inspect(system, device).map_err(|error| PairError::Target {
            device: device.clone(),
            error,
        })?;
        jobs.push(Job {
            label,
            image,
            map,
            target,
        });
    }
    Ok(jobs)
}
