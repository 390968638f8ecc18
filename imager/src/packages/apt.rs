//! apt, run on the host against the base's world instead of the host's: its architecture,
//! its dpkg status and its sources (or the inventory's), in a private state folder, so no
//! root is needed and the host's own apt state is never touched.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::{Error, Result};

/// One private apt world: `DIR/etc` (sources, trusted keys), `DIR/lists`, `DIR/archives`.
pub struct Apt {
    dir: PathBuf,
    architecture: String,
    status: PathBuf,
}

/// What `apt-get -s install` says it would do to one package.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    Install {
        name: String,
        version: String,
        architecture: String,
    },
    Remove {
        name: String,
    },
}

impl Apt {
    /// A world in `dir` with `sources` (file name → text, under sources.list.d) and `trusted`
    /// keys (file name → bytes, under trusted.gpg.d); `status` is the base's dpkg status.
    pub fn new(
        dir: &Path,
        architecture: &str,
        status: &str,
        sources: &[(String, String)],
        trusted: &[(String, Vec<u8>)],
    ) -> Result<Apt> {
        let io = |p: &Path, e| Error::io(p, e);
        for sub in [
            "etc/sources.list.d",
            "etc/trusted.gpg.d",
            "lists/partial",
            "archives/partial",
        ] {
            let d = dir.join(sub);
            std::fs::create_dir_all(&d).map_err(|e| io(&d, e))?;
        }
        let write = |path: PathBuf, bytes: &[u8]| {
            std::fs::write(&path, bytes).map_err(|e| Error::io(&path, e))
        };
        // Only what this run names: a second resolution with other sources starts clean.
        for sub in ["etc/sources.list.d", "etc/trusted.gpg.d"] {
            let d = dir.join(sub);
            for entry in std::fs::read_dir(&d).map_err(|e| io(&d, e))?.flatten() {
                let _ = std::fs::remove_file(entry.path());
            }
        }
        for (name, text) in sources {
            write(dir.join("etc/sources.list.d").join(name), text.as_bytes())?;
        }
        for (name, bytes) in trusted {
            write(dir.join("etc/trusted.gpg.d").join(name), bytes)?;
        }
        let status_path = dir.join("status");
        write(status_path.clone(), status.as_bytes())?;
        Ok(Apt {
            dir: dir.to_path_buf(),
            architecture: architecture.to_string(),
            status: status_path,
        })
    }

    fn options(&self) -> Vec<String> {
        let d = |sub: &str| self.dir.join(sub).display().to_string();
        [
            format!("Dir::Etc::SourceList={}", d("etc/none.list")),
            format!("Dir::Etc::SourceParts={}", d("etc/sources.list.d")),
            // What the base trusts (its trusted.gpg.d), never what this machine does.
            format!("Dir::Etc::TrustedParts={}", d("etc/trusted.gpg.d")),
            "Dir::Etc::Trusted=/dev/null".into(),
            "Dir::Etc::Preferences=/dev/null".into(),
            "Dir::Etc::PreferencesParts=/dev/null".into(),
            format!("Dir::State={}", d("state")),
            format!("Dir::State::Lists={}", d("lists")),
            format!("Dir::State::status={}", self.status.display()),
            format!("Dir::Cache={}", d("cache")),
            format!("Dir::Cache::archives={}", d("archives")),
            format!("Dir::Log={}", d("log")),
            format!("APT::Architecture={}", self.architecture),
            format!("APT::Architectures={}", self.architecture),
            "APT::Install-Recommends=false".into(),
            "APT::Get::List-Cleanup=true".into(),
            "Debug::NoLocking=true".into(),
            // Downloads land in our folder, which apt's _apt user may not be able to enter.
            "APT::Sandbox::User=root".into(),
        ]
        .into_iter()
        .flat_map(|o| ["-o".to_string(), o])
        .collect()
    }

    fn run(&self, step: &str, args: &[&str]) -> Result<std::process::Output> {
        std::fs::create_dir_all(self.dir.join("state"))
            .and_then(|_| std::fs::create_dir_all(self.dir.join("log")))
            .map_err(|e| Error::io(&self.dir, e))?;
        Command::new("apt-get")
            .args(self.options())
            .args(["-q", "-y"])
            .args(args)
            .env("LC_ALL", "C.UTF-8")
            .env("DEBIAN_FRONTEND", "noninteractive")
            .output()
            .map_err(|e| Error::Apt {
                step: step.into(),
                detail: format!("apt-get could not be run: {e} (install apt: scripts/install.sh)"),
            })
    }

    /// Fetches the sources' indexes; an unreachable or broken source is an error.
    pub fn update(&self) -> Result<()> {
        let out = self.run("update", &["update"])?;
        let stderr = String::from_utf8_lossy(&out.stderr);
        let errors = apt_errors(&stderr);
        // apt-get update says `W: Failed to fetch` and goes on with old indexes: not here.
        let failed: Vec<&str> = stderr
            .lines()
            .filter(|l| l.starts_with("W: Failed to fetch") || l.starts_with("E: "))
            .collect();
        if !out.status.success() || !failed.is_empty() {
            return Err(Error::Apt {
                step: "update".into(),
                detail: if failed.is_empty() {
                    errors
                } else {
                    failed.join("; ")
                },
            });
        }
        Ok(())
    }

    /// What installing `specs` onto the base would do, or apt's reason why it cannot.
    pub fn simulate(&self, specs: &[String]) -> std::result::Result<Vec<Action>, String> {
        let mut args = vec!["-s", "install"];
        args.extend(specs.iter().map(String::as_str));
        let out = self.run("install -s", &args).map_err(|e| e.to_string())?;
        if !out.status.success() {
            let stdout = String::from_utf8_lossy(&out.stdout);
            let unmet: Vec<&str> = stdout
                .lines()
                .skip_while(|l| !l.contains("have unmet dependencies"))
                .skip(1)
                .take_while(|l| l.starts_with(' '))
                .map(str::trim)
                .collect();
            let mut reason = apt_errors(&String::from_utf8_lossy(&out.stderr));
            if !unmet.is_empty() {
                reason = format!("{reason} ({})", unmet.join("; "));
            }
            return Err(reason);
        }
        Ok(parse_simulation(&String::from_utf8_lossy(&out.stdout)))
    }

    /// Downloads the packages `specs` needs; returns each file by the name apt gives it
    /// (a `file:` source's packages are read where they are: apt does not copy them).
    pub fn download(&self, specs: &[String]) -> Result<Vec<(String, PathBuf)>> {
        let fail = |out: &std::process::Output| Error::Apt {
            step: "download".into(),
            detail: apt_errors(&String::from_utf8_lossy(&out.stderr)),
        };
        let mut args = vec!["--print-uris", "install"];
        args.extend(specs.iter().map(String::as_str));
        let uris = self.run("download", &args)?;
        if !uris.status.success() {
            return Err(fail(&uris));
        }
        args[0] = "--download-only";
        let out = self.run("download", &args)?;
        if !out.status.success() {
            return Err(fail(&out));
        }
        let archives = self.dir.join("archives");
        Ok(String::from_utf8_lossy(&uris.stdout)
            .lines()
            .filter_map(|l| {
                let mut words = l.split_whitespace();
                let uri = words.next()?.trim_matches('\'');
                let name = words.next()?.to_string();
                let local = uri
                    .strip_prefix("file:")
                    .map(|p| PathBuf::from(percent_decoded(p.trim_start_matches("//"))))
                    .filter(|p| p.is_file())
                    .unwrap_or_else(|| archives.join(&name));
                Some((name, local))
            })
            .collect())
    }

    /// The architectures the sources' Release files offer (empty for flat repositories
    /// without one): to say "the mirror has no armhf" rather than "no such package".
    pub fn offered_architectures(&self) -> Vec<String> {
        let mut out = Vec::new();
        let Ok(entries) = std::fs::read_dir(self.dir.join("lists")) else {
            return out;
        };
        for entry in entries.flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            if !(name.ends_with("_Release") || name.ends_with("_InRelease")) {
                continue;
            }
            let text = std::fs::read_to_string(entry.path()).unwrap_or_default();
            if let Some(line) = text.lines().find_map(|l| l.strip_prefix("Architectures:")) {
                out.extend(line.split_whitespace().map(str::to_string));
            }
        }
        out.sort();
        out.dedup();
        out
    }
}

fn percent_decoded(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' && i + 2 < bytes.len() {
            if let Ok(b) = u8::from_str_radix(&text[i + 1..i + 3], 16) {
                out.push(b);
                i += 3;
                continue;
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// apt's `E:` lines, joined; its whole output when it printed none.
fn apt_errors(stderr: &str) -> String {
    let errors: Vec<&str> = stderr
        .lines()
        .filter_map(|l| l.strip_prefix("E: "))
        .collect();
    if errors.is_empty() {
        stderr.trim().to_string()
    } else {
        errors.join("; ")
    }
}

/// `Inst NAME [OLD] (VERSION RELEASE… [ARCH])` and `Remv NAME [VERSION]` lines.
fn parse_simulation(stdout: &str) -> Vec<Action> {
    stdout
        .lines()
        .filter_map(|line| {
            if let Some(rest) = line.strip_prefix("Remv ") {
                let name = rest.split_whitespace().next()?;
                return Some(Action::Remove {
                    name: name.to_string(),
                });
            }
            let rest = line.strip_prefix("Inst ")?;
            let name = rest.split_whitespace().next()?.to_string();
            let paren = &rest[rest.find('(')? + 1..rest.rfind(')')?];
            let version = paren.split_whitespace().next()?.to_string();
            let architecture = paren
                .rsplit_once('[')
                .map(|(_, a)| a.trim_end_matches(']').to_string())
                .unwrap_or_default();
            Some(Action::Install {
                name,
                version,
                architecture,
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_what_apt_would_install_and_remove() {
        let out = "NOTE: This is only a simulation!\nInst liblua5.3-0 (5.3.6-2 Debian:12.8/stable [arm64])\nInst haproxy [2.6.11-1] (2.6.12-1+deb12u1 Debian-Security:12/stable-security [arm64])\nRemv docker-ce [18.06.3~ce~3-0~raspbian]\nConf haproxy (2.6.12-1+deb12u1 Debian-Security:12/stable-security [arm64])\n";
        assert_eq!(
            parse_simulation(out),
            [
                Action::Install {
                    name: "liblua5.3-0".into(),
                    version: "5.3.6-2".into(),
                    architecture: "arm64".into()
                },
                Action::Install {
                    name: "haproxy".into(),
                    version: "2.6.12-1+deb12u1".into(),
                    architecture: "arm64".into()
                },
                Action::Remove {
                    name: "docker-ce".into()
                },
            ]
        );
    }
}
