//! `piimage bake [-c FILE] [--node N]… [-o DIR]`: one image per node, and a manifest.
//! Each node is the base plus its own delta; images are written to temporary files and
//! renamed when complete, the manifest last.

use std::io::Read;
use std::path::Path;

use anyhow::{Context, Result};
use imager::source::BaseCache;
use imager::Image;
use serde_json::json;
use sha2::{Digest, Sha256};

use crate::cli::BakeArgs;

pub fn run(cache: &BaseCache, args: BakeArgs) -> Result<()> {
    let prepared = super::prepare::prepare(cache, &args.inventory.config, &args.inventory.nodes)?;
    let out = args.output.clone().unwrap_or_else(|| {
        args.inventory
            .config
            .parent()
            .unwrap_or(Path::new("."))
            .join("images")
    });
    std::fs::create_dir_all(&out).with_context(|| format!("creating {}", out.display()))?;

    let bar = indicatif::ProgressBar::new(prepared.plans.len() as u64);
    bar.set_style(
        indicatif::ProgressStyle::with_template(
            "baking {msg:<12} {wide_bar} {pos}/{len} nodes {elapsed}",
        )
        .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
    );
    let inventory_text = std::fs::read(&args.inventory.config)
        .with_context(|| format!("reading {}", args.inventory.config.display()))?;
    // The base's chunks are hashed once; each node rehashes only the chunks it changed.
    let base_file = std::fs::File::open(&prepared.base)?;
    let base_len = base_file.metadata()?.len();
    let base_digests = imager::digest::ChunkDigests::of_file(&base_file, base_len)
        .with_context(|| format!("hashing {}", prepared.base.display()))?;
    let base_digest = base_digests.root();
    let mut nodes = serde_json::Map::new();
    for (node, ops) in &prepared.plans {
        bar.set_message(node.name.clone());
        let mut image = Image::open(&prepared.base)?;
        image
            .apply(ops, prepared.epoch)
            .with_context(|| format!("node {}", node.name))?;
        let file = out.join(format!("{}.img", node.name));
        image.write_to(&file)?;
        let (delta, ranges) = image.delta();
        let mut entry = json!({
            "image": format!("{}.img", node.name),
            "size": image.len(),
            "chunks_sha256": image.chunk_digests(&base_digests)?.root(),
            "operations": ops.len(),
                "delta_bytes": delta,
            "delta_ranges": ranges.iter().map(|(s, e)| json!({ "start": s, "end": e })).collect::<Vec<_>>(),
        });
        if args.sha256 {
            entry["sha256"] = json!(sha256_file(&file)?);
        }
        nodes.insert(node.name.clone(), entry);
        tracing::info!(node = %node.name, delta, "baked");
        bar.inc(1);
    }
    bar.finish_and_clear();

    // What the images were made from: same inputs hash, same images.
    let inputs = Sha256::new()
        .chain_update(b"piimage-bake-1\0")
        .chain_update(env!("CARGO_PKG_VERSION"))
        .chain_update(&inventory_text)
        .chain_update(base_digest.as_bytes())
        .chain_update(prepared.epoch.0.to_le_bytes())
        .finalize();
    let manifest = json!({
        "format": 1,
        "inputs_sha256": hex(&inputs),
        "inventory": args.inventory.config.display().to_string(),
        "base_chunks_sha256": base_digest,
        "chunk_size": imager::digest::CHUNK,
        "source_date_epoch": prepared.epoch.0,
        "flavour": prepared.facts.flavour.as_ref().map(|f| f.id),
        "nodes": nodes,
    });
    // Every node's host key, for the admins' ~/.ssh/known_hosts: no trust on first use.
    let known_hosts = imager::plan::known_hosts(&prepared.inventory.nodes, &prepared.secret)?;
    write_file(&out.join("known_hosts"), known_hosts.as_bytes(), 0o644)?;
    // The admins' Docker client certificate, when any node listens with TLS.
    let tls = prepared.inventory.nodes.iter().any(|n| {
        n.docker
            .as_ref()
            .and_then(|d| d.tcp.as_ref())
            .is_some_and(|t| !t.insecure_plaintext)
    });
    if tls {
        let ca = imager::pki::ClusterCa::new(&prepared.secret, prepared.epoch)?;
        let client = ca.client()?;
        let dir = out.join("docker-tls");
        std::fs::create_dir_all(&dir)?;
        write_file(&dir.join("ca.pem"), ca.cert_pem()?.as_bytes(), 0o644)?;
        write_file(&dir.join("cert.pem"), client.cert_pem.as_bytes(), 0o644)?;
        write_file(&dir.join("key.pem"), client.key_pem.as_bytes(), 0o600)?;
    }
    let manifest_path = out.join("manifest.json");
    write_file(
        &manifest_path,
        format!("{}\n", serde_json::to_string_pretty(&manifest)?).as_bytes(),
        0o644,
    )?;

    if args.json {
        println!("{}", serde_json::to_string_pretty(&manifest)?);
    } else {
        for (name, node) in &nodes {
            println!(
                "{}  {}  {} changed",
                out.join(node["image"].as_str().unwrap_or(name)).display(),
                node["sha256"]
                    .as_str()
                    .or(node["chunks_sha256"].as_str())
                    .unwrap_or(""),
                crate::render::bytes(node["delta_bytes"].as_u64().unwrap_or(0))
            );
        }
        println!("{}", out.join("known_hosts").display());
        println!("{}", manifest_path.display());
    }
    Ok(())
}

/// Writes a small output file whole or not at all (temporary file, then rename).
fn write_file(path: &Path, data: &[u8], mode: u32) -> Result<()> {
    let dir = path.parent().unwrap_or(Path::new("."));
    let mut tmp = tempfile::NamedTempFile::new_in(dir)?;
    std::io::Write::write_all(&mut tmp, data)?;
    std::fs::set_permissions(
        tmp.path(),
        std::os::unix::fs::PermissionsExt::from_mode(mode),
    )?;
    tmp.persist(path)
        .with_context(|| format!("writing {}", path.display()))?;
    Ok(())
}

fn sha256_file(path: &Path) -> Result<String> {
    let mut file =
        std::fs::File::open(path).with_context(|| format!("reading {}", path.display()))?;
    let mut hash = Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = file.read(&mut buf)?;
        if n == 0 {
            break;
        }
        hash.update(&buf[..n]);
    }
    Ok(hex(&hash.finalize()))
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
