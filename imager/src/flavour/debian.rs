//! Debian: piimage's built-in base (systemd-networkd, journal only) and plain Debian images
//! (whatever network stack they carry).

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
