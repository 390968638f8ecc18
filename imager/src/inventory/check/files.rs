//! `files:`: absolute paths without `..`, content or a source (read later, by
//! sources.rs), an owner as user:group, an octal mode.

use super::{place_of, Checker};
use crate::inventory::model::Settings;
use crate::inventory::File;
use crate::inventory::InventoryError;

use super::names::is_user_name;

pub(super) fn check(
    c: &Checker<'_>,
    name: &str,
    s: &Settings,
) -> Result<Vec<File>, InventoryError> {
    let files = s.files.clone().unwrap_or_default();
    let files_own = c.in_node(name, "files");
    for (i, f) in files.iter().enumerate() {
        let file_err = |message: String| {
            c.err(
                place_of(c, name, files_own, &["files"]),
                Some(name),
                format!("files[{i}] ({}): {message}", f.path),
            )
        };
        if !f.path.starts_with('/') || f.path.split('/').any(|p| p == "..") {
            return Err(file_err("the path must be absolute, without '..'".into()));
        }
        match (&f.content, &f.source) {
            (Some(_), Some(_)) => return Err(file_err("give content or source, not both".into())),
            (None, None) => return Err(file_err("give content or source".into())),
            _ => {}
        }
        if let Some(owner) = &f.owner {
            let ok = owner.split_once(':').is_some_and(|(u, g)| {
                [u, g]
                    .iter()
                    .all(|x| x.parse::<u32>().is_ok() || is_user_name(x))
            });
            if !ok {
                return Err(file_err(format!(
                    "owner `{owner}` is not user:group (names or numbers)"
                )));
            }
        }
        if let Some(mode) = &f.mode {
            if u32::from_str_radix(mode, 8)
                .ok()
                .filter(|m| *m <= 0o7777)
                .is_none()
            {
                return Err(file_err(format!(
                    "mode `{mode}` is not an octal mode like \"0644\""
                )));
            }
        }
    }
    Ok(files)
}
