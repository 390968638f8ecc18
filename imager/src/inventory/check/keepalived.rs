//! `keepalived:`: a virtual address with its prefix, a priority per node (1-254), a VRRP group
//! (1-255) and an advert interval (1-255 s); the interface defaults to the node's own.

use std::net::Ipv4Addr;

use super::{place_of, Checker};
use crate::inventory::model::Settings;
use crate::inventory::{InventoryError, StaticAddress, Vrrp};

pub(super) fn check(
    c: &Checker<'_>,
    name: &str,
    s: &Settings,
    address: Option<&StaticAddress>,
) -> Result<Option<Vrrp>, InventoryError> {
    let Some(k) = &s.keepalived else {
        return Ok(None);
    };
    let err = |key: &str, message: String| {
        let own =
            c.at.node_key(name, &["keepalived", key])
                .is_some_and(|p| c.at.node_key(name, &["keepalived"]) != Some(p));
        let place = place_of(c, name, own, &["keepalived", key])
            .or_else(|| place_of(c, name, c.in_node(name, "keepalived"), &["keepalived"]));
        c.err(place, Some(name), format!("keepalived.{key}: {message}"))
    };
    let text = k.virtual_ip.as_deref().ok_or_else(|| {
        err(
            "virtual_ip",
            "missing: the address the nodes share, like 10.0.0.100/24".into(),
        )
    })?;
    let (ip_text, prefix_text) = match text.split_once('/') {
        Some((ip, p)) => (ip, Some(p)),
        None => (text, None),
    };
    let virtual_ip: Ipv4Addr = ip_text
        .parse()
        .map_err(|_| err("virtual_ip", format!("`{text}` is not an IPv4 address")))?;
    let prefix = match prefix_text {
        Some(p) => super::address::prefix_length(p).ok_or_else(|| {
            err(
                "virtual_ip",
                format!("`/{p}` is not a prefix length (1-32)"),
            )
        })?,
        None => address.map_or(32, |a| a.prefix),
    };
    let priority = k.priority.ok_or_else(|| {
        err(
            "priority",
            "missing: each node needs one (1-254, the highest holds the address)".into(),
        )
    })?;
    if !(1..=254).contains(&priority) {
        return Err(err(
            "priority",
            format!("{priority} is not 1-254 (255 is the address owner's)"),
        ));
    }
    let virtual_router_id = k.virtual_router_id.unwrap_or(51);
    if virtual_router_id == 0 {
        return Err(err("virtual_router_id", "0 is not 1-255".into()));
    }
    let advert_int = k.advert_int.unwrap_or(1);
    if advert_int == 0 {
        return Err(err("advert_int", "0 is not 1-255 seconds".into()));
    }
    let interface = k
        .interface
        .clone()
        .or_else(|| address.map(|a| a.interface.clone()))
        .unwrap_or_else(|| "eth0".into());
    if !super::names::is_interface(&interface) {
        return Err(err(
            "interface",
            format!("`{interface}` is not an interface name"),
        ));
    }
    Ok(Some(Vrrp {
        interface,
        virtual_ip,
        prefix,
        priority,
        virtual_router_id,
        advert_int,
        preempt: k.preempt.unwrap_or(true),
    }))
}

/// Across the nodes: the virtual address is no node's own, and one group shares one address.
pub(super) fn check_cluster(
    c: &Checker<'_>,
    nodes: &[crate::inventory::NodeSpec],
) -> Result<(), InventoryError> {
    for node in nodes {
        let Some(v) = &node.keepalived else { continue };
        if let Some(owner) = nodes.iter().find(|n| {
            n.address
                .as_ref()
                .is_some_and(|a| a.address == v.virtual_ip)
        }) {
            return Err(c.node_err(
                &node.name,
                &["keepalived"],
                format!(
                    "keepalived.virtual_ip {} is node {}'s own address: the shared address must be a free one",
                    v.virtual_ip, owner.name
                ),
            ));
        }
        if let Some(other) = nodes.iter().find(|n| {
            n.keepalived.as_ref().is_some_and(|o| {
                o.virtual_router_id == v.virtual_router_id && o.virtual_ip != v.virtual_ip
            })
        }) {
            return Err(c.node_err(
                &node.name,
                &["keepalived"],
                format!(
                    "keepalived group {} has address {} here but {} on node {}: one group shares one address",
                    v.virtual_router_id,
                    v.virtual_ip,
                    other.keepalived.as_ref().map(|o| o.virtual_ip.to_string()).unwrap_or_default(),
                    other.name
                ),
            ));
        }
    }
    Ok(())
}
