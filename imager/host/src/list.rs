//! The one list of what piimage needs from the system (`scripts/requirements.txt`, compiled
//! in), parsed into rows. install.sh reads the same file.

use std::fmt;

/// The text of the list, as committed.
pub const LIST: &str = include_str!("../../../scripts/requirements.txt");

/// Who needs a row: one of piimage's commands, or the project's own tests and benchmarks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Need {
    Bake,
    Flash,
    BaseBuild,
    Test,
    Tests,
    Bench,
}

impl Need {
    /// piimage's own commands, whose readiness sets doctor's exit code.
    pub const COMMANDS: [Need; 4] = [Need::Bake, Need::Flash, Need::BaseBuild, Need::Test];
    /// The developers' jobs, reported but not counted in doctor's exit code.
    pub const DEVELOPER: [Need; 2] = [Need::Tests, Need::Bench];

    pub fn name(self) -> &'static str {
        match self {
            Need::Bake => "bake",
            Need::Flash => "flash",
            Need::BaseBuild => "base-build",
            Need::Test => "test",
            Need::Tests => "tests",
            Need::Bench => "bench",
        }
    }

    /// How a person calls it.
    pub fn label(self) -> &'static str {
        match self {
            Need::Bake => "piimage bake",
            Need::Flash => "piimage flash",
            Need::BaseBuild => "piimage base build",
            Need::Test => "piimage test",
            Need::Tests => "the test suite",
            Need::Bench => "the benchmarks",
        }
    }

    fn parse(word: &str) -> Option<Need> {
        [
            Need::Bake,
            Need::Flash,
            Need::BaseBuild,
            Need::Test,
            Need::Tests,
            Need::Bench,
        ]
        .into_iter()
        .find(|n| n.name() == word)
    }
}

impl fmt::Display for Need {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Where install.sh takes a package from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Suite {
    Bookworm,
    BookwormBackports,
}

impl Suite {
    pub fn name(self) -> &'static str {
        match self {
            Suite::Bookworm => "bookworm",
            Suite::BookwormBackports => "bookworm-backports",
        }
    }
}

/// One thing a row provides.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(tag = "kind", content = "name", rename_all = "kebab-case")]
pub enum Provides {
    /// A program, by name (searched on PATH and the sbin directories) or by absolute path.
    Program(String),
    /// A binfmt_misc entry (e.g. qemu-aarch64), which must be enabled with the F flag.
    Binfmt(String),
    /// A file that must exist, by absolute path: what is used but never run, such as a
    /// Python module another program imports.
    File(String),
}

impl Provides {
    pub fn name(&self) -> &str {
        match self {
            Provides::Program(p) | Provides::Binfmt(p) | Provides::File(p) => p,
        }
    }
}

/// One row of the list.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Requirement {
    pub provides: Vec<Provides>,
    pub package: String,
    pub suite: Suite,
    /// The lowest package version that works, in Debian's version order.
    pub min_version: Option<String>,
    pub needed_by: Vec<Need>,
    pub why: String,
    /// 1-based line in the list.
    #[serde(skip)]
    pub line: usize,
}

impl Requirement {
    pub fn needed_by(&self, need: Need) -> bool {
        self.needed_by.contains(&need)
    }
}

#[derive(Debug, thiserror::Error)]
#[error("scripts/requirements.txt:{line}: {detail}")]
pub struct ListError {
    pub line: usize,
    pub detail: String,
}

/// Parses a list in the format of `scripts/requirements.txt`.
pub fn parse(text: &str) -> Result<Vec<Requirement>, ListError> {
    let mut rows = Vec::new();
    for (index, raw) in text.lines().enumerate() {
        let line = index + 1;
        let content = raw.trim();
        if content.is_empty() || content.starts_with('#') {
            continue;
        }
        let err = |detail: String| ListError { line, detail };
        let mut rest = content;
        let mut field =
            |name: &str| take_word(&mut rest).ok_or_else(|| err(format!("no {name} column")));
        let programs = field("programs")?;
        let package = field("package")?.to_string();
        let suite = field("suite")?;
        let min = field("min")?;
        let needed = field("needed-by")?;
        let why = rest.trim().to_string();
        if why.is_empty() {
            return Err(err("no why column".into()));
        }
        let provides = programs
            .split(',')
            .map(|p| {
                if let Some(entry) = p.strip_prefix("binfmt:") {
                    Ok(Provides::Binfmt(entry.to_string()))
                } else if let Some(path) = p.strip_prefix("file:") {
                    if path.starts_with('/') {
                        Ok(Provides::File(path.to_string()))
                    } else {
                        Err(err(format!("file:{path} is not an absolute path")))
                    }
                } else {
                    Ok(Provides::Program(p.to_string()))
                }
            })
            .collect::<Result<Vec<_>, _>>()?;
        let suite = match suite {
            "bookworm" => Suite::Bookworm,
            "bookworm-backports" => Suite::BookwormBackports,
            other => return Err(err(format!("unknown suite {other:?}"))),
        };
        let min_version = match min {
            "-" => None,
            v => {
                v.parse::<debversion::Version>()
                    .map_err(|e| err(format!("min version {v:?}: {e}")))?;
                Some(v.to_string())
            }
        };
        let needed_by = needed
            .split(',')
            .map(|w| Need::parse(w).ok_or_else(|| err(format!("unknown user {w:?} in needed-by"))))
            .collect::<Result<Vec<_>, _>>()?;
        rows.push(Requirement {
            provides,
            package,
            suite,
            min_version,
            needed_by,
            why,
            line,
        });
    }
    Ok(rows)
}

/// The next space-separated word of `rest`, which moves past it.
fn take_word<'a>(rest: &mut &'a str) -> Option<&'a str> {
    let text = rest.trim_start();
    let end = text.find(char::is_whitespace).unwrap_or(text.len());
    let (word, tail) = text.split_at(end);
    *rest = tail;
    (!word.is_empty()).then_some(word)
}

/// The committed list. Its parse is checked by a unit test, so an error here is a build of
/// a broken tree, reported rather than panicking.
pub fn requirements() -> Result<Vec<Requirement>, ListError> {
    parse(LIST)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_committed_list_parses_and_names_each_program_once() {
        let rows = requirements().unwrap();
        assert!(rows.len() > 20);
        let mut seen = std::collections::HashSet::new();
        for row in &rows {
            for p in &row.provides {
                assert!(
                    seen.insert(p.name().to_string()),
                    "{} listed twice",
                    p.name()
                );
            }
        }
        let arch_test = rows.iter().find(|r| r.package == "arch-test").unwrap();
        assert!(arch_test.needed_by(Need::BaseBuild));
        let qemu = rows
            .iter()
            .find(|r| r.package == "qemu-system-arm")
            .unwrap();
        assert_eq!(qemu.suite, Suite::BookwormBackports);
        assert_eq!(qemu.min_version.as_deref(), Some("1:7.2"));
    }

    #[test]
    fn bad_rows_name_their_line() {
        let e = parse("# c\nfoo foo sid - bake why\n").unwrap_err();
        assert_eq!(e.line, 2);
        assert!(e.to_string().contains("unknown suite \"sid\""), "{e}");
        let e = parse("foo foo bookworm - cook why\n").unwrap_err();
        assert!(e.to_string().contains("unknown user \"cook\""), "{e}");
        let e = parse("foo foo bookworm\n").unwrap_err();
        assert!(e.to_string().contains("no min column"), "{e}");
    }

    #[test]
    fn why_keeps_its_spaces_and_binfmt_rows_are_entries() {
        let rows = parse("binfmt:qemu-aarch64,qemu-aarch64-static  qemu-user-static  bookworm-backports  1:10.0  base-build  runs   arm64\n").unwrap();
        assert_eq!(
            rows[0].provides,
            vec![
                Provides::Binfmt("qemu-aarch64".into()),
                Provides::Program("qemu-aarch64-static".into())
            ]
        );
        assert_eq!(rows[0].why, "runs   arm64");
        assert_eq!(rows[0].min_version.as_deref(), Some("1:10.0"));
    }

    #[test]
    fn file_rows_name_absolute_paths_only() {
        let rows = parse("file:/usr/lib/python3/dist-packages/yaml/__init__.py  python3-yaml  bookworm  -  tests  cloud-init's YAML\n").unwrap();
        assert_eq!(
            rows[0].provides,
            vec![Provides::File(
                "/usr/lib/python3/dist-packages/yaml/__init__.py".into()
            )]
        );
        let e = parse("file:yaml.py  python3-yaml  bookworm  -  tests  x\n").unwrap_err();
        assert!(e.to_string().contains("not an absolute path"), "{e}");
    }
}
