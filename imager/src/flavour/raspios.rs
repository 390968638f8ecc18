//! Raspberry Pi OS: bullseye (dhcpcd, boot at /boot), bookworm (NetworkManager, boot at
//! /boot/firmware), trixie (cloud-init seeds on the boot partition).
//!
//! Where bake's features land here (the module in `plan/` that writes each):
//!
//! | feature | bullseye | bookworm | trixie |
//! |---|---|---|---|
//! | hostname (`hostname.rs`) | `/etc/hostname`, `/etc/hosts` | same | same, and `hostname:` in the boot partition's `user-data` (`cloud_init.rs`) |
//! | static address (`network.rs`) | appended to `/etc/dhcpcd.conf` | `/etc/NetworkManager/system-connections/IFACE.nmconnection` (0600) | `network-config` + `meta-data` on the boot partition |
//! | users (`users.rs`) | `/etc/passwd`, `shadow`, `group`, `gshadow`, homes, `authorized_keys` | same | same; `user-data` makes no users (`cloud_init.rs`) |
//! | ssh (`ssh.rs`) | sshd drop-in, Ed25519 host key, `ssh_known_hosts`; `regenerate_ssh_host_keys` unlinked | same | same; `ssh_deletekeys: false` in `user-data` |
//! | fail2ban (`fail2ban.rs`) | `jail.local`, backend `auto` (auth.log) | backend `systemd` (journal only) | backend `systemd` |
//! | docker, cron, files, units, boot (`docker.rs`, `cron.rs`, `files.rs`, `units.rs`, `boot.rs`) | the same paths on every flavour | | |

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
