//! Users and groups, the way `adduser` would leave them: lines in /etc/passwd, /etc/shadow,
//! /etc/group (and /etc/gshadow), uids and gids from 1000 up in the order the inventory
//! lists them. Pure text in, text out.

use crate::error::{Error, Result};
use crate::fileop::Owner;
use crate::inventory::User;

/// The account files of a base image.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Accounts {
    pub passwd: String,
    pub shadow: String,
    pub group: String,
    pub gshadow: Option<String>,
}

/// Where a user lives, once it exists.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Account {
    pub name: String,
    pub uid: u32,
    pub gid: u32,
    pub home: String,
    pub created: bool,
}

fn fields(line: &str) -> Vec<&str> {
    line.split(':').collect()
}

fn ids(text: &str, column: usize) -> Vec<u32> {
    text.lines()
        .filter_map(|l| fields(l).get(column).and_then(|v| v.parse().ok()))
        .collect()
}

fn first_free(used: &[u32]) -> u32 {
    (1000..60000).find(|id| !used.contains(id)).unwrap_or(60000)
}

impl Accounts {
    /// Makes every user exist with its groups and password; returns where each lives.
    /// `days` is the day number stamped as the password's last change.
    pub fn ensure(&mut self, users: &[User], days: i64) -> Result<Vec<Account>> {
        let mut out = Vec::new();
        for user in users {
            if user.plaintext_password.is_some() {
                return Err(Error::Invalid {
                    what: format!("user {}", user.name),
                    detail: "plaintext passwords are not baked yet: give password_hash (mkpasswd -m sha-512)".into(),
                });
            }
            let existing = self
                .passwd
                .lines()
                .map(fields)
                .find(|f| f.first() == Some(&user.name.as_str()) && f.len() >= 7)
                .map(|f| {
                    (
                        f[2].parse::<u32>().unwrap_or(0),
                        f[3].parse::<u32>().unwrap_or(0),
                        f[5].to_string(),
                    )
                });
            let account = match existing {
                Some((uid, gid, home)) => Account {
                    name: user.name.clone(),
                    uid,
                    gid,
                    home,
                    created: false,
                },
                None => {
                    let mut used = ids(&self.passwd, 2);
                    used.extend(ids(&self.group, 2));
                    let id = first_free(&used);
                    let home = format!("/home/{}", user.name);
                    push_line(
                        &mut self.passwd,
                        &format!("{0}:x:{id}:{id}:{0}:{home}:/bin/bash", user.name),
                    );
                    push_line(&mut self.group, &format!("{}:x:{id}:", user.name));
                    if let Some(gs) = self.gshadow.as_mut() {
                        push_line(gs, &format!("{}:!::", user.name));
                    }
                    push_line(
                        &mut self.shadow,
                        &format!("{}:!:{days}:0:99999:7:::", user.name),
                    );
                    Account {
                        name: user.name.clone(),
                        uid: id,
                        gid: id,
                        home,
                        created: true,
                    }
                }
            };
            if let Some(hash) = &user.password_hash {
                self.shadow = replace_field(&self.shadow, &user.name, 1, hash);
                self.shadow = replace_field(&self.shadow, &user.name, 2, &days.to_string());
            }
            for group in &user.groups {
                self.join(group, &user.name);
            }
            out.push(account);
        }
        Ok(out)
    }

    /// `user:group` as numbers, each given by number or by name.
    pub fn owner(&self, spec: &str) -> Option<Owner> {
        let (user, group) = spec.split_once(':')?;
        let id = |text: &str, name: &str, column: usize| -> Option<u32> {
            name.parse().ok().or_else(|| {
                text.lines()
                    .map(fields)
                    .find(|f| f.first() == Some(&name))?
                    .get(column)?
                    .parse()
                    .ok()
            })
        };
        Some(Owner {
            uid: id(&self.passwd, user, 2)?,
            gid: id(&self.group, group, 2)?,
        })
    }

    /// Makes the system group `name` if the base lacks it, as `addgroup --system` in a
    /// package's maintainer script would on the card (gid below 1000, from 999 down like
    /// `groupadd -r`), so that users can join it at bake; the script then finds it made.
    pub fn ensure_system_group(&mut self, name: &str) {
        if self.group.lines().any(|l| fields(l).first() == Some(&name)) {
            return;
        }
        let used = ids(&self.group, 2);
        let gid = (100..1000)
            .rev()
            .find(|id| !used.contains(id))
            .unwrap_or(999);
        push_line(&mut self.group, &format!("{name}:x:{gid}:"));
        if let Some(gs) = self.gshadow.as_mut() {
            push_line(gs, &format!("{name}:!::"));
        }
    }

    /// Adds `user` to `group`, making the group (gid from 1000 up) if the base lacks it.
    fn join(&mut self, group: &str, user: &str) {
        if !self
            .group
            .lines()
            .any(|l| fields(l).first() == Some(&group))
        {
            let mut used = ids(&self.group, 2);
            used.extend(ids(&self.passwd, 3));
            let gid = first_free(&used);
            push_line(&mut self.group, &format!("{group}:x:{gid}:"));
            if let Some(gs) = self.gshadow.as_mut() {
                push_line(gs, &format!("{group}:!::"));
            }
        }
        self.group = add_member(&self.group, group, user, 3);
        if let Some(gs) = self.gshadow.take() {
            self.gshadow = Some(add_member(&gs, group, user, 3));
        }
    }
}

fn push_line(text: &mut String, line: &str) {
    if !text.is_empty() && !text.ends_with('\n') {
        text.push('\n');
    }
    text.push_str(line);
    text.push('\n');
}

fn replace_field(text: &str, name: &str, column: usize, value: &str) -> String {
    map_line(text, name, |f| {
        if let Some(slot) = f.get_mut(column) {
            *slot = value.to_string();
        }
    })
}

fn add_member(text: &str, group: &str, user: &str, column: usize) -> String {
    map_line(text, group, |f| {
        while f.len() <= column {
            f.push(String::new());
        }
        let mut members: Vec<String> = f[column]
            .split(',')
            .filter(|m| !m.is_empty())
            .map(str::to_string)
            .collect();
        if !members.iter().any(|m| m == user) {
            members.push(user.to_string());
        }
        f[column] = members.join(",");
    })
}

fn map_line(text: &str, name: &str, edit: impl Fn(&mut Vec<String>)) -> String {
    let mut out = String::new();
    for line in text.lines() {
        let mut f: Vec<String> = line.split(':').map(str::to_string).collect();
        if f.first().map(String::as_str) == Some(name) {
            edit(&mut f);
        }
        out.push_str(&f.join(":"));
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn user(name: &str, groups: &[&str]) -> User {
        User {
            name: name.into(),
            password_hash: Some("$6$s$h".into()),
            plaintext_password: None,
            allow_plaintext_password: false,
            groups: groups.iter().map(|g| g.to_string()).collect(),
            ssh_authorized_keys: vec![],
        }
    }

    #[test]
    fn creates_users_like_adduser_and_joins_groups() {
        let mut acc = Accounts {
            passwd: "root:x:0:0:root:/root:/bin/bash\nrpi:x:1000:1000:,,,:/home/rpi:/bin/bash\n"
                .into(),
            shadow: "root:*:19000:0:99999:7:::\nrpi:*:19000:0:99999:7:::\n".into(),
            group: "root:x:0:\nsudo:x:27:\nrpi:x:1000:\n".into(),
            gshadow: Some("root:*::\nsudo:*::\nrpi:!::\n".into()),
        };
        let made = acc
            .ensure(
                &[user("pi", &["sudo", "docker"]), user("rpi", &["sudo"])],
                19675,
            )
            .unwrap();
        assert_eq!(
            (
                made[0].uid,
                made[0].gid,
                made[0].home.as_str(),
                made[0].created
            ),
            (1001, 1001, "/home/pi", true)
        );
        assert_eq!((made[1].uid, made[1].created), (1000, false));
        assert!(
            acc.passwd
                .ends_with("pi:x:1001:1001:pi:/home/pi:/bin/bash\n"),
            "{}",
            acc.passwd
        );
        assert!(acc.group.contains("sudo:x:27:pi,rpi\n"), "{}", acc.group);
        let mut sys = acc.clone();
        sys.ensure_system_group("sudo");
        assert_eq!(sys.group, acc.group, "a group the base has stays as it is");
        sys.ensure_system_group("haproxy");
        assert!(sys.group.ends_with("haproxy:x:999:\n"), "{}", sys.group);
        assert!(
            acc.group.contains("docker:x:1002:pi\n"),
            "a missing group is made: {}",
            acc.group
        );
        assert!(
            acc.shadow.contains("pi:$6$s$h:19675:0:99999:7:::"),
            "{}",
            acc.shadow
        );
        assert!(
            acc.shadow.contains("rpi:$6$s$h:19675:0:99999:7:::"),
            "{}",
            acc.shadow
        );
        assert!(acc.gshadow.as_deref().unwrap().contains("sudo:*::pi,rpi\n"));
        assert_eq!(
            acc.owner("pi:docker"),
            Some(Owner {
                uid: 1001,
                gid: 1002
            })
        );
        assert_eq!(acc.owner("0:27"), Some(Owner { uid: 0, gid: 27 }));
        assert_eq!(acc.owner("nobody:sudo"), None);
    }
}
