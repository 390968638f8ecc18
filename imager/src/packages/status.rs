//! dpkg's own record of a root filesystem: `/var/lib/dpkg/status` (which packages are
//! installed, at which version) and the architecture dpkg itself was built for, which is the
//! system's native one (`dpkg --print-architecture`).

/// One installed package.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Installed {
    pub name: String,
    pub version: String,
    pub architecture: String,
}

/// The packages the status file says are installed (`Status: install ok installed`).
pub fn installed(status: &str) -> Vec<Installed> {
    status
        .split("\n\n")
        .filter_map(|stanza| {
            let field = |key: &str| {
                stanza.lines().find_map(|l| {
                    l.strip_prefix(key)
                        .and_then(|r| r.strip_prefix(':'))
                        .map(|v| v.trim().to_string())
                })
            };
            let status = field("Status")?;
            if !status.ends_with(" installed") || !status.starts_with("install ") {
                return None;
            }
            Some(Installed {
                name: field("Package")?,
                version: field("Version")?,
                architecture: field("Architecture").unwrap_or_default(),
            })
        })
        .collect()
}

/// The native architecture: that of the installed `dpkg` package.
pub fn native_architecture(status: &str) -> Option<String> {
    installed(status)
        .into_iter()
        .find(|p| p.name == "dpkg")
        .map(|p| p.architecture)
        .filter(|a| !a.is_empty() && a != "all")
}

#[cfg(test)]
mod tests {
    use super::*;

    const STATUS: &str = "Package: dpkg\nEssential: yes\nStatus: install ok installed\nPriority: required\nArchitecture: armhf\nVersion: 1.21.22\n\nPackage: gone\nStatus: deinstall ok config-files\nArchitecture: armhf\nVersion: 1.0\n\nPackage: python3\nStatus: install ok installed\nArchitecture: armhf\nVersion: 3.11.2-1+b1\nDescription: interactive\n high-level language\n";

    #[test]
    fn reads_what_is_installed_and_the_native_architecture() {
        let names: Vec<String> = installed(STATUS).into_iter().map(|p| p.name).collect();
        assert_eq!(names, ["dpkg", "python3"]);
        assert_eq!(native_architecture(STATUS).as_deref(), Some("armhf"));
        assert_eq!(native_architecture("Package: x\n"), None);
    }
}
