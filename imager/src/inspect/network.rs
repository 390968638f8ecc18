//! Static addresses, read from every mechanism a flavour may use: dhcpcd, NetworkManager
//! keyfiles, cloud-init/netplan, ifupdown and systemd-networkd. Each address says its source.

use serde::Serialize;
use serde_yaml_ng::Value;

use super::{text, BootFiles};
use crate::error::Result;
use crate::fs::Filesystem;

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Address {
    pub interface: String,
    /// `address/prefix`.
    pub address: String,
    pub gateway: Option<String>,
    pub dns: Vec<String>,
    /// The file it was read from (`boot:/network-config` for the boot partition).
    pub source: String,
}

pub(super) fn read(fs: &mut dyn Filesystem, boot: &BootFiles) -> Result<Vec<Address>> {
    let mut out = Vec::new();
    if let Some(t) = text(fs, "/etc/dhcpcd.conf")? {
        out.extend(dhcpcd(&t, "/etc/dhcpcd.conf"));
    }
    for (path, body) in files_in(
        fs,
        "/etc/NetworkManager/system-connections",
        ".nmconnection",
    )? {
        out.extend(nm_keyfile(&body, &path));
    }
    if let Some(v) = &boot.network_config {
        out.extend(netplan(v, "boot:/network-config"));
    }
    for (path, body) in files_in(fs, "/etc/netplan", ".yaml")? {
        if let Ok(v) = serde_yaml_ng::from_str::<Value>(&body) {
            out.extend(netplan(&v, &path));
        }
    }
    let mut ifupdown_files = Vec::new();
    if let Some(t) = text(fs, "/etc/network/interfaces")? {
        ifupdown_files.push(("/etc/network/interfaces".to_string(), t));
    }
    ifupdown_files.extend(files_in(fs, "/etc/network/interfaces.d", "")?);
    for (path, body) in ifupdown_files {
        out.extend(ifupdown(&body, &path));
    }
    for (path, body) in files_in(fs, "/etc/systemd/network", ".network")? {
        out.extend(networkd(&body, &path));
    }
    Ok(out)
}

/// (path, content) of the regular files in `dir` whose names end in `suffix`, sorted.
fn files_in(fs: &mut dyn Filesystem, dir: &str, suffix: &str) -> Result<Vec<(String, String)>> {
    if fs.stat(dir)?.is_none() {
        return Ok(vec![]);
    }
    let mut out = Vec::new();
    for name in fs.read_dir(dir)? {
        let path = format!("{dir}/{name}");
        if name.ends_with(suffix)
            && fs
                .stat(&path)?
                .is_some_and(|s| s.kind != crate::fs::FileKind::Dir)
        {
            if let Some(body) = text(fs, &path)? {
                out.push((path, body));
            }
        }
    }
    Ok(out)
}

pub fn dhcpcd(body: &str, source: &str) -> Vec<Address> {
    let mut out: Vec<Address> = Vec::new();
    let mut iface: Option<String> = None;
    let (mut addr, mut gw, mut dns) = (None, None, Vec::new());
    let mut flush = |iface: &Option<String>,
                     addr: &mut Option<String>,
                     gw: &mut Option<String>,
                     dns: &mut Vec<String>| {
        if let (Some(i), Some(a)) = (iface, addr.take()) {
            out.push(Address {
                interface: i.clone(),
                address: a,
                gateway: gw.take(),
                dns: std::mem::take(dns),
                source: source.into(),
            });
        }
        *gw = None;
        dns.clear();
    };
    for line in body
        .lines()
        .map(|l| l.split('#').next().unwrap_or("").trim())
    {
        let mut words = line.split_whitespace();
        match words.next() {
            Some("interface") => {
                flush(&iface, &mut addr, &mut gw, &mut dns);
                iface = words.next().map(str::to_string);
            }
            Some("static") => {
                let Some((key, value)) = words
                    .collect::<Vec<_>>()
                    .join(" ")
                    .split_once('=')
                    .map(|(k, v)| (k.to_string(), v.to_string()))
                else {
                    continue;
                };
                match key.as_str() {
                    "ip_address" => addr = Some(value.trim().to_string()),
                    "routers" => gw = value.split_whitespace().next().map(str::to_string),
                    "domain_name_servers" => {
                        dns = value.split_whitespace().map(str::to_string).collect()
                    }
                    _ => {}
                }
            }
            _ => {}
        }
    }
    flush(&iface, &mut addr, &mut gw, &mut dns);
    out
}

/// INI sections as (section, key, value) triples.
fn ini(body: &str) -> Vec<(String, String, String)> {
    let mut section = String::new();
    let mut out = Vec::new();
    for line in body.lines().map(str::trim) {
        if line.starts_with('[') && line.ends_with(']') {
            section = line[1..line.len() - 1].to_string();
        } else if let Some((k, v)) = line.split_once('=') {
            if !line.starts_with('#') && !line.starts_with(';') {
                out.push((section.clone(), k.trim().to_string(), v.trim().to_string()));
            }
        }
    }
    out
}

pub fn nm_keyfile(body: &str, source: &str) -> Vec<Address> {
    let entries = ini(body);
    let get = |s: &str, k: &str| {
        entries
            .iter()
            .find(|(es, ek, _)| es == s && ek == k)
            .map(|(_, _, v)| v.clone())
    };
    if get("ipv4", "method").as_deref() != Some("manual") {
        return vec![];
    }
    let interface = get("connection", "interface-name").unwrap_or_default();
    let dns: Vec<String> = get("ipv4", "dns")
        .map(|d| {
            d.split(';')
                .filter(|s| !s.is_empty())
                .map(str::to_string)
                .collect()
        })
        .unwrap_or_default();
    let gateway = get("ipv4", "gateway");
    entries
        .iter()
        .filter(|(s, k, _)| {
            s == "ipv4" && (k.starts_with("address") && k[7..].chars().all(|c| c.is_ascii_digit()))
        })
        .map(|(_, _, v)| {
            let mut parts = v.split(',');
            let address = parts.next().unwrap_or("").trim().to_string();
            let gw = parts
                .next()
                .map(|g| g.trim().to_string())
                .or_else(|| gateway.clone());
            Address {
                interface: interface.clone(),
                address,
                gateway: gw,
                dns: dns.clone(),
                source: source.into(),
            }
        })
        .collect()
}

/// cloud-init network-config / netplan: version 2 (`ethernets:`), or version 1 (`config:`).
pub fn netplan(doc: &Value, source: &str) -> Vec<Address> {
    let root = doc.get("network").unwrap_or(doc);
    let strings = |v: Option<&Value>| -> Vec<String> {
        match v {
            Some(Value::Sequence(items)) => items
                .iter()
                .filter_map(|i| i.as_str().map(str::to_string))
                .collect(),
            Some(Value::String(s)) => s
                .split([',', ' '])
                .filter(|s| !s.is_empty())
                .map(str::to_string)
                .collect(),
            _ => vec![],
        }
    };
    let mut out = Vec::new();
    if let Some(Value::Mapping(ethernets)) = root.get("ethernets") {
        for (name, cfg) in ethernets {
            let interface = name.as_str().unwrap_or_default().to_string();
            let gateway = cfg
                .get("gateway4")
                .and_then(Value::as_str)
                .map(str::to_string)
                .or_else(|| {
                    cfg.get("routes")?.as_sequence()?.iter().find_map(|r| {
                        matches!(r.get("to")?.as_str()?, "default" | "0.0.0.0/0")
                            .then(|| r.get("via")?.as_str().map(str::to_string))?
                    })
                });
            let dns = strings(cfg.get("nameservers").and_then(|n| n.get("addresses")));
            for address in strings(cfg.get("addresses")) {
                out.push(Address {
                    interface: interface.clone(),
                    address,
                    gateway: gateway.clone(),
                    dns: dns.clone(),
                    source: source.into(),
                });
            }
        }
    }
    if let Some(Value::Sequence(config)) = root.get("config") {
        for item in config
            .iter()
            .filter(|i| i.get("type").and_then(Value::as_str) == Some("physical"))
        {
            let interface = item
                .get("name")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_string();
            for subnet in item
                .get("subnets")
                .and_then(Value::as_sequence)
                .into_iter()
                .flatten()
            {
                if subnet.get("type").and_then(Value::as_str) != Some("static") {
                    continue;
                }
                let Some(addr) = subnet.get("address").and_then(Value::as_str) else {
                    continue;
                };
                let address = match subnet
                    .get("netmask")
                    .and_then(Value::as_str)
                    .and_then(prefix_of_netmask)
                {
                    Some(prefix) if !addr.contains('/') => format!("{addr}/{prefix}"),
                    _ => addr.to_string(),
                };
                out.push(Address {
                    interface: interface.clone(),
                    address,
                    gateway: subnet
                        .get("gateway")
                        .and_then(Value::as_str)
                        .map(str::to_string),
                    dns: strings(subnet.get("dns_nameservers")),
                    source: source.into(),
                });
            }
        }
    }
    out
}

pub fn ifupdown(body: &str, source: &str) -> Vec<Address> {
    let mut out: Vec<Address> = Vec::new();
    let mut current: Option<Address> = None;
    let mut netmask: Option<u32> = None;
    let finish =
        |current: &mut Option<Address>, netmask: &mut Option<u32>, out: &mut Vec<Address>| {
            if let Some(mut a) = current.take() {
                if let Some(p) = netmask.take() {
                    if !a.address.contains('/') {
                        a.address = format!("{}/{p}", a.address);
                    }
                }
                if !a.address.is_empty() {
                    out.push(a);
                }
            }
        };
    for line in body
        .lines()
        .map(|l| l.split('#').next().unwrap_or("").trim())
    {
        let words: Vec<&str> = line.split_whitespace().collect();
        match words.as_slice() {
            ["iface", name, "inet", method, ..] => {
                finish(&mut current, &mut netmask, &mut out);
                if *method == "static" {
                    current = Some(Address {
                        interface: name.to_string(),
                        address: String::new(),
                        gateway: None,
                        dns: vec![],
                        source: source.into(),
                    });
                }
            }
            ["iface", ..]
            | ["auto", ..]
            | ["allow-hotplug", ..]
            | ["source", ..]
            | ["source-directory", ..] => {
                finish(&mut current, &mut netmask, &mut out);
            }
            ["address", a] => {
                if let Some(c) = current.as_mut() {
                    c.address = a.to_string();
                }
            }
            ["netmask", m] => netmask = prefix_of_netmask(m),
            ["gateway", g] => {
                if let Some(c) = current.as_mut() {
                    c.gateway = Some(g.to_string());
                }
            }
            ["dns-nameservers", servers @ ..] => {
                if let Some(c) = current.as_mut() {
                    c.dns = servers.iter().map(|s| s.to_string()).collect();
                }
            }
            _ => {}
        }
    }
    finish(&mut current, &mut netmask, &mut out);
    out
}

pub fn networkd(body: &str, source: &str) -> Vec<Address> {
    let entries = ini(body);
    let all = |s: &str, k: &str| {
        entries
            .iter()
            .filter(|(es, ek, _)| es == s && ek == k)
            .map(|(_, _, v)| v.clone())
            .collect::<Vec<_>>()
    };
    let interface = all("Match", "Name").into_iter().next().unwrap_or_default();
    let gateway = all("Network", "Gateway").into_iter().next();
    let dns: Vec<String> = all("Network", "DNS")
        .iter()
        .flat_map(|d| d.split_whitespace().map(str::to_string).collect::<Vec<_>>())
        .collect();
    all("Network", "Address")
        .into_iter()
        .chain(all("Address", "Address"))
        .map(|address| Address {
            interface: interface.clone(),
            address,
            gateway: gateway.clone(),
            dns: dns.clone(),
            source: source.into(),
        })
        .collect()
}

fn prefix_of_netmask(mask: &str) -> Option<u32> {
    let ip: std::net::Ipv4Addr = mask.parse().ok()?;
    let bits = u32::from(ip);
    (bits.leading_ones() + bits.trailing_zeros() == 32).then_some(bits.leading_ones())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dhcpcd_static_block() {
        let conf = "hostname\n#interface eth9\ninterface eth0\nstatic ip_address=172.19.181.3/24\nstatic routers=172.19.181.254\nstatic domain_name_servers=172.19.181.254 8.8.8.8\n";
        let got = dhcpcd(conf, "/etc/dhcpcd.conf");
        assert_eq!(got.len(), 1);
        assert_eq!(got[0].address, "172.19.181.3/24");
        assert_eq!(got[0].gateway.as_deref(), Some("172.19.181.254"));
        assert_eq!(got[0].dns, ["172.19.181.254", "8.8.8.8"]);
    }

    #[test]
    fn nm_keyfile_manual() {
        let conf = "[connection]\nid=eth0\ntype=ethernet\ninterface-name=eth0\n\n[ipv4]\nmethod=manual\naddress1=10.0.0.5/24,10.0.0.1\ndns=10.0.0.1;1.1.1.1;\n";
        let got = nm_keyfile(conf, "x");
        assert_eq!(got[0].address, "10.0.0.5/24");
        assert_eq!(got[0].gateway.as_deref(), Some("10.0.0.1"));
        assert_eq!(got[0].dns, ["10.0.0.1", "1.1.1.1"]);
        assert!(nm_keyfile("[ipv4]\nmethod=auto\n", "x").is_empty());
    }

    #[test]
    fn netplan_v2_and_v1() {
        let v2: Value = serde_yaml_ng::from_str("network:\n  version: 2\n  renderer: networkd\n  ethernets:\n    eth0:\n      addresses: [192.168.1.7/24]\n      routes: [{to: default, via: 192.168.1.1}]\n      nameservers: {addresses: [192.168.1.1]}\n").unwrap();
        let got = netplan(&v2, "n");
        assert_eq!(
            (got[0].address.as_str(), got[0].gateway.as_deref()),
            ("192.168.1.7/24", Some("192.168.1.1"))
        );
        let v1: Value = serde_yaml_ng::from_str("version: 1\nconfig:\n  - type: physical\n    name: eth0\n    subnets:\n      - type: static\n        address: 192.168.1.8\n        netmask: 255.255.255.0\n        gateway: 192.168.1.1\n").unwrap();
        assert_eq!(netplan(&v1, "n")[0].address, "192.168.1.8/24");
    }

    #[test]
    fn ifupdown_and_networkd() {
        let got = ifupdown("auto eth0\niface eth0 inet static\n  address 10.1.1.2\n  netmask 255.255.0.0\n  gateway 10.1.0.1\niface wlan0 inet dhcp\n", "i");
        assert_eq!(got.len(), 1);
        assert_eq!(got[0].address, "10.1.1.2/16");
        let got = networkd(
            "[Match]\nName=eth0\n[Network]\nAddress=10.2.0.3/24\nGateway=10.2.0.1\nDNS=10.2.0.1\n",
            "n",
        );
        assert_eq!(got[0].address, "10.2.0.3/24");
    }
}
