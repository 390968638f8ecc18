//! The list checked against this machine: one finding per row (plus root and free disk),
//! which command each missing piece stops, and the exact command that fixes it. `doctor`
//! prints a whole report; every command's preflight fails with the same lines for its own
//! missing pieces.

use std::collections::HashMap;
use std::fmt;
use std::path::{Path, PathBuf};

use crate::list::{self, ListError, Need, Provides, Requirement, Suite};
use crate::probe::{self, Binfmt};

const GIB: u64 = 1 << 30;
const INSTALL_ALL: &str = "bash scripts/install.sh";

/// What one check found.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(tag = "state", rename_all = "kebab-case")]
pub enum State {
    Ok { detail: String },
    Missing { detail: String },
    TooOld { have: String, need: String },
}

impl State {
    pub fn is_ok(&self) -> bool {
        matches!(self, State::Ok { .. })
    }
}

impl fmt::Display for State {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            State::Ok { detail } => write!(f, "{detail}"),
            State::Missing { detail } => write!(f, "{detail}"),
            State::TooOld { have, need } => write!(f, "version {have} is older than {need}"),
        }
    }
}

#[derive(Debug, Clone, serde::Serialize)]
pub struct Finding {
    /// What was checked: the row's programs, or "root", "free disk …".
    pub what: String,
    /// The Debian package that provides it, where one does.
    pub package: Option<String>,
    pub suite: Option<Suite>,
    pub min_version: Option<String>,
    /// The installed version, where dpkg knows the package.
    pub version: Option<String>,
    #[serde(flatten)]
    pub state: State,
    pub needed_by: Vec<Need>,
    pub why: String,
    /// The command that fixes it, when it is not OK.
    pub fix: Option<String>,
}

impl Finding {
    pub fn blocks(&self, need: Need) -> bool {
        !self.state.is_ok() && self.needed_by.contains(&need)
    }
}

/// Where the checks look; tests point these at fakes.
#[derive(Debug, Clone)]
pub struct Probe {
    pub dpkg_status: PathBuf,
    pub binfmt_dir: PathBuf,
    pub cache_dir: PathBuf,
    pub root: bool,
    /// The machine's architecture (`std::env::consts::ARCH`): arm64 programs need no
    /// emulator on aarch64.
    pub arch: &'static str,
}

impl Probe {
    /// This machine, with the given cache directory.
    pub fn this_machine(cache_dir: &Path) -> Probe {
        Probe {
            dpkg_status: PathBuf::from("/var/lib/dpkg/status"),
            binfmt_dir: PathBuf::from(probe::BINFMT_DIR),
            cache_dir: cache_dir.to_path_buf(),
            root: probe::is_root(),
            arch: std::env::consts::ARCH,
        }
    }
}

/// Free space each command wants in the cache directory.
fn disk_wanted(need: Need) -> Option<u64> {
    match need {
        Need::BaseBuild => Some(8 * GIB),
        Need::Bake | Need::Test => Some(2 * GIB),
        _ => None,
    }
}

#[derive(Debug, Clone, serde::Serialize)]
pub struct Report {
    pub findings: Vec<Finding>,
}

impl Report {
    /// Checks every row of the committed list, root and free disk.
    pub fn check(probe: &Probe) -> Result<Report, ListError> {
        Ok(Report::check_rows(&list::requirements()?, probe))
    }

    pub fn check_rows(rows: &[Requirement], probe: &Probe) -> Report {
        let installed = probe::installed_packages(&probe.dpkg_status);
        let sudo = if probe.root { "" } else { "sudo " };
        let mut findings: Vec<Finding> = rows
            .iter()
            .map(|row| check_row(row, probe, &installed, sudo))
            .collect();
        findings.push(Finding {
            what: "root".into(),
            package: None,
            suite: None,
            min_version: None,
            version: None,
            state: if probe.root {
                State::Ok {
                    detail: "running as root".into(),
                }
            } else {
                State::Missing {
                    detail: "not running as root".into(),
                }
            },
            needed_by: vec![Need::BaseBuild],
            why: "mmdebstrap's root mode (chroot, device nodes, file owners); flash also needs it to open block devices".into(),
            fix: (!probe.root).then(|| "run it as root, e.g. `sudo piimage base build`".to_string()),
        });
        let free = probe::free_bytes(&probe.cache_dir);
        for wanted in [8 * GIB, 2 * GIB] {
            let needed_by: Vec<Need> = Need::COMMANDS
                .into_iter()
                .filter(|n| disk_wanted(*n) == Some(wanted))
                .collect();
            let enough = free.is_some_and(|f| f >= wanted);
            let shown = free.map_or("unknown".to_string(), |f| {
                format!("{:.1} GiB free", f as f64 / GIB as f64)
            });
            findings.push(Finding {
                what: format!(
                    "{} GiB free in {}",
                    wanted / GIB,
                    probe.cache_dir.display()
                ),
                package: None,
                suite: None,
                min_version: None,
                version: None,
                state: if enough {
                    State::Ok { detail: shown }
                } else {
                    State::Missing { detail: shown }
                },
                needed_by,
                why: "decompressed bases, the built-in base's build, baked and booted images".into(),
                fix: (!enough).then(|| {
                    format!(
                        "free space there, or point PIIMAGE_CACHE_DIR (--cache-dir) at a disk with {} GiB free",
                        wanted / GIB
                    )
                }),
            });
        }
        Report { findings }
    }

    /// The pieces that stop `need`.
    pub fn missing_for(&self, need: Need) -> Vec<&Finding> {
        self.findings.iter().filter(|f| f.blocks(need)).collect()
    }

    /// True when every command of piimage has what it needs (doctor's exit 0).
    pub fn commands_ready(&self) -> bool {
        Need::COMMANDS
            .iter()
            .all(|n| self.missing_for(*n).is_empty())
    }

    /// Fails with the doctor's lines for what `need` lacks.
    pub fn require(&self, need: Need) -> Result<(), Unmet> {
        let missing = self.missing_for(need);
        if missing.is_empty() {
            return Ok(());
        }
        Err(Unmet {
            need,
            lines: missing.iter().map(|f| describe(f)).collect(),
        })
    }
}

/// The check every command runs first: what it needs from this machine, all at once.
pub fn preflight(need: Need, cache_dir: &Path) -> Result<(), PreflightError> {
    Report::check(&Probe::this_machine(cache_dir))?.require(need)?;
    Ok(())
}

#[derive(Debug, thiserror::Error)]
pub enum PreflightError {
    #[error(transparent)]
    List(#[from] ListError),
    #[error(transparent)]
    Unmet(#[from] Unmet),
}

/// A command cannot run here: what is missing, why, and how to fix each.
#[derive(Debug, thiserror::Error)]
pub struct Unmet {
    pub need: Need,
    pub lines: Vec<String>,
}

impl fmt::Display for Unmet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "{} needs what this machine lacks:", self.need.label())?;
        for line in &self.lines {
            writeln!(f, "{line}")?;
        }
        write!(
            f,
            "`{INSTALL_ALL}` installs everything piimage needs; `piimage doctor` shows the whole picture"
        )
    }
}

/// A missing piece as doctor and the preflights print it: two lines.
pub fn describe(f: &Finding) -> String {
    let package = f
        .package
        .as_ref()
        .map(|p| format!(" (Debian package {p})"))
        .unwrap_or_default();
    let fix = f.fix.as_deref().unwrap_or("-");
    format!(
        "  ✗ {}{package}: {}; {}\n      fix: {fix}",
        f.what, f.state, f.why
    )
}

fn check_row(
    row: &Requirement,
    probe: &Probe,
    installed: &HashMap<String, String>,
    sudo: &str,
) -> Finding {
    let version = installed.get(&row.package).cloned();
    let install = match row.suite {
        Suite::Bookworm => format!(
            "{sudo}apt-get install --no-install-recommends {}",
            row.package
        ),
        Suite::BookwormBackports => format!(
            "{sudo}apt-get install -t bookworm-backports --no-install-recommends {} (after adding bookworm-backports to apt's sources, as {INSTALL_ALL} does)",
            row.package
        ),
    };
    let mut missing = Vec::new();
    let mut fix = None;
    let mut found = Vec::new();
    for provided in &row.provides {
        match provided {
            Provides::Program(name) => match probe::find_program(name) {
                Some(path) => found.push(path.display().to_string()),
                None => missing.push(format!("`{name}` not found")),
            },
            Provides::File(path) => {
                if std::path::Path::new(path).is_file() {
                    found.push(path.clone());
                } else {
                    missing.push(format!("{path} not found"));
                }
            }
            Provides::Binfmt(entry) => {
                if probe.arch == "aarch64" && entry == "qemu-aarch64" {
                    found.push("not needed: this machine runs arm64 natively".into());
                    continue;
                }
                match binfmt_problem(&probe.binfmt_dir, entry, sudo) {
                    None => found.push(format!("binfmt_misc {entry}")),
                    Some((problem, how)) => {
                        missing.push(problem);
                        fix = Some(how);
                    }
                }
            }
        }
    }
    let too_old = match (&version, &row.min_version) {
        (Some(have), Some(need)) => match (
            have.parse::<debversion::Version>(),
            need.parse::<debversion::Version>(),
        ) {
            (Ok(h), Ok(n)) if h < n => Some(State::TooOld {
                have: have.clone(),
                need: need.clone(),
            }),
            _ => None,
        },
        _ => None,
    };
    let state = if let Some(old) = too_old {
        fix = Some(install.replace("install", "install --only-upgrade"));
        old
    } else if !missing.is_empty() {
        fix = Some(match (fix, version.is_some()) {
            (Some(how), true) => how,
            (Some(how), false) => format!("{install}, then {how}"),
            (None, _) => install,
        });
        State::Missing {
            detail: missing.join(", "),
        }
    } else {
        State::Ok {
            detail: found.join(", "),
        }
    };
    Finding {
        what: row
            .provides
            .iter()
            .map(|p| match p {
                Provides::Program(n) => n.clone(),
                Provides::Binfmt(n) => format!("binfmt_misc {n}"),
                Provides::File(n) => n.clone(),
            })
            .collect::<Vec<_>>()
            .join(", "),
        package: Some(row.package.clone()),
        suite: Some(row.suite),
        min_version: row.min_version.clone(),
        version,
        state,
        needed_by: row.needed_by.clone(),
        why: row.why.clone(),
        fix,
    }
}

/// What is wrong with a binfmt_misc entry, and the command that sets it right.
fn binfmt_problem(dir: &Path, entry: &str, sudo: &str) -> Option<(String, String)> {
    let register = format!(
        "{sudo}sh -c 'cat /usr/lib/binfmt.d/{entry}.conf > {}/register'",
        dir.display()
    );
    match probe::binfmt_entry(dir, entry) {
        Binfmt::Registered { enabled, flags } => {
            if !enabled {
                Some((
                    format!("binfmt_misc {entry} is disabled"),
                    format!("{sudo}sh -c 'echo 1 > {}/{entry}'", dir.display()),
                ))
            } else if !flags.contains('F') {
                Some((
                    format!("binfmt_misc {entry} lacks the F flag (flags: {flags}), so it is not found inside a chroot"),
                    format!("{sudo}sh -c 'echo -1 > {}/{entry}', then {register}", dir.display()),
                ))
            } else {
                None
            }
        }
        Binfmt::NotMounted => Some((
            format!("binfmt_misc is not mounted at {}", dir.display()),
            format!(
                "{sudo}mount -t binfmt_misc binfmt_misc {}, then {register}",
                dir.display()
            ),
        )),
        Binfmt::NotRegistered => Some((format!("no binfmt_misc entry {entry}"), register)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fake_machine(dpkg: &str, binfmt: Option<&str>) -> (tempfile::TempDir, Probe) {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("status"), dpkg).unwrap();
        let binfmt_dir = dir.path().join("binfmt");
        std::fs::create_dir(&binfmt_dir).unwrap();
        if let Some(entry) = binfmt {
            std::fs::write(binfmt_dir.join("status"), "enabled\n").unwrap();
            std::fs::write(binfmt_dir.join("qemu-aarch64"), entry).unwrap();
        }
        let probe = Probe {
            dpkg_status: dir.path().join("status"),
            binfmt_dir,
            cache_dir: dir.path().to_path_buf(),
            root: false,
            arch: "x86_64",
        };
        (dir, probe)
    }

    #[test]
    fn a_missing_program_blocks_its_commands_with_the_apt_command_that_fixes_it() {
        let rows = list::parse(
            "sh  dash  bookworm  -  bake  a shell\n\
             piimage-no-such-tool  arch-test  bookworm  -  base-build,tests  checks arm64 runs\n",
        )
        .unwrap();
        let (_dir, probe) = fake_machine("", None);
        let report = Report::check_rows(&rows, &probe);
        assert!(report.missing_for(Need::Bake).is_empty());
        let missing = report.missing_for(Need::BaseBuild);
        let tool = missing
            .iter()
            .find(|f| f.package.as_deref() == Some("arch-test"))
            .unwrap();
        assert_eq!(
            tool.fix.as_deref(),
            Some("sudo apt-get install --no-install-recommends arch-test")
        );
        let err = report.require(Need::BaseBuild).unwrap_err().to_string();
        assert!(
            err.starts_with("piimage base build needs what this machine lacks:\n"),
            "{err}"
        );
        assert!(err.contains("✗ piimage-no-such-tool (Debian package arch-test): `piimage-no-such-tool` not found; checks arm64 runs"), "{err}");
        assert!(err.contains("✗ root"), "{err}");
        assert!(
            err.ends_with("`piimage doctor` shows the whole picture"),
            "{err}"
        );
    }

    #[test]
    fn an_old_package_is_named_with_both_versions() {
        let rows = list::parse("sh  dash  bookworm  0.6  test  a shell\n").unwrap();
        let (_dir, probe) = fake_machine(
            "Package: dash\nStatus: install ok installed\nVersion: 0.5.12-2\n",
            None,
        );
        let report = Report::check_rows(&rows, &probe);
        assert_eq!(
            report.findings[0].state,
            State::TooOld {
                have: "0.5.12-2".into(),
                need: "0.6".into()
            }
        );
        assert!(!report.commands_ready());
    }

    #[test]
    fn a_binfmt_entry_without_the_f_flag_is_re_registered() {
        let rows = list::parse(
            "binfmt:qemu-aarch64  qemu-user-static  bookworm-backports  -  base-build  arm64\n",
        )
        .unwrap();
        let (_dir, probe) = fake_machine(
            "Package: qemu-user-static\nStatus: install ok installed\nVersion: 1:10.0.2\n",
            Some("enabled\nflags: PO\n"),
        );
        let report = Report::check_rows(&rows, &probe);
        let f = &report.findings[0];
        assert!(f.state.to_string().contains("lacks the F flag"), "{f:?}");
        assert!(f.fix.as_deref().unwrap().contains("echo -1 >"), "{f:?}");
        let (_dir, probe) = fake_machine(
            "Package: qemu-user-static\nStatus: install ok installed\nVersion: 1:10.0.2\n",
            Some("enabled\nflags: POCF\n"),
        );
        assert!(Report::check_rows(&rows, &probe).findings[0].state.is_ok());
        let (_dir, probe) = fake_machine(
            "Package: qemu-user-static\nStatus: install ok installed\nVersion: 1:10.0.2\n",
            Some("disabled\nflags: POCF\n"),
        );
        let f = &Report::check_rows(&rows, &probe).findings[0];
        assert!(f.fix.as_deref().unwrap().contains("echo 1 >"), "{f:?}");
        let (dir, mut probe) = fake_machine(
            "Package: qemu-user-static\nStatus: install ok installed\nVersion: 1:10.0.2\n",
            None,
        );
        std::fs::write(dir.path().join("binfmt/status"), "enabled\n").unwrap();
        probe.root = true;
        let f = &Report::check_rows(&rows, &probe).findings[0];
        assert_eq!(
            f.fix.as_deref(),
            Some(
                "sh -c 'cat /usr/lib/binfmt.d/qemu-aarch64.conf > ".to_string()
                    + &probe.binfmt_dir.display().to_string()
                    + "/register'"
            )
            .as_deref()
        );
        let (_dir, probe) = fake_machine("", None);
        let f = &Report::check_rows(&rows, &probe).findings[0];
        let fix = f.fix.as_deref().unwrap();
        assert!(
            fix.starts_with("sudo apt-get install -t bookworm-backports"),
            "{fix}"
        );
        assert!(fix.contains("mount -t binfmt_misc"), "{fix}");
    }
}
