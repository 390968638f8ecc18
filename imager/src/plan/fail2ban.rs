//! fail2ban: `/etc/fail2ban/jail.local` (overlays/fail2ban/jail.local) with the log backend
//! the flavour has: `systemd` where logs go to the journal only (bookworm, trixie, the
//! built-in base), `auto` where `/var/log/auth.log` exists. fail2ban enabled.

use serde_json::json;

use super::{enable_installed, root_file, Context};
use crate::error::Result;
use crate::fileop::FileOp;

pub(super) fn ops(cx: &Context) -> Result<Vec<FileOp>> {
    let Some(f2b) = &cx.node.fail2ban else {
        return Ok(Vec::new());
    };
    let backend = if cx.flavour.journal_only {
        "systemd"
    } else {
        "auto"
    };
    let mut jails = Vec::new();
    for (name, jail) in [("sshd", &f2b.sshd), ("recidive", &f2b.recidive)] {
        if let Some(j) = jail {
            jails.push(json!({ "name": name, "maxretry": j.maxretry, "bantime": j.bantime, "findtime": j.findtime }));
        }
    }
    let mut ops = vec![root_file(
        "/etc/fail2ban/jail.local",
        cx.templates.render(
            "fail2ban/jail.local",
            json!({ "backend": backend, "jails": jails }),
        )?,
        0o644,
    )];
    ops.extend(enable_installed(cx, "fail2ban.service")?);
    Ok(ops)
}
