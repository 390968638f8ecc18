//! `fail2ban:`: at least one retry, a ban time in seconds (or -1 for ever).

use super::{place_of, Checker};
use crate::inventory::model::Settings;
use crate::inventory::InventoryError;

pub(super) fn check(c: &Checker<'_>, name: &str, s: &Settings) -> Result<(), InventoryError> {
    if let Some(f2b) = &s.fail2ban {
        for (jail, j) in [("sshd", &f2b.sshd), ("recidive", &f2b.recidive)] {
            if let Some(j) = j {
                if j.maxretry == Some(0) {
                    return Err(c.err(
                        place_of(c, name, c.in_node(name, "fail2ban"), &["fail2ban", jail]),
                        Some(name),
                        format!("fail2ban.{jail}.maxretry must be at least 1"),
                    ));
                }
                if j.bantime.is_some_and(|b| b == 0 || b < -1) {
                    return Err(c.err(
                        place_of(c, name, c.in_node(name, "fail2ban"), &["fail2ban", jail]),
                        Some(name),
                        format!("fail2ban.{jail}.bantime must be seconds > 0, or -1 for ever"),
                    ));
                }
            }
        }
    }
    Ok(())
}
