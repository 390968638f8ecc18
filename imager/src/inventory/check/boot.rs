//! `boot:`: `cmdline.txt` arguments are single words.

use super::{place_of, Checker};
use crate::inventory::model::Settings;
use crate::inventory::Boot;
use crate::inventory::InventoryError;

pub(super) fn check(c: &Checker<'_>, name: &str, s: &Settings) -> Result<Boot, InventoryError> {
    let boot = s.boot.clone().unwrap_or_default();
    for arg in &boot.cmdline {
        if arg.trim().is_empty() || arg.contains(char::is_whitespace) {
            return Err(c.err(
                place_of(c, name, c.in_node(name, "boot"), &["boot", "cmdline"]),
                Some(name),
                format!("cmdline argument `{arg}` must be one word"),
            ));
        }
    }
    Ok(boot)
}
