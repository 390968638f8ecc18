//! Human-readable output. JSON output is the library's types through serde; this is the
//! other face of the same values.

use std::fmt::Write;

use imager::inspect::Report;

pub fn bytes(n: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut value = n as f64;
    let mut unit = 0;
    while value >= 1024.0 && unit < UNITS.len() - 1 {
        value /= 1024.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{n} B")
    } else if value.fract() == 0.0 {
        format!("{value:.0} {}", UNITS[unit])
    } else {
        format!("{value:.1} {}", UNITS[unit])
    }
}

pub fn inspect_report(r: &Report) -> String {
    let mut out = String::new();
    let t = &r.partition_table;
    let _ = writeln!(out, "image       {} ({})", r.image, bytes(r.size));
    let scheme = match t.scheme {
        imager::disk::Scheme::Mbr => "MBR",
        imager::disk::Scheme::Gpt => "GPT",
    };
    let _ = writeln!(out, "table       {scheme}, disk id {}", t.disk_id);
    let _ = writeln!(
        out,
        "  {:<2} {:>10} {:>10} {:>9}  {:<20} {:<6} {:<10} {:>9}",
        "#", "start", "sectors", "size", "type", "fs", "label", "used"
    );
    for p in &t.partitions {
        let fs = r.filesystems.iter().find(|f| f.partition == p.number);
        let _ = writeln!(
            out,
            "  {:<2} {:>10} {:>10} {:>9}  {:<20} {:<6} {:<10} {:>9}",
            p.number,
            p.first_sector,
            p.sectors,
            bytes(p.sectors * t.sector_size),
            match t.scheme {
                imager::disk::Scheme::Mbr => format!("{} {}", p.type_code, p.type_name),
                imager::disk::Scheme::Gpt => p.type_name.clone(),
            },
            fs.map_or("-", |f| f.kind.as_str()),
            fs.map_or("", |f| f.label.as_str()),
            fs.map_or("-".into(), |f| bytes(f.used)),
        );
    }
    let f = &r.flavour;
    let _ = writeln!(
        out,
        "flavour     {} (network: {}, boot at {})",
        f.name,
        serde_json::to_value(f.network)
            .ok()
            .and_then(|v| v.as_str().map(str::to_string))
            .unwrap_or_default(),
        f.boot_mount
    );
    let _ = writeln!(out, "hostname    {}", r.hostname.as_deref().unwrap_or("-"));
    if r.addresses.is_empty() {
        let _ = writeln!(out, "addresses   none static (DHCP)");
    }
    for (i, a) in r.addresses.iter().enumerate() {
        let mut line = format!("{} {}", a.interface, a.address);
        if let Some(gw) = &a.gateway {
            let _ = write!(line, " via {gw}");
        }
        if !a.dns.is_empty() {
            let _ = write!(line, " dns {}", a.dns.join(","));
        }
        let _ = writeln!(
            out,
            "{:<11} {line}  [{}]",
            if i == 0 { "addresses" } else { "" },
            a.source
        );
    }
    if r.users.is_empty() {
        let _ = writeln!(out, "users       -");
    }
    for (i, u) in r.users.iter().enumerate() {
        let uid = u
            .uid
            .map_or("first boot".to_string(), |u| format!("uid {u}"));
        let groups = if u.groups.is_empty() {
            String::new()
        } else {
            format!(", groups {}", u.groups.join(","))
        };
        let _ = writeln!(
            out,
            "{:<11} {} ({uid}{groups})  [{}]",
            if i == 0 { "users" } else { "" },
            u.name,
            u.source
        );
        for k in &u.authorized_keys {
            let _ = writeln!(
                out,
                "              key {} {} {}",
                k.algorithm, k.fingerprint, k.comment
            );
        }
    }
    for (i, k) in r.ssh_host_keys.iter().enumerate() {
        let _ = writeln!(
            out,
            "{:<11} {} {} {}",
            if i == 0 { "host keys" } else { "" },
            k.algorithm,
            k.fingerprint,
            k.comment
        );
    }
    for (i, step) in r.first_boot.steps.iter().enumerate() {
        let _ = writeln!(out, "{:<11} {step}", if i == 0 { "first boot" } else { "" });
    }
    for (i, s) in r.services.iter().enumerate() {
        let state = match (s.installed, s.enabled) {
            (false, _) => "not installed".to_string(),
            (true, true) => format!("enabled ({})", s.detail.as_deref().unwrap_or("")),
            (true, false) => match &s.detail {
                Some(d) => format!("disabled ({d})"),
                None => "disabled".into(),
            },
        };
        let state = match &s.pending_package {
            Some(p) => format!("{state}, installed at first boot ({p})"),
            None => state,
        };
        let _ = writeln!(
            out,
            "{:<11} {:<9} {state}",
            if i == 0 { "services" } else { "" },
            s.name
        );
    }
    if let Some(d) = &r.docker_daemon {
        let _ = writeln!(out, "docker      daemon.json {d}");
    }
    out
}

/// One line for a file operation: where, what, and the attributes it sets.
pub fn file_op(op: &imager::FileOp) -> String {
    use imager::fileop::{Content, FileOp};
    let fs = match op.target() {
        imager::Target::Boot => "boot",
        imager::Target::Root => "root",
    };
    let size = |c: &Content| {
        c.bytes()
            .map(|b| bytes(b.len() as u64))
            .unwrap_or_else(|_| "?".into())
    };
    let attrs = |mode: &Option<imager::fileop::Mode>, owner: &Option<imager::fileop::Owner>| {
        let mut a = Vec::new();
        if let Some(m) = mode {
            a.push(format!("{:04o}", m.0));
        }
        if let Some(o) = owner {
            a.push(format!("{}:{}", o.uid, o.gid));
        }
        if a.is_empty() {
            String::new()
        } else {
            format!(" ({})", a.join(", "))
        }
    };
    let what = match op {
        FileOp::Write {
            path,
            content,
            mode,
            owner,
            ..
        } => format!("write    {path}, {}{}", size(content), attrs(mode, owner)),
        FileOp::Append { path, content, .. } => format!("append   {path}, {}", size(content)),
        FileOp::Mkdir {
            path, mode, owner, ..
        } => format!("mkdir    {path}{}", attrs(mode, owner)),
        FileOp::Symlink { path, target, .. } => format!("symlink  {path} -> {target}"),
        FileOp::Remove { path, .. } => format!("remove   {path}"),
        FileOp::Chmod { path, mode, .. } => format!("chmod    {path} {:04o}", mode.0),
        FileOp::Chown { path, owner, .. } => format!("chown    {path} {}:{}", owner.uid, owner.gid),
        FileOp::Touch { path, mtime, .. } => format!("touch    {path} @{mtime}"),
        FileOp::Cmdline { set, remove } => format!(
            "cmdline  set [{}] remove [{}]",
            set.join(" "),
            remove.join(" ")
        ),
        FileOp::ConfigTxt { section, lines } => {
            format!("config   [{section}] {}", lines.join(", "))
        }
    };
    format!("{fs:<4} {what}")
}

/// A node's `packages:` as apt resolved them: what the base has, what the card gets (with
/// each file's SHA-256), and where from.
pub fn resolution(r: &imager::packages::Resolution) -> Vec<String> {
    let mut lines = Vec::new();
    if !r.installed.is_empty() {
        lines.push(format!("packages  the base has {}", r.installed.join(", ")));
    }
    if r.debs.is_empty() {
        return lines;
    }
    lines.push(format!(
        "packages  {} for {} from {}, installed at first boot:",
        r.debs.len(),
        r.architecture,
        r.sources.join("; ")
    ));
    for d in &r.debs {
        lines.push(format!(
            "          {} {} {} sha256:{}…",
            d.name,
            d.version,
            d.architecture,
            &d.sha256[..16]
        ));
    }
    lines
}

#[cfg(test)]
mod tests {
    use super::bytes;

    #[test]
    fn sizes_read_naturally() {
        assert_eq!(bytes(512), "512 B");
        assert_eq!(bytes(512 * 1024 * 1024), "512 MiB");
        assert_eq!(bytes(1536), "1.5 KiB");
    }
}
