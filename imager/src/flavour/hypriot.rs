//! HypriotOS 1.x: Raspbian with Docker preinstalled, configured by cloud-init `user-data`
//! and `network-config` on the FAT boot partition (dhcpcd is masked there).

use super::{Flavour, FlavourId, NetworkStack};

pub(super) fn flavour(codename: Option<String>, version: String) -> Flavour {
    Flavour {
        id: FlavourId::Hypriot,
        name: format!("HypriotOS ({version})"),
        codename,
        boot_mount: "/boot",
        network: NetworkStack::CloudInit,
        journal_only: false,
    }
}
