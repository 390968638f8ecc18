//! Debian: piimage's built-in base (systemd-networkd, journal only) and plain Debian images
//! (whatever network stack they carry).
//!
//! Where bake's features land here (the module in `plan/` that writes each): the static
//! address as a networkd unit `/etc/systemd/network/10-piimage-IFACE.network` with networkd
//! enabled (built-in base; Debian with networkd config), or `/etc/network/interfaces.d/IFACE`
//! (Debian with ifupdown), both in `network.rs`; fail2ban with backend `systemd` on the
//! built-in base (journal only); everything else at the same paths as on every flavour
//! (`hostname.rs`, `users.rs`, `ssh.rs`, `docker.rs`, `cron.rs`, `files.rs`, `units.rs`,
//! `boot.rs`).

use super::{Evidence, Flavour, FlavourId, NetworkStack};

pub(super) fn builtin(codename: Option<String>) -> Flavour {
    Flavour {
        id: FlavourId::Builtin,
        name: format!(
            "piimage built-in Debian ({})",
            codename.as_deref().unwrap_or("unknown")
        ),
        codename,
        boot_mount: "/boot/firmware",
        network: NetworkStack::Networkd,
        journal_only: true,
    }
}

pub(super) fn plain(codename: Option<String>, evidence: &Evidence) -> Flavour {
    let network = if evidence.has_network_manager {
        NetworkStack::NetworkManager
    } else if evidence.has_networkd_config {
        NetworkStack::Networkd
    } else {
        NetworkStack::Ifupdown
    };
    let modern = !matches!(codename.as_deref(), Some("stretch" | "buster" | "bullseye"));
    Flavour {
        id: FlavourId::Debian,
        name: format!("Debian ({})", codename.as_deref().unwrap_or("unknown")),
        codename,
        boot_mount: if modern { "/boot/firmware" } else { "/boot" },
        network,
        journal_only: modern,
    }
}
