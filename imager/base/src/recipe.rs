//! The recipes of the built-in bases, compiled into the binary so that `piimage base build`
//! works from anywhere. A recipe is a folder of `fixtures/base/`: the package list, the
//! bootstrap and assembly scripts, and the files the base adds. Its hash is part of the cache
//! key: change any byte and the base is built again.

use std::path::Path;

use sha2::{Digest, Sha256};

use crate::{Error, Result};

/// One file of a recipe, relative to its folder.
pub struct RecipeFile {
    pub path: &'static str,
    /// The recipe folder it comes from (a recipe may share another's scripts).
    pub folder: &'static str,
    pub contents: &'static [u8],
    pub executable: bool,
}

pub struct Recipe {
    /// As written after `builtin:` in an inventory.
    pub name: &'static str,
    pub suite: &'static str,
    pub arch: &'static str,
    pub files: &'static [RecipeFile],
}

macro_rules! recipe_files {
    ($dir:literal: $($path:literal $(from $from:literal)? $(exec $exec:tt)?),* $(,)?) => {
        &[$(RecipeFile {
            path: $path,
            folder: recipe_files!(@dir $dir $($from)?),
            contents: include_bytes!(concat!("../../../fixtures/base/", recipe_files!(@dir $dir $($from)?), "/", $path)),
            executable: recipe_files!(@exec $($exec)?),
        }),*]
    };
    (@dir $dir:literal) => { $dir };
    (@dir $dir:literal $from:literal) => { $from };
    (@exec) => { false };
    (@exec $t:tt) => { true };
}

pub const DEBIAN_BOOKWORM_ARM64: Recipe = Recipe {
    name: "debian-bookworm-arm64",
    suite: "bookworm",
    arch: "arm64",
    files: recipe_files!("debian-bookworm-arm64":
        "packages",
        "initramfs-modules",
        "index.sh" exec(),
        "bootstrap.sh" exec(),
        "customize.sh" exec(),
        "assemble.sh" exec(),
        "rootfs/etc/fstab",
        "rootfs/etc/hostname",
        "rootfs/etc/hosts",
        "rootfs/etc/piimage-base",
        "rootfs/etc/fail2ban/jail.d/piimage-base.conf",
        "rootfs/etc/initramfs-tools/conf.d/piimage.conf",
        "rootfs/etc/keepalived/keepalived.conf",
        "rootfs/etc/systemd/network/90-piimage-base-dhcp.network",
        "rootfs/etc/systemd/system/keepalived.service.d/piimage.conf",
        "rootfs/etc/systemd/system/piimage-grow-root.service",
        "rootfs/etc/systemd/system/piimage-ssh-hostkey.service",
        "rootfs/etc/systemd/system/systemd-networkd-wait-online.service.d/piimage.conf",
        "rootfs/usr/local/sbin/piimage-grow-root" exec(),
    ),
};

/// The built-in base without Docker, fail2ban, GlusterFS and keepalived, as Raspberry Pi OS
/// Lite comes: what `packages:` adds them to, end to end. The built-in base's scripts.
pub const DEBIAN_BOOKWORM_ARM64_LITE: Recipe = Recipe {
    name: "debian-bookworm-arm64-lite",
    suite: "bookworm",
    arch: "arm64",
    files: recipe_files!("debian-bookworm-arm64-lite":
        "packages",
        "rootfs/etc/piimage-base",
        "initramfs-modules" from "debian-bookworm-arm64",
        "index.sh" from "debian-bookworm-arm64" exec(),
        "bootstrap.sh" from "debian-bookworm-arm64" exec(),
        "customize.sh" from "debian-bookworm-arm64" exec(),
        "assemble.sh" from "debian-bookworm-arm64" exec(),
        "rootfs/etc/fstab" from "debian-bookworm-arm64",
        "rootfs/etc/hostname" from "debian-bookworm-arm64",
        "rootfs/etc/hosts" from "debian-bookworm-arm64",
        "rootfs/etc/initramfs-tools/conf.d/piimage.conf" from "debian-bookworm-arm64",
        "rootfs/etc/systemd/network/90-piimage-base-dhcp.network" from "debian-bookworm-arm64",
        "rootfs/etc/systemd/system/piimage-grow-root.service" from "debian-bookworm-arm64",
        "rootfs/etc/systemd/system/piimage-ssh-hostkey.service" from "debian-bookworm-arm64",
        "rootfs/etc/systemd/system/systemd-networkd-wait-online.service.d/piimage.conf" from "debian-bookworm-arm64",
        "rootfs/usr/local/sbin/piimage-grow-root" from "debian-bookworm-arm64" exec(),
    ),
};

/// Every built-in base, by name.
pub const RECIPES: &[&Recipe] = &[&DEBIAN_BOOKWORM_ARM64, &DEBIAN_BOOKWORM_ARM64_LITE];

impl Recipe {
    pub fn by_name(name: &str) -> Result<&'static Recipe> {
        RECIPES
            .iter()
            .copied()
            .find(|r| r.name == name)
            .ok_or_else(|| Error::Invalid {
                what: format!("builtin:{name}"),
                detail: format!(
                    "no such built-in base (there is: {})",
                    RECIPES
                        .iter()
                        .map(|r| r.name)
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            })
    }

    /// SHA-256 over every file's path, mode and contents, in a fixed order.
    pub fn sha256(&self) -> String {
        let mut files: Vec<&RecipeFile> = self.files.iter().collect();
        files.sort_by_key(|f| f.path);
        let mut hash = Sha256::new();
        for f in files {
            hash.update(f.path.as_bytes());
            hash.update([0, u8::from(f.executable)]);
            hash.update((f.contents.len() as u64).to_le_bytes());
            hash.update(f.contents);
        }
        hex::encode(hash.finalize())
    }

    /// Writes the recipe into `dir` (which must exist), scripts executable.
    pub fn write_to(&self, dir: &Path) -> Result<()> {
        use std::os::unix::fs::PermissionsExt;
        for f in self.files {
            let path = dir.join(f.path);
            if let Some(parent) = path.parent() {
                std::fs::create_dir_all(parent).map_err(|e| Error::io(parent, e))?;
            }
            std::fs::write(&path, f.contents).map_err(|e| Error::io(&path, e))?;
            let mode = if f.executable { 0o755 } else { 0o644 };
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode))
                .map_err(|e| Error::io(&path, e))?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every file in the recipe's folder is compiled in, and nothing else: a file added to
    /// the folder but not to the list would silently be missing from the base. (Files a
    /// recipe shares from another's folder are checked there.)
    #[test]
    fn embedded_files_match_the_recipe_folder() {
        for recipe in RECIPES {
            let root = Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("../../fixtures/base")
                .join(recipe.name);
            let mut on_disk = Vec::new();
            let mut stack = vec![root.clone()];
            while let Some(dir) = stack.pop() {
                for entry in std::fs::read_dir(&dir).unwrap() {
                    let path = entry.unwrap().path();
                    if path.is_dir() {
                        stack.push(path);
                    } else {
                        let rel = path
                            .strip_prefix(&root)
                            .unwrap()
                            .to_string_lossy()
                            .into_owned();
                        let exec = {
                            use std::os::unix::fs::PermissionsExt;
                            std::fs::metadata(&path).unwrap().permissions().mode() & 0o111 != 0
                        };
                        on_disk.push((rel, exec));
                    }
                }
            }
            on_disk.sort();
            let mut embedded: Vec<(String, bool)> = recipe
                .files
                .iter()
                .filter(|f| f.folder == recipe.name)
                .map(|f| (f.path.to_string(), f.executable))
                .collect();
            embedded.sort();
            assert_eq!(embedded, on_disk, "recipe {}", recipe.name);
        }
    }

    #[test]
    fn hash_changes_with_any_byte() {
        let a = DEBIAN_BOOKWORM_ARM64.sha256();
        static CHANGED: [RecipeFile; 1] = [RecipeFile {
            path: "packages",
            folder: "debian-bookworm-arm64",
            contents: b"systemd\n",
            executable: false,
        }];
        let other = Recipe {
            files: &CHANGED,
            ..DEBIAN_BOOKWORM_ARM64
        };
        assert_ne!(a, other.sha256());
        assert_eq!(a, DEBIAN_BOOKWORM_ARM64.sha256());
    }

    #[test]
    fn unknown_names_list_the_known_ones() {
        let err = Recipe::by_name("ubuntu").err().unwrap().to_string();
        assert!(err.contains("debian-bookworm-arm64"), "{err}");
    }
}
