//! HypriotOS 1.x: Raspbian with Docker preinstalled, configured by cloud-init `user-data`
//! and `network-config` on the FAT boot partition (dhcpcd is masked there).
//!
//! Where bake's features land here (the module in `plan/` that writes each):
//!
//! | feature | where |
//! |---|---|
//! | hostname (`hostname.rs`) | `/etc/hostname`, `/etc/hosts`, and `hostname:` + `manage_etc_hosts: false` in the boot partition's `user-data` (`cloud_init.rs`), which cloud-init applies at first boot |
//! | static address (`network.rs`) | `network-config` (netplan v2, `renderer: networkd`) and `meta-data` (a stable `instance-id`) on the boot partition |
//! | users (`users.rs`, `cloud_init.rs`) | `/etc/passwd` and friends; `user-data` gets `users: []`, so the stock `pirate` user is not made |
//! | ssh (`ssh.rs`, `cloud_init.rs`) | sshd drop-in, Ed25519 host key, `ssh_known_hosts`; `ssh_deletekeys: false` and `ssh_pwauth` in `user-data` |
//! | fail2ban (`fail2ban.rs`) | `jail.local`, backend `auto` (`/var/log/auth.log` exists) |
//! | docker, cron, files, units, boot | the same paths as on every flavour |

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
