//! Raspberry Pi OS: bullseye (dhcpcd, boot at /boot), bookworm (NetworkManager, boot at
//! /boot/firmware), trixie (cloud-init seeds on the boot partition).

use super::{Flavour, FlavourId, NetworkStack};

pub(super) fn for_codename(codename: &str) -> Option<Flavour> {
    let (id, boot_mount, network, journal_only) = match codename {
        "bullseye" => (
            FlavourId::RaspiosBullseye,
            "/boot",
            NetworkStack::Dhcpcd,
            false,
        ),
        "bookworm" => (
            FlavourId::RaspiosBookworm,
            "/boot/firmware",
            NetworkStack::NetworkManager,
            true,
        ),
        "trixie" => (
            FlavourId::RaspiosTrixie,
            "/boot/firmware",
            NetworkStack::CloudInit,
            true,
        ),
        _ => return None,
    };
    Some(Flavour {
        id,
        name: format!("Raspberry Pi OS ({codename})"),
        codename: Some(codename.to_string()),
        boot_mount,
        network,
        journal_only,
    })
}
