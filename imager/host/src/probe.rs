//! Facts read off this machine, without running anything: programs on the search path, the
//! packages dpkg has installed, binfmt_misc entries, who we are, free disk space.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

/// Where programs are looked for: PATH, then the sbin directories a non-root PATH lacks
/// (mke2fs, sfdisk and friends live there).
pub fn search_path() -> String {
    let path = std::env::var("PATH").unwrap_or_default();
    format!("{path}:/usr/local/sbin:/usr/sbin:/sbin")
}

/// The program's full path, if it is there.
pub fn find_program(name: &str) -> Option<PathBuf> {
    if name.starts_with('/') {
        return is_executable(Path::new(name)).then(|| PathBuf::from(name));
    }
    let cwd = std::env::current_dir().unwrap_or_else(|_| PathBuf::from("/"));
    which::which_in(name, Some(search_path()), cwd).ok()
}

fn is_executable(path: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path)
        .map(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
        .unwrap_or(false)
}

/// Installed packages and their versions, from dpkg's status database. Only the fields we
/// need are read: a stanza is installed when its Status ends in "installed".
pub fn installed_packages(status_file: &Path) -> HashMap<String, String> {
    let Ok(text) = std::fs::read_to_string(status_file) else {
        return HashMap::new();
    };
    parse_dpkg_status(&text)
}

fn parse_dpkg_status(text: &str) -> HashMap<String, String> {
    let mut installed = HashMap::new();
    for stanza in text.split("\n\n") {
        let (mut name, mut version, mut ok) = (None, None, false);
        for line in stanza.lines() {
            if let Some(v) = line.strip_prefix("Package:") {
                name = Some(v.trim());
            } else if let Some(v) = line.strip_prefix("Version:") {
                version = Some(v.trim());
            } else if let Some(v) = line.strip_prefix("Status:") {
                ok = v.trim().ends_with(" installed");
            }
        }
        if let (Some(name), Some(version), true) = (name, version, ok) {
            installed.insert(name.to_string(), version.to_string());
        }
    }
    installed
}

/// A binfmt_misc entry as the kernel reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Binfmt {
    /// binfmt_misc is not mounted.
    NotMounted,
    NotRegistered,
    Registered {
        enabled: bool,
        flags: String,
    },
}

pub const BINFMT_DIR: &str = "/proc/sys/fs/binfmt_misc";

pub fn binfmt_entry(dir: &Path, name: &str) -> Binfmt {
    if !dir.join("status").exists() {
        return Binfmt::NotMounted;
    }
    let Ok(text) = std::fs::read_to_string(dir.join(name)) else {
        return Binfmt::NotRegistered;
    };
    Binfmt::Registered {
        enabled: text.lines().any(|l| l.trim() == "enabled"),
        flags: text
            .lines()
            .find_map(|l| l.strip_prefix("flags:"))
            .unwrap_or("")
            .trim()
            .to_string(),
    }
}

pub fn is_root() -> bool {
    // SAFETY: geteuid has no preconditions and cannot fail.
    unsafe { libc::geteuid() == 0 }
}

/// Bytes free to an unprivileged user on the filesystem holding `path` (or its nearest
/// existing parent, since the cache directory may not exist yet).
pub fn free_bytes(path: &Path) -> Option<u64> {
    use std::os::unix::ffi::OsStrExt;
    let existing = path.ancestors().find(|p| p.exists())?;
    let c = std::ffi::CString::new(existing.as_os_str().as_bytes()).ok()?;
    let mut st = std::mem::MaybeUninit::<libc::statvfs>::zeroed();
    // SAFETY: `c` is a valid NUL-terminated path and `st` is writable memory of the right size.
    let rc = unsafe { libc::statvfs(c.as_ptr(), st.as_mut_ptr()) };
    if rc != 0 {
        return None;
    }
    // SAFETY: statvfs returned 0, so it filled `st`.
    let st = unsafe { st.assume_init() };
    Some(st.f_bavail * st.f_frsize)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dpkg_status_keeps_only_installed_packages() {
        let text = "Package: arch-test\nStatus: install ok installed\nVersion: 0.20-1\n\n\
                    Package: mmdebstrap\nStatus: deinstall ok config-files\nVersion: 1.3.5-7\n\n\
                    Package: qemu-system-arm\nStatus: install ok installed\nArchitecture: amd64\nVersion: 1:10.0.2+ds-2~bpo12+1\nDescription: QEMU\n more\n";
        let got = parse_dpkg_status(text);
        assert_eq!(got.get("arch-test").map(String::as_str), Some("0.20-1"));
        assert_eq!(got.get("mmdebstrap"), None);
        assert_eq!(
            got.get("qemu-system-arm").map(String::as_str),
            Some("1:10.0.2+ds-2~bpo12+1")
        );
    }

    #[test]
    fn binfmt_entries_are_read_as_the_kernel_writes_them() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(binfmt_entry(dir.path(), "qemu-aarch64"), Binfmt::NotMounted);
        std::fs::write(dir.path().join("status"), "enabled\n").unwrap();
        assert_eq!(
            binfmt_entry(dir.path(), "qemu-aarch64"),
            Binfmt::NotRegistered
        );
        std::fs::write(
            dir.path().join("qemu-aarch64"),
            "enabled\ninterpreter /usr/libexec/qemu-binfmt/aarch64-binfmt-P\nflags: POCF\noffset 0\n",
        )
        .unwrap();
        assert_eq!(
            binfmt_entry(dir.path(), "qemu-aarch64"),
            Binfmt::Registered {
                enabled: true,
                flags: "POCF".into()
            }
        );
    }

    #[test]
    fn programs_are_found_by_name_or_path() {
        assert!(find_program("sh").is_some());
        assert!(find_program("/bin/sh").is_some());
        assert!(find_program("piimage-no-such-program").is_none());
        assert!(free_bytes(Path::new("/no/such/dir/below/root")).is_some());
    }
}
