//! Login users (root and uid 1000–59999) from `/etc/passwd` and `/etc/group`, their
//! authorized SSH keys as fingerprints, and users that cloud-init will create at first boot.

use std::str::FromStr;

use serde::Serialize;
use serde_yaml_ng::Value;

use super::{text, BootFiles};
use crate::error::Result;
use crate::fs::Filesystem;

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct User {
    pub name: String,
    pub uid: Option<u32>,
    pub groups: Vec<String>,
    pub home: Option<String>,
    pub shell: Option<String>,
    pub authorized_keys: Vec<AuthorizedKey>,
    /// `/etc/passwd`, or `boot:/user-data` for a user cloud-init creates at first boot.
    pub source: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AuthorizedKey {
    pub algorithm: String,
    /// `SHA256:…`, as `ssh-keygen -lf` prints it.
    pub fingerprint: String,
    pub comment: String,
}

pub(super) fn read(fs: &mut dyn Filesystem, boot: &BootFiles) -> Result<Vec<User>> {
    let passwd = text(fs, "/etc/passwd")?.unwrap_or_default();
    let group = text(fs, "/etc/group")?.unwrap_or_default();
    let mut users = Vec::new();
    for line in passwd.lines() {
        let fields: Vec<&str> = line.split(':').collect();
        let [name, _, uid, gid, _, home, shell] = fields[..] else {
            continue;
        };
        let Ok(uid) = uid.parse::<u32>() else {
            continue;
        };
        if uid != 0 && !(1000..60000).contains(&uid) {
            continue;
        }
        let keys_path = format!("{}/.ssh/authorized_keys", home.trim_end_matches('/'));
        let authorized_keys = match fs.read_if_exists(&keys_path) {
            Ok(Some(bytes)) => fingerprints(&String::from_utf8_lossy(&bytes)),
            _ => vec![],
        };
        users.push(User {
            name: name.into(),
            uid: Some(uid),
            groups: groups_of(&group, name, gid),
            home: Some(home.into()),
            shell: Some(shell.into()),
            authorized_keys,
            source: "/etc/passwd".into(),
        });
    }
    if let Some(Value::Sequence(list)) = boot.user_data.as_ref().and_then(|u| u.get("users")) {
        for entry in list {
            let Some(name) = entry.get("name").and_then(Value::as_str) else {
                continue;
            };
            let keys = entry
                .get("ssh_authorized_keys")
                .or_else(|| entry.get("ssh-authorized-keys"));
            let keys: Vec<String> = keys
                .and_then(Value::as_sequence)
                .into_iter()
                .flatten()
                .filter_map(|k| k.as_str().map(str::to_string))
                .collect();
            let groups = match entry.get("groups") {
                Some(Value::String(s)) => s
                    .split(',')
                    .map(|g| g.trim().to_string())
                    .filter(|g| !g.is_empty())
                    .collect(),
                Some(Value::Sequence(items)) => items
                    .iter()
                    .filter_map(|g| g.as_str().map(str::to_string))
                    .collect(),
                _ => vec![],
            };
            users.push(User {
                name: name.into(),
                uid: None,
                groups,
                home: None,
                shell: entry
                    .get("shell")
                    .and_then(Value::as_str)
                    .map(str::to_string),
                authorized_keys: fingerprints(&keys.join("\n")),
                source: "boot:/user-data".into(),
            });
        }
    }
    Ok(users)
}

/// Fingerprints of the host keys sshd will offer (`/etc/ssh/ssh_host_*_key.pub`).
pub(super) fn host_keys(fs: &mut dyn Filesystem) -> Result<Vec<AuthorizedKey>> {
    let mut keys = Vec::new();
    if fs.stat("/etc/ssh")?.is_none() {
        return Ok(keys);
    }
    for name in fs.read_dir("/etc/ssh")? {
        if name.starts_with("ssh_host_") && name.ends_with("_key.pub") {
            if let Some(body) = text(fs, &format!("/etc/ssh/{name}"))? {
                keys.extend(fingerprints(&body));
            }
        }
    }
    Ok(keys)
}

/// The names of the groups `user` is in: the primary one (by gid) and every member list.
fn groups_of(group_file: &str, user: &str, primary_gid: &str) -> Vec<String> {
    let mut out = Vec::new();
    for line in group_file.lines() {
        let fields: Vec<&str> = line.split(':').collect();
        let [name, _, gid, members] = fields[..] else {
            continue;
        };
        if gid == primary_gid || members.split(',').any(|m| m == user) {
            out.push(name.to_string());
        }
    }
    out
}

/// Fingerprints of the keys in an `authorized_keys` text; unparsable lines are skipped.
pub fn fingerprints(text: &str) -> Vec<AuthorizedKey> {
    text.lines()
        .filter(|l| !l.trim().is_empty() && !l.trim_start().starts_with('#'))
        .filter_map(|line| ssh_key::authorized_keys::Entry::from_str(line.trim()).ok())
        .map(|entry| {
            let key = entry.public_key();
            AuthorizedKey {
                algorithm: key.algorithm().as_str().to_string(),
                fingerprint: key.fingerprint(ssh_key::HashAlg::Sha256).to_string(),
                comment: key.comment().to_string(),
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fingerprint_matches_ssh_keygen() {
        // `ssh-keygen -lf` prints this fingerprint for this key.
        let keys = fingerprints("# admins\nssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIMiF2hsK1ujjRrK37hRaSEsdmtJHPWMfzAtxZy7FnZxn teacher@lab\nnot a key\n");
        assert_eq!(keys.len(), 1);
        assert_eq!(keys[0].algorithm, "ssh-ed25519");
        assert_eq!(keys[0].comment, "teacher@lab");
        assert_eq!(
            keys[0].fingerprint,
            "SHA256:Dxskk+2pq9awXVtARc2kSyA4H++gf/RMclW5xbQSWOg"
        );
    }

    #[test]
    fn groups_include_primary_and_memberships() {
        let group = "root:x:0:\nsudo:x:27:pi\npi:x:1000:\nvideo:x:44:pi,other\n";
        assert_eq!(groups_of(group, "pi", "1000"), ["sudo", "pi", "video"]);
    }
}
