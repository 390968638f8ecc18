//! The one model of change: a list of small, serialisable file operations, each applied to a
//! named filesystem of the image. Plans produce them; `Image::apply` carries them out.

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::fs::{Attrs, Filesystem};

/// Which filesystem of the image an operation edits.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Target {
    /// The FAT boot partition (firmware, `config.txt`, `cmdline.txt`, cloud-init seeds).
    Boot,
    /// The ext4 root filesystem.
    Root,
}

impl Target {
    pub fn describe(self) -> &'static str {
        match self {
            Target::Boot => "FAT boot",
            Target::Root => "ext4 root",
        }
    }
}

/// File content: text as it is, or bytes as base64.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Content {
    Text(String),
    Base64 {
        base64: String,
    },
    /// A file on this machine (a cached `.deb`), read when applied and checked against its
    /// SHA-256, so a plan names large files without holding them.
    HostFile {
        host_file: std::path::PathBuf,
        sha256: String,
    },
}

impl Content {
    pub fn bytes(&self) -> Result<Vec<u8>> {
        use base64::Engine;
        match self {
            Content::Text(text) => Ok(text.as_bytes().to_vec()),
            Content::Base64 { base64 } => base64::engine::general_purpose::STANDARD
                .decode(base64)
                .map_err(|e| Error::Invalid {
                    what: "base64 content".into(),
                    detail: e.to_string(),
                }),
            Content::HostFile { host_file, sha256 } => {
                use sha2::Digest;
                let bytes = std::fs::read(host_file).map_err(|e| Error::io(host_file, e))?;
                let actual = hex::encode(sha2::Sha256::digest(&bytes));
                if &actual != sha256 {
                    return Err(Error::Invalid {
                        what: host_file.display().to_string(),
                        detail: format!("its SHA-256 is {actual}, not the {sha256} it was planned with (the cache changed: bake again)"),
                    });
                }
                Ok(bytes)
            }
        }
    }
}

impl From<&str> for Content {
    fn from(text: &str) -> Content {
        Content::Text(text.to_string())
    }
}

/// A mode written as an octal string ("0644") in files, a number in memory.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Mode(pub u32);

impl TryFrom<String> for Mode {
    type Error = String;

    fn try_from(text: String) -> Result<Mode, String> {
        u32::from_str_radix(text.trim_start_matches("0o"), 8)
            .ok()
            .filter(|m| *m <= 0o7777)
            .map(Mode)
            .ok_or_else(|| format!("mode {text:?} is not an octal permission mode like \"0644\""))
    }
}

impl From<Mode> for String {
    fn from(mode: Mode) -> String {
        format!("{:04o}", mode.0)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Owner {
    pub uid: u32,
    pub gid: u32,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case", deny_unknown_fields)]
pub enum FileOp {
    /// Create or replace a file (missing parent directories are created, 0755 root).
    Write {
        fs: Target,
        path: String,
        content: Content,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        mode: Option<Mode>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        owner: Option<Owner>,
    },
    /// Add to the end of a file (created if missing).
    Append {
        fs: Target,
        path: String,
        content: Content,
    },
    /// `mkdir -p`.
    Mkdir {
        fs: Target,
        path: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        mode: Option<Mode>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        owner: Option<Owner>,
    },
    /// A symbolic link at `path` to `target` (replacing what is there).
    Symlink {
        fs: Target,
        path: String,
        target: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        owner: Option<Owner>,
    },
    /// `rm -rf path`; nothing there is fine.
    Remove { fs: Target, path: String },
    Chmod {
        fs: Target,
        path: String,
        mode: Mode,
    },
    Chown {
        fs: Target,
        path: String,
        owner: Owner,
    },
    /// Set a file's modification time (seconds since the epoch).
    Touch {
        fs: Target,
        path: String,
        mtime: i64,
    },
    /// Edit the kernel command line (`cmdline.txt` on the boot partition): `set` adds or
    /// replaces `key=value` / flag arguments, `remove` drops arguments by key.
    Cmdline {
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        set: Vec<String>,
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        remove: Vec<String>,
    },
    /// Ensure lines in `config.txt` under a section (`all` unless named): a `key=value` line
    /// replaces that key's line in the section; other lines are added once.
    ConfigTxt {
        #[serde(default = "all_section")]
        section: String,
        lines: Vec<String>,
    },
}

fn all_section() -> String {
    "all".to_string()
}

impl FileOp {
    pub fn target(&self) -> Target {
        match self {
            FileOp::Write { fs, .. }
            | FileOp::Append { fs, .. }
            | FileOp::Mkdir { fs, .. }
            | FileOp::Symlink { fs, .. }
            | FileOp::Remove { fs, .. }
            | FileOp::Chmod { fs, .. }
            | FileOp::Chown { fs, .. }
            | FileOp::Touch { fs, .. } => *fs,
            FileOp::Cmdline { .. } | FileOp::ConfigTxt { .. } => Target::Boot,
        }
    }

    pub fn name(&self) -> &'static str {
        match self {
            FileOp::Write { .. } => "write",
            FileOp::Append { .. } => "append",
            FileOp::Mkdir { .. } => "mkdir",
            FileOp::Symlink { .. } => "symlink",
            FileOp::Remove { .. } => "remove",
            FileOp::Chmod { .. } => "chmod",
            FileOp::Chown { .. } => "chown",
            FileOp::Touch { .. } => "touch",
            FileOp::Cmdline { .. } => "cmdline",
            FileOp::ConfigTxt { .. } => "config_txt",
        }
    }

    pub fn path(&self) -> &str {
        match self {
            FileOp::Write { path, .. }
            | FileOp::Append { path, .. }
            | FileOp::Mkdir { path, .. }
            | FileOp::Symlink { path, .. }
            | FileOp::Remove { path, .. }
            | FileOp::Chmod { path, .. }
            | FileOp::Chown { path, .. }
            | FileOp::Touch { path, .. } => path,
            FileOp::Cmdline { .. } => CMDLINE,
            FileOp::ConfigTxt { .. } => CONFIG_TXT,
        }
    }

    pub fn apply(&self, fs: &mut dyn Filesystem) -> Result<()> {
        let owner = |o: &Option<Owner>| o.map(|o| (o.uid, o.gid));
        match self {
            FileOp::Write {
                path,
                content,
                mode,
                owner: who,
                ..
            } => fs.write_file(
                path,
                &content.bytes()?,
                Attrs {
                    mode: mode.map(|m| m.0),
                    owner: owner(who),
                },
            ),
            FileOp::Append { path, content, .. } => fs.append_file(path, &content.bytes()?),
            FileOp::Mkdir {
                path,
                mode,
                owner: who,
                ..
            } => fs.create_dir_all(
                path,
                Attrs {
                    mode: mode.map(|m| m.0),
                    owner: owner(who),
                },
            ),
            FileOp::Symlink {
                path,
                target,
                owner: who,
                ..
            } => fs.symlink(path, target, owner(who)),
            FileOp::Remove { path, .. } => fs.remove(path),
            FileOp::Chmod { path, mode, .. } => fs.set_mode(path, mode.0),
            FileOp::Chown { path, owner, .. } => fs.set_owner(path, owner.uid, owner.gid),
            FileOp::Touch { path, mtime, .. } => fs.set_mtime(path, *mtime),
            FileOp::Cmdline { set, remove } => {
                let old = fs.read_if_exists(CMDLINE)?.unwrap_or_default();
                let new = edit_cmdline(&String::from_utf8_lossy(&old), set, remove);
                fs.write_file(CMDLINE, new.as_bytes(), Attrs::default())
            }
            FileOp::ConfigTxt { section, lines } => {
                let old = fs.read_if_exists(CONFIG_TXT)?.unwrap_or_default();
                let new = edit_config_txt(&String::from_utf8_lossy(&old), section, lines);
                fs.write_file(CONFIG_TXT, new.as_bytes(), Attrs::default())
            }
        }
    }
}

pub const CMDLINE: &str = "/cmdline.txt";
pub const CONFIG_TXT: &str = "/config.txt";

fn arg_key(arg: &str) -> &str {
    arg.split_once('=').map_or(arg, |(k, _)| k)
}

/// `cmdline.txt` is one line of space-separated arguments; the firmware reads nothing after
/// the first newline, so the result is always exactly one line.
pub fn edit_cmdline(old: &str, set: &[String], remove: &[String]) -> String {
    let first_line = old.lines().next().unwrap_or("");
    let mut args: Vec<String> = first_line
        .split_whitespace()
        .filter(|a| !remove.iter().any(|r| arg_key(a) == arg_key(r)))
        .map(str::to_string)
        .collect();
    for new in set {
        match args.iter_mut().find(|a| arg_key(a) == arg_key(new)) {
            Some(existing) => existing.clone_from(new),
            None => args.push(new.clone()),
        }
    }
    format!("{}\n", args.join(" "))
}

/// Sets lines in a `[section]` of `config.txt`. A `key=value` line replaces that key wherever
/// the section sets it (for `all`, also in the lines before the first header); other lines
/// are added once, at the end of the section's last block (a new block if there is none).
pub fn edit_config_txt(old: &str, section: &str, lines: &[String]) -> String {
    let mut out: Vec<String> = old.lines().map(str::to_string).collect();
    let header = format!("[{section}]");
    let is_header = |l: &str| l.trim_start().starts_with('[');
    // The blocks of the section, as [start, end) line ranges.
    let mut blocks: Vec<(usize, usize)> = Vec::new();
    if section == "all" {
        blocks.push((
            0,
            out.iter().position(|l| is_header(l)).unwrap_or(out.len()),
        ));
    }
    for (i, l) in out.iter().enumerate() {
        if l.trim() == header {
            let end = out[i + 1..]
                .iter()
                .position(|l| is_header(l))
                .map_or(out.len(), |p| i + 1 + p);
            blocks.push((i + 1, end));
        }
    }
    if blocks.is_empty() {
        if out.last().is_some_and(|l| !l.trim().is_empty()) {
            out.push(String::new());
        }
        out.push(header);
        blocks.push((out.len(), out.len()));
    }
    for line in lines {
        let key = line.split_once('=').map(|(k, _)| k.trim());
        let matches = |l: &String| match key {
            Some(k) => l.split_once('=').is_some_and(|(lk, _)| lk.trim() == k),
            None => l.trim() == line.trim(),
        };
        let found = blocks
            .iter()
            .find_map(|&(s, e)| out[s..e].iter().position(matches).map(|i| s + i));
        match found {
            Some(i) => out[i].clone_from(line),
            None => {
                let (_, end) = *blocks.last().unwrap_or(&(0, 0));
                // Keep a trailing blank line (if any) after the inserted line.
                let mut at = end;
                while at > 0
                    && at > blocks.last().map_or(0, |b| b.0)
                    && out[at - 1].trim().is_empty()
                {
                    at -= 1;
                }
                out.insert(at, line.clone());
                if let Some(last) = blocks.last_mut() {
                    last.1 += 1;
                }
            }
        }
    }
    let mut text = out.join("\n");
    text.push('\n');
    text
}

/// Why an operations file was refused: which operation (0-based; messages count from 1)
/// and on which line, if known.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}{message}", where_(*.index, *.line))]
pub struct OpsError {
    pub index: Option<usize>,
    pub line: Option<usize>,
    pub message: String,
}

fn where_(index: Option<usize>, line: Option<usize>) -> String {
    match (index, line) {
        (Some(i), Some(l)) => format!("line {l}: operation {}: ", i + 1),
        (Some(i), None) => format!("operation {}: ", i + 1),
        (None, Some(l)) => format!("line {l}: "),
        (None, None) => String::new(),
    }
}

/// Reads a file-operation list from YAML or JSON text (JSON is YAML). Each item is checked
/// on its own, so an error names the operation and the line it starts on.
pub fn parse_ops(text: &str) -> Result<Vec<FileOp>, OpsError> {
    let items: Vec<serde_yaml_ng::Value> = serde_yaml_ng::from_str(text).map_err(|e| {
        let (place, message) = crate::yaml_error::describe(&e);
        OpsError {
            index: None,
            line: place.map(|(line, _)| line),
            message,
        }
    })?;
    let starts = item_lines(text);
    items
        .into_iter()
        .enumerate()
        .map(|(i, item)| {
            serde_yaml_ng::from_value(item).map_err(|e| OpsError {
                index: Some(i),
                line: starts.get(i).copied(),
                message: crate::yaml_error::describe(&e).1,
            })
        })
        .collect()
}

/// The line each item of a top-level block sequence starts on (`- ` at column 0).
fn item_lines(text: &str) -> Vec<usize> {
    text.lines()
        .enumerate()
        .filter(|(_, l)| l.starts_with("- ") || *l == "-")
        .map(|(n, _)| n + 1)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cmdline_sets_replaces_and_removes() {
        let old = "console=serial0,115200 console=tty1 root=PARTUUID=x-02 rootwait quiet\n";
        let new = edit_cmdline(
            old,
            &["cgroup_enable=memory".into(), "root=PARTUUID=y-02".into()],
            &["quiet".into()],
        );
        // Repeated keys (console) stay as they are; only the first match of a set key changes.
        assert_eq!(new, "console=serial0,115200 console=tty1 root=PARTUUID=y-02 rootwait cgroup_enable=memory\n");
    }

    #[test]
    fn cmdline_is_one_line_even_from_many() {
        assert_eq!(
            edit_cmdline("a b\nignored\n", &["c".into()], &[]),
            "a b c\n"
        );
    }

    #[test]
    fn config_txt_section_edits() {
        let old = "dtparam=audio=on\n\n[cm4]\notg_mode=1\n\n[all]\narm_64bit=1\n";
        let new = edit_config_txt(old, "all", &["arm_64bit=0".into(), "enable_uart=1".into()]);
        assert_eq!(
            new,
            "dtparam=audio=on\n\n[cm4]\notg_mode=1\n\n[all]\narm_64bit=0\nenable_uart=1\n"
        );
        let new = edit_config_txt("a=1\n", "pi4", &["dtoverlay=disable-bt".into()]);
        assert_eq!(new, "a=1\n\n[pi4]\ndtoverlay=disable-bt\n");
        let again = edit_config_txt(&new, "pi4", &["dtoverlay=disable-bt".into()]);
        assert_eq!(again, new, "setting a line twice changes nothing");
    }

    #[test]
    fn ops_parse_from_yaml_and_refuse_unknown_keys() {
        let ops = parse_ops(
            "- { op: write, fs: root, path: /etc/hostname, content: \"p1\\n\", mode: \"0644\" }\n",
        )
        .unwrap();
        assert_eq!(ops[0].target(), Target::Root);
        let err = parse_ops("- { op: mkdir, fs: root, path: /a }\n- { op: write, fs: root, path: /x, content: a, colour: red }").unwrap_err();
        assert_eq!((err.index, err.line), (Some(1), Some(2)));
        assert!(err.message.starts_with("unknown field `colour`"), "{err}");
        assert!(parse_ops("- { op: chmod, fs: root, path: /x, mode: \"999\" }").is_err());
        let err = parse_ops("- [unclosed").unwrap_err();
        assert_eq!(err.index, None);
        assert!(err.line.is_some(), "{err}");
    }
}
