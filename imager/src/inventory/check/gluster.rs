//! `gluster:`: the pool's peers are nodes of this inventory, each named once, this one among
//! them; the bricks' folder is absolute.

use super::{place_of, Checker};
use crate::inventory::model::Settings;
use crate::inventory::InventoryError;

pub(super) fn check(
    c: &Checker<'_>,
    name: &str,
    s: &Settings,
    all: &[&str],
) -> Result<(Vec<String>, Option<String>), InventoryError> {
    let Some(g) = &s.gluster else {
        return Ok((Vec::new(), None));
    };
    let err = |message: String| {
        c.err(
            place_of(c, name, c.in_node(name, "gluster"), &["gluster", "peers"]),
            Some(name),
            message,
        )
    };
    for (i, peer) in g.peers.iter().enumerate() {
        if !all.contains(&peer.as_str()) {
            return Err(err(format!(
                "gluster.peers: `{peer}` is not a node of this inventory (nodes: {})",
                all.join(", ")
            )));
        }
        if g.peers[..i].contains(peer) {
            return Err(err(format!("gluster.peers: `{peer}` is listed twice")));
        }
    }
    if !g.peers.iter().any(|p| p == name) {
        return Err(err(format!(
            "gluster.peers does not name {name} itself: a node is in the pool it lists"
        )));
    }
    if let Some(b) = &g.bricks {
        if !b.starts_with('/') || b == "/" || b.split('/').any(|c| c == ".." || c == ".") {
            return Err(err(format!(
                "gluster.bricks: `{b}` is not an absolute folder like /srv/gluster"
            )));
        }
    }
    // In the inventory's order, so every node agrees on which one probes.
    let peers = all
        .iter()
        .filter(|n| g.peers.iter().any(|p| p == *n))
        .map(|n| n.to_string())
        .collect();
    Ok((peers, g.bricks.clone()))
}
