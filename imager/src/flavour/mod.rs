//! OS flavours: which system an image holds, and how that system reads its configuration
//! (where the boot partition is mounted, which network stack, where logs go). Detection is
//! pure: it looks at `/etc/os-release` and a few marker files, read by the caller.

mod debian;
mod hypriot;
mod raspios;

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum FlavourId {
    RaspiosBullseye,
    RaspiosBookworm,
    RaspiosTrixie,
    Hypriot,
    /// piimage's own base (`builtin:debian-…`).
    Builtin,
    Debian,
    Unknown,
}

/// How a flavour brings up its network: the file that bake writes and inspect reads first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum NetworkStack {
    /// `/etc/dhcpcd.conf` (Raspberry Pi OS up to bullseye).
    Dhcpcd,
    /// Keyfiles in `/etc/NetworkManager/system-connections/` (bookworm).
    NetworkManager,
    /// cloud-init `network-config` (netplan v2) on the boot partition (trixie, HypriotOS).
    CloudInit,
    /// `/etc/network/interfaces` (plain Debian without a manager).
    Ifupdown,
    /// `/etc/systemd/network/*.network`.
    Networkd,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Flavour {
    pub id: FlavourId,
    /// As a person would say it: "Raspberry Pi OS (bookworm)".
    pub name: String,
    pub codename: Option<String>,
    /// Where the running system mounts the FAT boot partition.
    pub boot_mount: &'static str,
    pub network: NetworkStack,
    /// True when the system logs to the journal only (no `/var/log/auth.log`).
    pub journal_only: bool,
}

/// What detection looks at, read from the image by the caller.
#[derive(Debug, Default, Clone)]
pub struct Evidence {
    pub os_release: Option<String>,
    pub has_rpi_issue: bool,
    pub has_builtin_marker: bool,
    pub has_network_manager: bool,
    pub has_networkd_config: bool,
}

/// Paths detection wants to know about (relative to the root filesystem).
pub const OS_RELEASE: &str = "/etc/os-release";
pub const RPI_ISSUE: &str = "/etc/rpi-issue";
pub const BUILTIN_MARKER: &str = "/etc/piimage-base";

/// Reads the evidence from a mounted root filesystem and detects its flavour.
pub fn detect_in(fs: &mut dyn crate::fs::Filesystem) -> crate::Result<Flavour> {
    let os_release = fs
        .read_if_exists(OS_RELEASE)?
        .map(|b| String::from_utf8_lossy(&b).into_owned());
    let evidence = Evidence {
        os_release,
        has_rpi_issue: fs.stat(RPI_ISSUE)?.is_some(),
        has_builtin_marker: fs.stat(BUILTIN_MARKER)?.is_some(),
        has_network_manager: fs
            .stat("/etc/NetworkManager/NetworkManager.conf")?
            .is_some(),
        has_networkd_config: fs
            .read_dir("/etc/systemd/network")
            .is_ok_and(|names| !names.is_empty()),
    };
    Ok(detect(&evidence))
}

pub fn detect(evidence: &Evidence) -> Flavour {
    let release = evidence
        .os_release
        .as_deref()
        .map(parse_os_release)
        .unwrap_or_default();
    let field = |key: &str| {
        release
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.clone())
    };
    let codename = field("VERSION_CODENAME");
    if evidence.has_builtin_marker {
        return debian::builtin(codename);
    }
    if let Some(version) = field("HYPRIOT_IMAGE_VERSION")
        .or_else(|| field("HYPRIOT_OS_VERSION"))
        .or_else(|| field("HYPRIOT_OS"))
    {
        return hypriot::flavour(codename, version);
    }
    if evidence.has_rpi_issue {
        if let Some(flavour) = codename.as_deref().and_then(raspios::for_codename) {
            return flavour;
        }
    }
    match field("ID").as_deref() {
        Some("debian" | "raspbian") => debian::plain(codename, evidence),
        _ => Flavour {
            id: FlavourId::Unknown,
            name: field("PRETTY_NAME").unwrap_or_else(|| "unknown system".into()),
            codename,
            boot_mount: "/boot",
            network: NetworkStack::Ifupdown,
            journal_only: false,
        },
    }
}

/// `KEY=value` lines of os-release, quotes removed.
pub fn parse_os_release(text: &str) -> Vec<(String, String)> {
    text.lines()
        .filter_map(|line| line.split_once('='))
        .map(|(k, v)| {
            (
                k.trim().to_string(),
                v.trim().trim_matches('"').trim_matches('\'').to_string(),
            )
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn evidence(os_release: &str, rpi: bool) -> Evidence {
        Evidence {
            os_release: Some(os_release.into()),
            has_rpi_issue: rpi,
            ..Evidence::default()
        }
    }

    #[test]
    fn detects_each_flavour() {
        let bookworm = "ID=debian\nVERSION_CODENAME=bookworm\n";
        assert_eq!(
            detect(&evidence(bookworm, true)).id,
            FlavourId::RaspiosBookworm
        );
        assert_eq!(
            detect(&evidence("ID=raspbian\nVERSION_CODENAME=bullseye\n", true)).id,
            FlavourId::RaspiosBullseye
        );
        assert_eq!(
            detect(&evidence("ID=debian\nVERSION_CODENAME=trixie\n", true)).id,
            FlavourId::RaspiosTrixie
        );
        assert_eq!(
            detect(&evidence(
                "ID=raspbian\nHYPRIOT_OS=\"HypriotOS/armhf\"\n",
                false
            ))
            .id,
            FlavourId::Hypriot
        );
        assert_eq!(detect(&evidence(bookworm, false)).id, FlavourId::Debian);
        let builtin = Evidence {
            has_builtin_marker: true,
            ..evidence(bookworm, false)
        };
        assert_eq!(detect(&builtin).id, FlavourId::Builtin);
        assert_eq!(detect(&Evidence::default()).id, FlavourId::Unknown);
    }
}
