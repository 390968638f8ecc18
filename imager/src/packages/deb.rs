//! What a `.deb` will put on the card, read on the host without dpkg: its control fields,
//! the systemd units it ships (so bake can configure and enable them before they exist), and
//! the system groups its maintainer scripts make (so users can join them at bake).
//! A .deb is an `ar` archive of `control.tar.*` and `data.tar.*` (deb(5)).

use std::io::Read;

use serde::{Deserialize, Serialize};

use crate::{Error, Result};

/// A unit the package installs: name, path as the system sees it, text.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ShippedUnit {
    pub name: String,
    pub path: String,
    pub text: String,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DebFacts {
    pub package: String,
    pub version: String,
    pub architecture: String,
    pub units: Vec<ShippedUnit>,
    /// Groups `addgroup --system` / `groupadd -r` / sysusers.d would make.
    pub groups: Vec<String>,
}

const UNIT_DIRS: [&str; 2] = ["lib/systemd/system/", "usr/lib/systemd/system/"];

/// A .deb's facts from its bytes; `what` names it in errors.
pub fn read(bytes: &[u8], what: &str) -> Result<DebFacts> {
    let bad = |detail: String| Error::Invalid {
        what: format!("package file {what}"),
        detail,
    };
    let mut archive = ar::Archive::new(bytes);
    let mut facts = DebFacts::default();
    let mut scripts = String::new();
    let mut sysusers = String::new();
    while let Some(entry) = archive.next_entry() {
        let mut entry = entry.map_err(|e| bad(e.to_string()))?;
        let name = String::from_utf8_lossy(entry.header().identifier()).into_owned();
        let name = name.trim_end_matches('/').to_string();
        let mut member = Vec::new();
        entry
            .read_to_end(&mut member)
            .map_err(|e| bad(e.to_string()))?;
        let Some((kind, compression)) = name.split_once(".tar") else {
            continue;
        };
        let tar_bytes =
            decompress(compression, &member).map_err(|e| bad(format!("{name}: {e}")))?;
        let mut tar = tar::Archive::new(tar_bytes.as_slice());
        for item in tar.entries().map_err(|e| bad(e.to_string()))? {
            let mut item = item.map_err(|e| bad(e.to_string()))?;
            if item.header().entry_type() != tar::EntryType::Regular {
                continue;
            }
            let inner = item
                .path()
                .map_err(|e| bad(e.to_string()))?
                .to_string_lossy()
                .trim_start_matches("./")
                .to_string();
            let mut text = String::new();
            let wanted = match kind {
                "control" => ["control", "preinst", "postinst"].contains(&inner.as_str()),
                "data" => {
                    UNIT_DIRS
                        .iter()
                        .any(|d| inner.starts_with(d) && is_unit(&inner[d.len()..]))
                        || (inner.starts_with("usr/lib/sysusers.d/") && inner.ends_with(".conf"))
                }
                _ => false,
            };
            if !wanted {
                continue;
            }
            item.read_to_string(&mut text)
                .map_err(|e| bad(format!("{inner}: {e}")))?;
            match (kind, inner.as_str()) {
                ("control", "control") => {
                    let field = |key: &str| {
                        text.lines()
                            .find_map(|l| l.strip_prefix(key)?.strip_prefix(':'))
                            .map(|v| v.trim().to_string())
                            .unwrap_or_default()
                    };
                    facts.package = field("Package");
                    facts.version = field("Version");
                    facts.architecture = field("Architecture");
                }
                ("control", _) => scripts.push_str(&text),
                (_, p) if p.starts_with("usr/lib/sysusers.d/") => sysusers.push_str(&text),
                _ => {
                    let name = inner.rsplit('/').next().unwrap_or_default().to_string();
                    facts.units.push(ShippedUnit {
                        name,
                        path: format!("/{inner}"),
                        text,
                    });
                }
            }
        }
    }
    if facts.package.is_empty() {
        return Err(bad("no control file with a Package field".into()));
    }
    facts.groups = system_groups(&scripts, &sysusers);
    facts.units.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(facts)
}

fn is_unit(name: &str) -> bool {
    !name.contains('/')
        && [".service", ".socket", ".timer", ".path", ".target"]
            .iter()
            .any(|k| name.ends_with(k))
}

fn decompress(compression: &str, bytes: &[u8]) -> std::io::Result<Vec<u8>> {
    let mut out = Vec::new();
    match compression {
        "" => out.extend_from_slice(bytes),
        ".xz" => {
            liblzma::read::XzDecoder::new(bytes).read_to_end(&mut out)?;
        }
        ".zst" => {
            zstd::stream::read::Decoder::new(bytes)?.read_to_end(&mut out)?;
        }
        ".gz" => {
            flate2::read::GzDecoder::new(bytes).read_to_end(&mut out)?;
        }
        other => {
            return Err(std::io::Error::other(format!(
                "compression `{other}` is not one dpkg-deb writes"
            )))
        }
    }
    Ok(out)
}

/// The groups maintainer scripts make as system groups (`addgroup --system NAME`,
/// `groupadd -r NAME` / `--system`) and sysusers.d's `g NAME` lines.
fn system_groups(scripts: &str, sysusers: &str) -> Vec<String> {
    let mut groups = Vec::new();
    for line in scripts.lines() {
        let words: Vec<&str> = line
            .split(|c: char| c.is_whitespace() || c == ';')
            .filter(|w| !w.is_empty())
            .collect();
        for (i, w) in words.iter().enumerate() {
            let tool = w.rsplit('/').next().unwrap_or(w);
            if tool != "addgroup" && tool != "groupadd" {
                continue;
            }
            let args: Vec<&str> = words[i + 1..]
                .iter()
                .take_while(|a| !["&&", "||", "|", ">", "2>&1", ">/dev/null"].contains(a))
                .copied()
                .collect();
            let system = args.iter().any(|a| *a == "--system" || *a == "-r");
            if let Some(name) = args
                .iter()
                .rev()
                .find(|a| !a.starts_with('-') && !a.starts_with('>'))
            {
                if system
                    && name
                        .chars()
                        .all(|c| c.is_ascii_alphanumeric() || "_-".contains(c))
                {
                    groups.push(name.to_string());
                }
            }
        }
    }
    for line in sysusers.lines() {
        let mut words = line.split_whitespace();
        if let (Some("g" | "u"), Some(name)) = (words.next(), words.next()) {
            groups.push(name.to_string());
        }
    }
    groups.sort();
    groups.dedup();
    groups
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn tar_of(files: &[(&str, &str)]) -> Vec<u8> {
        let mut b = tar::Builder::new(Vec::new());
        for (path, text) in files {
            let mut h = tar::Header::new_gnu();
            h.set_size(text.len() as u64);
            h.set_mode(0o644);
            h.set_cksum();
            b.append_data(&mut h, path, text.as_bytes()).unwrap();
        }
        b.into_inner().unwrap()
    }

    /// A .deb as dpkg-deb lays it out: debian-binary, control.tar.gz, data.tar.xz.
    fn deb(control: &[(&str, &str)], data: &[(&str, &str)]) -> Vec<u8> {
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        gz.write_all(&tar_of(control)).unwrap();
        let control = gz.finish().unwrap();
        let mut xz = liblzma::write::XzEncoder::new(Vec::new(), 6);
        xz.write_all(&tar_of(data)).unwrap();
        let data = xz.finish().unwrap();
        let mut ar = ar::Builder::new(Vec::new());
        for (name, bytes) in [
            ("debian-binary", b"2.0\n".to_vec()),
            ("control.tar.gz", control),
            ("data.tar.xz", data),
        ] {
            let header = ar::Header::new(name.as_bytes().to_vec(), bytes.len() as u64);
            ar.append(&header, bytes.as_slice()).unwrap();
        }
        ar.into_inner().unwrap()
    }

    #[test]
    fn reads_fields_units_and_groups_out_of_a_deb() {
        let bytes = deb(
            &[
                (
                    "./control",
                    "Package: docker.io\nVersion: 20.10.24+dfsg1-1\nArchitecture: armhf\n",
                ),
                ("./postinst", "#!/bin/sh\naddgroup --system docker\n"),
            ],
            &[
                (
                    "./lib/systemd/system/docker.service",
                    "[Service]\nExecStart=/usr/sbin/dockerd -H fd://\n",
                ),
                ("./lib/systemd/system/docker.socket", "[Socket]\n"),
                (
                    "./lib/systemd/system/docker.service.d/x.conf",
                    "not a unit\n",
                ),
                ("./usr/sbin/dockerd", "binary"),
            ],
        );
        let facts = read(&bytes, "docker.io.deb").unwrap();
        assert_eq!(
            (
                facts.package.as_str(),
                facts.version.as_str(),
                facts.architecture.as_str()
            ),
            ("docker.io", "20.10.24+dfsg1-1", "armhf")
        );
        let units: Vec<(&str, &str)> = facts
            .units
            .iter()
            .map(|u| (u.name.as_str(), u.path.as_str()))
            .collect();
        assert_eq!(
            units,
            [
                ("docker.service", "/lib/systemd/system/docker.service"),
                ("docker.socket", "/lib/systemd/system/docker.socket")
            ]
        );
        assert!(facts.units[0].text.contains("-H fd://"));
        assert_eq!(facts.groups, ["docker"]);
        let err = read(b"!<arch>\n", "empty.deb").unwrap_err().to_string();
        assert!(
            err.contains("empty.deb") && err.contains("no control file"),
            "{err}"
        );
    }

    #[test]
    fn system_groups_of_maintainer_scripts_as_debian_writes_them() {
        // docker.io 20.10.24's postinst (Debian bookworm).
        let postinst =
            "if ! getent group docker >/dev/null 2>&1 ; then\n    addgroup --system docker\nfi\n";
        assert_eq!(system_groups(postinst, ""), ["docker"]);
        assert_eq!(
            system_groups(
                "groupadd -r -f gluster 2>&1 || true\naddgroup --quiet mail\n",
                ""
            ),
            ["gluster"],
            "a group that is not --system is a user group, not made here"
        );
        assert_eq!(
            system_groups("", "g haproxy - -\nu haproxy - \"HAProxy\"\n"),
            ["haproxy"]
        );
    }
}
