//! What a Raspberry Pi's firmware boots from an image: the kernel and initramfs that
//! `config.txt` names, and the command line in `cmdline.txt`. QEMU boots the same files.

use std::path::{Path, PathBuf};

use crate::{Epoch, Error, Image, Result, Target};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BootFiles {
    pub kernel: PathBuf,
    pub initrd: Option<PathBuf>,
    pub cmdline: String,
}

/// `kernel=` and `initramfs NAME` from config.txt (the last of each wins, as for the firmware;
/// conditional sections are not interpreted).
pub fn parse_config_txt(text: &str) -> (Option<String>, Option<String>) {
    let mut kernel = None;
    let mut initramfs = None;
    for line in text.lines() {
        let line = line.split('#').next().unwrap_or("").trim();
        if let Some(value) = line.strip_prefix("kernel=") {
            kernel = Some(value.trim().to_string());
        } else if let Some(rest) = line.strip_prefix("initramfs") {
            if let Some(name) = rest.split_whitespace().next() {
                initramfs = Some(name.to_string());
            }
        }
    }
    (kernel, initramfs)
}

/// Copies the kernel and initramfs out of the image's boot partition into `dir`.
pub fn extract(image_path: &Path, dir: &Path) -> Result<BootFiles> {
    let mut image = Image::open(image_path)?;
    image.with_fs(Target::Boot, Epoch(0), false, |fs| {
        let config = fs
            .read_if_exists("/config.txt")?
            .ok_or_else(|| Error::bad_image(image_path, "the boot partition has no config.txt"))?;
        let (kernel, initramfs) = parse_config_txt(&String::from_utf8_lossy(&config));
        let kernel = kernel
            .ok_or_else(|| Error::bad_image(image_path, "config.txt names no kernel (kernel=…)"))?;
        let cmdline = fs
            .read_if_exists("/cmdline.txt")?
            .map(|b| String::from_utf8_lossy(&b).trim().to_string())
            .unwrap_or_default();
        let mut copy_out = |name: &str| -> Result<PathBuf> {
            let bytes = fs.read_if_exists(&format!("/{name}"))?.ok_or_else(|| {
                Error::bad_image(
                    image_path,
                    format!("config.txt names {name}, which the boot partition lacks"),
                )
            })?;
            let out = dir.join(name);
            std::fs::write(&out, bytes).map_err(|e| Error::io(&out, e))?;
            Ok(out)
        };
        Ok(BootFiles {
            kernel: copy_out(&kernel)?,
            initrd: initramfs.as_deref().map(&mut copy_out).transpose()?,
            cmdline,
        })
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn config_txt_as_raspi_firmware_writes_it() {
        let text = "# Do not modify this file!\narm_64bit=1\nenable_uart=1\nupstream_kernel=1\n\nkernel=vmlinuz-6.1.0-41-arm64\n# For details on the initramfs directive, see\ninitramfs initrd.img-6.1.0-41-arm64\n";
        assert_eq!(
            parse_config_txt(text),
            (
                Some("vmlinuz-6.1.0-41-arm64".into()),
                Some("initrd.img-6.1.0-41-arm64".into())
            )
        );
        assert_eq!(parse_config_txt("enable_uart=1\n"), (None, None));
    }
}
