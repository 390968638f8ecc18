//! `units:`: unit file names, each once, `[Install]` when it is to be enabled. Whether a unit
//! without `content` is in the base is known only at plan time, from the image.

use super::{place_of, Checker};
use crate::inventory::model::Settings;
use crate::inventory::InventoryError;
use crate::inventory::Unit;

pub(super) fn check(
    c: &Checker<'_>,
    name: &str,
    s: &Settings,
) -> Result<Vec<Unit>, InventoryError> {
    let units = s.units.clone().unwrap_or_default();
    let units_own = c.in_node(name, "units");
    for (i, unit) in units.iter().enumerate() {
        let unit_err = |message: String| {
            c.err(
                place_of(c, name, units_own, &["units"]),
                Some(name),
                format!("units[{i}] ({}): {message}", unit.name),
            )
        };
        let kinds = [
            ".service", ".timer", ".socket", ".path", ".target", ".mount",
        ];
        let plain = unit
            .name
            .chars()
            .all(|ch| ch.is_ascii_alphanumeric() || "@._-".contains(ch));
        if !plain
            || !kinds
                .iter()
                .any(|k| unit.name.ends_with(k) && unit.name.len() > k.len())
        {
            return Err(unit_err(
                "not a unit file name (like backup.service or backup.timer)".into(),
            ));
        }
        if units.iter().filter(|u| u.name == unit.name).count() > 1 {
            return Err(unit_err("listed twice".into()));
        }
        let has_install = |text: &str| text.lines().any(|l| l.trim() == "[Install]");
        if unit.enable && unit.content.as_deref().is_some_and(|t| !has_install(t)) {
            return Err(unit_err(
                "enable needs an [Install] section (or say enable: false)".into(),
            ));
        }
    }
    Ok(units)
}
