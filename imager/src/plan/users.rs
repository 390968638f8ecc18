//! Users as `adduser` would make them: `/etc/passwd`, `/etc/group`, `/etc/shadow` and
//! `/etc/gshadow` rewritten from the base's (accounts.rs), a home for each new user, and
//! their authorized keys (`~/.ssh` 0700, `authorized_keys` 0600). The same on every flavour;
//! where Raspberry Pi OS's first-boot user wizard is enabled, it is switched off.

use super::accounts::Accounts;
use super::{root_file, Context};
use crate::error::Result;
use crate::fileop::{Content, FileOp, Mode, Owner, Target};

/// The operations, and the accounts as they are after them (files may be owned by a user
/// made here).
pub(super) fn ops(cx: &Context) -> Result<(Vec<FileOp>, Accounts)> {
    let node = cx.node;
    let mut ops = Vec::new();
    let mut accounts = cx.facts.accounts.clone();
    let days = cx.epoch.0.div_euclid(86_400);
    // A plaintext password (allowed only with allow_plaintext_password) is baked hashed.
    let users: Vec<crate::inventory::User> = node
        .users
        .iter()
        .map(|u| match &u.plaintext_password {
            Some(plain) => Ok(crate::inventory::User {
                password_hash: Some(cx.secret.password_hash(&node.name, &u.name, plain)?),
                plaintext_password: None,
                ..u.clone()
            }),
            None => Ok(u.clone()),
        })
        .collect::<Result<_>>()?;
    // Groups the packages' maintainer scripts will make on the card exist now, as system
    // groups, for the users who join them.
    for group in cx
        .facts
        .packages
        .iter()
        .flat_map(|r| &r.debs)
        .flat_map(|d| &d.groups)
    {
        if users.iter().any(|u| u.groups.contains(group)) {
            accounts.ensure_system_group(group);
        }
    }
    let made = accounts.ensure(&users, days)?;
    if !node.users.is_empty() && cx.facts.first_boot.wizard_enabled {
        // userconf-pi's wizard would ask at the console for a user and rename uid 1000 at
        // first boot; the inventory has said who the users are.
        ops.push(FileOp::Remove {
            fs: Target::Root,
            path: crate::first_boot::WIZARD_LINK.into(),
        });
    }
    if !node.users.is_empty() {
        let shadow_owner = Some(Owner {
            uid: 0,
            gid: shadow_gid(&accounts.group),
        });
        ops.push(root_file("/etc/passwd", accounts.passwd.clone(), 0o644));
        ops.push(root_file("/etc/group", accounts.group.clone(), 0o644));
        ops.push(FileOp::Write {
            fs: Target::Root,
            path: "/etc/shadow".into(),
            content: Content::Text(accounts.shadow.clone()),
            mode: Some(Mode(0o640)),
            owner: shadow_owner,
        });
        if let Some(gs) = &accounts.gshadow {
            ops.push(FileOp::Write {
                fs: Target::Root,
                path: "/etc/gshadow".into(),
                content: Content::Text(gs.clone()),
                mode: Some(Mode(0o640)),
                owner: shadow_owner,
            });
        }
    }
    for (user, account) in node.users.iter().zip(&made) {
        let owner = Some(Owner {
            uid: account.uid,
            gid: account.gid,
        });
        if account.created {
            ops.push(FileOp::Mkdir {
                fs: Target::Root,
                path: account.home.clone(),
                mode: Some(Mode(0o755)),
                owner,
            });
        }
        if !user.ssh_authorized_keys.is_empty() {
            ops.push(FileOp::Mkdir {
                fs: Target::Root,
                path: format!("{}/.ssh", account.home),
                mode: Some(Mode(0o700)),
                owner,
            });
            let keys: String = user
                .ssh_authorized_keys
                .iter()
                .map(|k| format!("{}\n", k.trim()))
                .collect();
            ops.push(FileOp::Write {
                fs: Target::Root,
                path: format!("{}/.ssh/authorized_keys", account.home),
                content: Content::Text(keys),
                mode: Some(Mode(0o600)),
                owner,
            });
        }
    }
    Ok((ops, accounts))
}

/// The shadow group's id in `group` (0 when the base has none, as on minimal systems).
fn shadow_gid(group: &str) -> u32 {
    group
        .lines()
        .find_map(|l| l.strip_prefix("shadow:x:"))
        .and_then(|rest| rest.split(':').next()?.parse().ok())
        .unwrap_or(0)
}
