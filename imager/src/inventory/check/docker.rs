//! `docker:`: a TCP port, and `tcp` or daemon `hosts` (tcp sets hosts), not both.

use super::{place_of, Checker};
use crate::inventory::model::Settings;
use crate::inventory::InventoryError;

pub(super) fn check(c: &Checker<'_>, name: &str, s: &Settings) -> Result<(), InventoryError> {
    if let Some(docker) = &s.docker {
        let own = c.in_node(name, "docker");
        if docker.tcp.as_ref().is_some_and(|t| t.port == Some(0)) {
            return Err(c.err(
                place_of(c, name, own, &["docker", "tcp"]),
                Some(name),
                "docker.tcp.port must be 1-65535",
            ));
        }
        if docker.tcp.is_some() && docker.daemon.contains_key("hosts") {
            return Err(c.err(
                place_of(c, name, own, &["docker", "daemon"]),
                Some(name),
                "give docker.tcp or daemon `hosts`, not both (tcp sets hosts)",
            ));
        }
    }
    Ok(())
}
