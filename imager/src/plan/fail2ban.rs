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
    if backend == "systemd" && !journal_reader_present(cx) {
        return Err(crate::error::Error::Invalid {
            what: format!("node {}", cx.node.name),
            detail: "fail2ban must read the journal on this base (it logs to the journal only, no /var/log/auth.log), which needs python3-systemd, and neither the base nor `packages:` has it: add `python3-systemd` to `packages:` (apt would bring it only as a Recommends of fail2ban, and piimage installs none)".into(),
        });
    }
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

/// Whether fail2ban's systemd backend can load: python3-systemd in the base or among the
/// node's packages. A base whose dpkg status is unknown is trusted.
fn journal_reader_present(cx: &Context) -> bool {
    const READER: &str = "python3-systemd";
    let installed = crate::packages::status::installed(&cx.facts.apt.status);
    installed.is_empty()
        || installed.iter().any(|p| p.name == READER)
        || cx
            .facts
            .packages
            .iter()
            .flat_map(|r| &r.debs)
            .any(|d| d.name == READER)
}
