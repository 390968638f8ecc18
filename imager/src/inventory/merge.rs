//! `defaults:` merged into each node: a node's own setting wins, per key; labels, network
//! fields, Docker daemon options and environment, keepalived's fields merge one level down, and a node's packages add to the defaults'. No checks here (check/ does them).

use super::model::{Keepalived, Network, Settings};

/// A node's own settings over the defaults: per key, with labels, network fields and Docker
/// daemon options merged one level down.
pub(super) fn merge(defaults: &Settings, own: &Settings) -> Settings {
    let mut labels = defaults.labels.clone();
    labels.extend(own.labels.clone());
    let network = match (&defaults.network, &own.network) {
        (Some(d), Some(o)) => Some(Network {
            interface: o.interface.clone().or_else(|| d.interface.clone()),
            prefix: o.prefix.or(d.prefix),
            gateway: o.gateway.clone().or_else(|| d.gateway.clone()),
            dns: o.dns.clone().or_else(|| d.dns.clone()),
        }),
        (d, o) => o.clone().or_else(|| d.clone()),
    };
    let docker = match (&defaults.docker, &own.docker) {
        (Some(d), Some(o)) => {
            let mut merged = d.clone();
            merged.daemon.extend(o.daemon.clone());
            merged.environment.extend(o.environment.clone());
            merged.tcp = o.tcp.clone().or_else(|| d.tcp.clone());
            Some(merged)
        }
        (d, o) => o.clone().or_else(|| d.clone()),
    };
    let keepalived = match (&defaults.keepalived, &own.keepalived) {
        (Some(d), Some(o)) => Some(Keepalived {
            virtual_ip: o.virtual_ip.clone().or_else(|| d.virtual_ip.clone()),
            priority: o.priority.or(d.priority),
            virtual_router_id: o.virtual_router_id.or(d.virtual_router_id),
            advert_int: o.advert_int.or(d.advert_int),
            preempt: o.preempt.or(d.preempt),
            interface: o.interface.clone().or_else(|| d.interface.clone()),
        }),
        (d, o) => o.clone().or_else(|| d.clone()),
    };
    Settings {
        address: own.address.clone(),
        role: own.role.clone(),
        labels,
        network,
        users: own.users.clone().or_else(|| defaults.users.clone()),
        ssh: own.ssh.clone().or_else(|| defaults.ssh.clone()),
        docker,
        fail2ban: own.fail2ban.clone().or_else(|| defaults.fail2ban.clone()),
        cron: own.cron.clone().or_else(|| defaults.cron.clone()),
        files: own.files.clone().or_else(|| defaults.files.clone()),
        boot: own.boot.clone().or_else(|| defaults.boot.clone()),
        units: own.units.clone().or_else(|| defaults.units.clone()),
        keepalived,
        gluster: own.gluster.clone().or_else(|| defaults.gluster.clone()),
        packages: match (&defaults.packages, &own.packages) {
            (Some(d), Some(o)) => Some(d.iter().chain(o).cloned().collect()),
            (d, o) => o.clone().or_else(|| d.clone()),
        },
    }
}
