//! `packages:`: Debian package names with an optional `=version` pin, each once per node, and
//! `apt:`'s sources and mirror. Whether apt can find them is known only when they are
//! resolved against the base (packages/).

use super::{place_of, Checker};
use crate::inventory::model::{Apt, Settings};
use crate::inventory::{AptSources, InventoryError, Package};

pub(super) fn check(
    c: &Checker<'_>,
    name: &str,
    s: &Settings,
) -> Result<Vec<Package>, InventoryError> {
    let own = c.in_node(name, "packages");
    let mut out: Vec<Package> = Vec::new();
    for (i, entry) in s.packages.iter().flatten().enumerate() {
        let err = |message: String| {
            c.err(
                place_of(c, name, own, &["packages"]),
                Some(name),
                format!("packages[{i}] (`{entry}`): {message}"),
            )
        };
        let (package, version) = match entry.split_once('=') {
            Some((n, v)) => (n.trim(), Some(v.trim())),
            None => (entry.trim(), None),
        };
        if !is_package_name(package) {
            return Err(err("not a Debian package name (lower-case letters, digits, `+`, `-`, `.`; at least two, starting with a letter or digit), optionally `=version`".into()));
        }
        if let Some(v) = version {
            if !is_version(v) {
                return Err(err(format!(
                    "`{v}` is not a Debian version (like 1.0.2-2 or 1:2.36-9)"
                )));
            }
        }
        let package = Package {
            name: package.to_string(),
            version: version.map(str::to_string),
        };
        match out.iter().find(|p| p.name == package.name) {
            Some(same) if same == &package => {}
            Some(other) => {
                return Err(err(format!(
                    "asked for twice, as `{}` and `{entry}`",
                    other.spec()
                )))
            }
            None => out.push(package),
        }
    }
    Ok(out)
}

pub(super) fn check_apt(c: &Checker<'_>, apt: Option<&Apt>) -> Result<AptSources, InventoryError> {
    let Some(apt) = apt else {
        return Ok(AptSources::default());
    };
    let place = c.at.top("apt");
    for line in &apt.sources {
        let words: Vec<&str> = line.split_whitespace().collect();
        let uri_at = if words.get(1).is_some_and(|w| w.starts_with('[')) {
            words.iter().position(|w| w.ends_with(']')).map(|i| i + 1)
        } else {
            Some(1)
        };
        let ok = words.first() == Some(&"deb")
            && uri_at
                .and_then(|i| words.get(i))
                .is_some_and(|u| u.contains(':'))
            && uri_at.is_some_and(|i| words.len() > i + 1)
            && !line.contains('\n');
        if !ok {
            return Err(c.err(
                place,
                None,
                format!("apt.sources: `{line}` is not a sources.list line (`deb [options] URI suite [component…]`)"),
            ));
        }
    }
    if let Some(mirror) = &apt.mirror {
        if !(mirror.starts_with("http://")
            || mirror.starts_with("https://")
            || mirror.starts_with("file:"))
            || mirror.contains(char::is_whitespace)
        {
            return Err(c.err(
                place,
                None,
                format!("apt.mirror: `{mirror}` is not a URL (http://, https:// or file:)"),
            ));
        }
    }
    Ok(AptSources {
        sources: apt.sources.clone(),
        mirror: apt.mirror.clone(),
    })
}

/// Debian Policy §5.6.1.
fn is_package_name(name: &str) -> bool {
    name.len() >= 2
        && name.starts_with(|c: char| c.is_ascii_lowercase() || c.is_ascii_digit())
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || "+-.".contains(c))
}

/// Debian Policy §5.6.12: `[epoch:]upstream[-revision]`, starting with a digit.
fn is_version(version: &str) -> bool {
    let upstream = match version.split_once(':') {
        Some((epoch, rest)) if !epoch.is_empty() && epoch.chars().all(|c| c.is_ascii_digit()) => {
            rest
        }
        Some(_) => return false,
        None => version,
    };
    upstream.starts_with(|c: char| c.is_ascii_digit())
        && upstream
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || ".+~-:".contains(c))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_versions_as_debian_policy_has_them() {
        for ok in ["docker.io", "fail2ban", "g++", "libc6", "0ad"] {
            assert!(is_package_name(ok), "{ok}");
        }
        for bad in ["Docker", "a", "-x", "fail2ban;rm", "x y", ""] {
            assert!(!is_package_name(bad), "{bad}");
        }
        for ok in [
            "1.0.2-2",
            "1:2.36-9+rpt2",
            "20.10.24+dfsg1-1+b3",
            "1.6.20~ds1-1",
        ] {
            assert!(is_version(ok), "{ok}");
        }
        for bad in ["latest", "", "x:1.0", "1.0 2", "1.0$"] {
            assert!(!is_version(bad), "{bad}");
        }
    }
}
