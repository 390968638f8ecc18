//! The overlays/ templates, compiled in, rendered with minijinja. Undefined variables are
//! errors, so a template and its caller cannot drift apart silently.

use minijinja::{Environment, UndefinedBehavior};
use serde::Serialize;

use crate::error::{Error, Result};

const TEMPLATES: &[(&str, &str)] = &[
    (
        "hostname/hostname",
        include_str!("../../../overlays/hostname/hostname"),
    ),
    (
        "docker/hosts.conf",
        include_str!("../../../overlays/docker/hosts.conf"),
    ),
    (
        "hostname/hosts",
        include_str!("../../../overlays/hostname/hosts"),
    ),
    (
        "network/dhcpcd/static.conf",
        include_str!("../../../overlays/network/dhcpcd/static.conf"),
    ),
    (
        "network/networkmanager/static.nmconnection",
        include_str!("../../../overlays/network/networkmanager/static.nmconnection"),
    ),
    (
        "network/netplan/network-config",
        include_str!("../../../overlays/network/netplan/network-config"),
    ),
    (
        "network/netplan/meta-data",
        include_str!("../../../overlays/network/netplan/meta-data"),
    ),
    (
        "network/ifupdown/static",
        include_str!("../../../overlays/network/ifupdown/static"),
    ),
    (
        "network/networkd/static.network",
        include_str!("../../../overlays/network/networkd/static.network"),
    ),
    (
        "ssh/sshd.conf",
        include_str!("../../../overlays/ssh/sshd.conf"),
    ),
    (
        "ssh/regenerate_ssh_host_keys",
        include_str!("../../../overlays/ssh/regenerate_ssh_host_keys"),
    ),
    (
        "fail2ban/jail.local",
        include_str!("../../../overlays/fail2ban/jail.local"),
    ),
    ("cron/cron.d", include_str!("../../../overlays/cron/cron.d")),
    (
        "packages/piimage-install-packages",
        include_str!("../../../overlays/packages/piimage-install-packages"),
    ),
    (
        "packages/piimage-packages.service",
        include_str!("../../../overlays/packages/piimage-packages.service"),
    ),
    (
        "docker/environment.conf",
        include_str!("../../../overlays/docker/environment.conf"),
    ),
    (
        "keepalived/keepalived.conf",
        include_str!("../../../overlays/keepalived/keepalived.conf"),
    ),
    (
        "gluster/piimage-gluster-peers",
        include_str!("../../../overlays/gluster/piimage-gluster-peers"),
    ),
    (
        "gluster/piimage-gluster-peers.service",
        include_str!("../../../overlays/gluster/piimage-gluster-peers.service"),
    ),
];

pub struct Templates {
    env: Environment<'static>,
}

impl Templates {
    pub fn new() -> Templates {
        let mut env = Environment::new();
        env.set_undefined_behavior(UndefinedBehavior::Strict);
        env.set_keep_trailing_newline(true);
        for (name, source) in TEMPLATES {
            // The sources are ours and compiled in; a syntax error is caught by the tests.
            let _ = env.add_template(name, source);
        }
        Templates { env }
    }

    pub fn render(&self, name: &str, context: impl Serialize) -> Result<String> {
        let fail = |e: minijinja::Error| Error::Invalid {
            what: format!("template overlays/{name}"),
            detail: e.to_string(),
        };
        let text = self
            .env
            .get_template(name)
            .map_err(fail)?
            .render(context)
            .map_err(fail)?;
        // Loops leave blank lines at the end; a file ends with exactly one newline.
        Ok(format!("{}\n", text.trim_end_matches('\n')))
    }
}

impl Default for Templates {
    fn default() -> Templates {
        Templates::new()
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn every_template_compiles() {
        let mut env = minijinja::Environment::new();
        for (name, source) in super::TEMPLATES {
            env.add_template(name, source)
                .unwrap_or_else(|e| panic!("overlays/{name}: {e}"));
        }
    }
}
