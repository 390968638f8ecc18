//! `address:` with `network:`: an IPv4 address with its prefix, inside the gateway's
//! network, neither the network's nor its broadcast address nor the gateway's.

use std::net::Ipv4Addr;

use super::{place_of, Checker};
use crate::inventory::model::Settings;
use crate::inventory::InventoryError;
use crate::inventory::StaticAddress;

use super::names::is_interface;

pub(super) fn check(
    c: &Checker<'_>,
    name: &str,
    s: &Settings,
) -> Result<Option<StaticAddress>, InventoryError> {
    let err_at = |path: &[&str], message: String| c.node_err(name, path, message);
    let net = s.network.clone().unwrap_or_default();
    let net_err = |key: &str, message: String| {
        let own =
            c.at.node_key(name, &["network", key])
                .is_some_and(|p| c.at.node_key(name, &["network"]) != Some(p));
        c.err(
            place_of(c, name, own, &["network", key]),
            Some(name),
            message,
        )
    };
    let parse_ip = |text: &str, key: &str| -> Result<Ipv4Addr, InventoryError> {
        text.parse::<Ipv4Addr>()
            .map_err(|_| net_err(key, format!("`{text}` is not an IPv4 address")))
    };
    let address = match &s.address {
        None => None,
        Some(text) => {
            let (ip_text, prefix_text) = match text.split_once('/') {
                Some((ip, p)) => (ip, Some(p)),
                None => (text.as_str(), None),
            };
            let ip: Ipv4Addr = ip_text
                .parse()
                .map_err(|_| err_at(&["address"], format!("`{text}` is not an IPv4 address")))?;
            let prefix = match prefix_text {
                Some(p) => prefix_length(p).ok_or_else(|| {
                    err_at(
                        &["address"],
                        format!("`/{p}` is not a prefix length (1-32)"),
                    )
                })?,
                None => net.prefix.ok_or_else(|| {
                    err_at(
                        &["address"],
                        format!("{ip} has no prefix: write it as {ip}/24, or set network.prefix"),
                    )
                })?,
            };
            if !(1..=32).contains(&prefix) {
                return Err(net_err(
                    "prefix",
                    format!("prefix {prefix} is not a prefix length (1-32)"),
                ));
            }
            let mask = u32::MAX.checked_shl(32 - u32::from(prefix)).unwrap_or(0);
            let network = u32::from(ip) & mask;
            if prefix < 31 && (u32::from(ip) == network || u32::from(ip) == network | !mask) {
                return Err(err_at(
                    &["address"],
                    format!(
                        "{ip} is the network or broadcast address of {}/{prefix}",
                        Ipv4Addr::from(network)
                    ),
                ));
            }
            let gateway = match &net.gateway {
                None => None,
                Some(g) => {
                    let gw = parse_ip(g, "gateway")?;
                    if gw == ip {
                        return Err(err_at(
                            &["address"],
                            format!("address {ip} is the gateway's"),
                        ));
                    }
                    if u32::from(gw) & mask != network {
                        return Err(err_at(
                            &["address"],
                            format!(
                                "{ip}/{prefix} and the gateway {gw} are not in the same network"
                            ),
                        ));
                    }
                    Some(gw)
                }
            };
            let dns = net
                .dns
                .iter()
                .flatten()
                .map(|d| parse_ip(d, "dns"))
                .collect::<Result<Vec<_>, _>>()?;
            let interface = net.interface.clone().unwrap_or_else(|| "eth0".into());
            if !is_interface(&interface) {
                return Err(net_err(
                    "interface",
                    format!("`{interface}` is not an interface name"),
                ));
            }
            Some(StaticAddress {
                interface,
                address: ip,
                prefix,
                gateway,
                dns,
            })
        }
    };
    Ok(address)
}

/// `24` of `a.b.c.d/24`, when it is a prefix length (1-32).
pub(super) fn prefix_length(text: &str) -> Option<u8> {
    text.parse::<u8>().ok().filter(|p| (1..=32).contains(p))
}
