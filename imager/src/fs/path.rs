//! Paths inside an image: absolute, `/`-separated, no `..` (nothing may climb out of the root).

use crate::error::{Error, Result};

/// The components of an absolute path; `.` and empty components are dropped.
pub fn components(path: &str) -> Result<Vec<&str>> {
    if !path.starts_with('/') {
        return Err(invalid(path, "must be absolute (start with /)"));
    }
    let mut parts = Vec::new();
    for part in path.split('/') {
        match part {
            "" | "." => {}
            ".." => return Err(invalid(path, "must not contain '..'")),
            name if name.len() > 255 => {
                return Err(invalid(path, "has a name longer than 255 bytes"))
            }
            name if name.contains('\0') => return Err(invalid(path, "contains a NUL byte")),
            name => parts.push(name),
        }
    }
    Ok(parts)
}

/// The parent's components and the last name; the root itself has no name and is refused.
pub fn parent_and_name(path: &str) -> Result<(Vec<&str>, &str)> {
    let mut parts = components(path)?;
    let name = parts
        .pop()
        .ok_or_else(|| invalid(path, "names the root directory itself"))?;
    Ok((parts, name))
}

fn invalid(path: &str, detail: &str) -> Error {
    Error::Invalid {
        what: format!("path {path:?}"),
        detail: detail.into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalises_and_refuses_escapes() {
        assert_eq!(
            components("/etc//ssh/./sshd_config").unwrap(),
            ["etc", "ssh", "sshd_config"]
        );
        assert!(components("etc/hostname").is_err());
        assert!(components("/etc/../root").is_err());
        assert!(parent_and_name("/").is_err());
        assert_eq!(parent_and_name("/a/b").unwrap(), (vec!["a"], "b"));
    }
}
