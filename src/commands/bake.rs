//! `piimage bake [-c FILE] [--node N]… [-o DIR]`: one image per node, and a manifest.
//! Each node is the base plus its own delta; images are written to temporary files and
//! renamed when complete, the manifest last.

use std::io::Read;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use imager::source::BaseCache;
use imager::Image;
use serde_json::json;
use sha2::{Digest, Sha256};

use crate::cli::BakeArgs;

pub fn run(cache: &BaseCache, args: BakeArgs) -> Result<()> {
    let prepared = super::prepare::prepare(cache, &args.inventory.config, &args.inventory.nodes)?;
    let out = out_dir(&args.inventory.config, args.output.as_deref());
    let baked = bake(&prepared, &args.inventory.config, &out, args.sha256, false)?;
    let manifest = &baked.manifest;
    if args.json {
        println!("{}", serde_json::to_string_pretty(manifest)?);
    } else {
        for (node, _) in &prepared.plans {
            let entry = &manifest["nodes"][&node.name];
            println!(
                "{}  {}  {} changed",
                out.join(entry["image"].as_str().unwrap_or(&node.name))
                    .display(),
                entry["sha256"]
                    .as_str()
                    .or(entry["chunks_sha256"].as_str())
                    .unwrap_or(""),
                crate::render::bytes(entry["delta_bytes"].as_u64().unwrap_or(0))
            );
        }
        println!("{}", out.join("known_hosts").display());
        println!("{}", baked.manifest_path.display());
    }
    Ok(())
}

/// Where bake writes: `-o DIR`, else `images/` beside the inventory.
pub fn out_dir(config: &Path, output: Option<&Path>) -> PathBuf {
    output
        .map(Path::to_path_buf)
        .unwrap_or_else(|| config.parent().unwrap_or(Path::new(".")).join("images"))
}

pub struct Baked {
    pub manifest: serde_json::Value,
    pub manifest_path: PathBuf,
    /// The nodes baked now (the others were up to date).
    pub baked: Vec<String>,
}

/// Bakes the prepared nodes into `out`. The manifest keeps the entries of nodes baked earlier
/// from the same inputs; with `only_stale`, a node whose image is there and recorded under
/// the same inputs is not baked again (what `flash --node` wants).
pub fn bake(
    prepared: &super::prepare::Prepared,
    config: &Path,
    out: &Path,
    sha256: bool,
    only_stale: bool,
) -> Result<Baked> {
    std::fs::create_dir_all(out).with_context(|| format!("creating {}", out.display()))?;
    let inventory_text =
        std::fs::read(config).with_context(|| format!("reading {}", config.display()))?;
    let base_file = std::fs::File::open(&prepared.base)?;
    let base_len = base_file.metadata()?.len();
    let base_digests = imager::digest::ChunkDigests::of_file(&base_file, base_len)
        .with_context(|| format!("hashing {}", prepared.base.display()))?;
    let base_digest = base_digests.root();
    // What the images are made from: same inputs hash, same images.
    let inputs = hex(&Sha256::new()
        .chain_update(b"piimage-bake-1\0")
        .chain_update(env!("CARGO_PKG_VERSION"))
        .chain_update(&inventory_text)
        .chain_update(base_digest.as_bytes())
        .chain_update(prepared.epoch.0.to_le_bytes())
        .finalize());
    let manifest_path = out.join("manifest.json");
    let mut nodes = std::fs::read_to_string(&manifest_path)
        .ok()
        .and_then(|text| serde_json::from_str::<serde_json::Value>(&text).ok())
        .filter(|old| old["inputs_sha256"] == inputs.as_str())
        .and_then(|old| old["nodes"].as_object().cloned())
        .unwrap_or_default();

    let todo: Vec<_> = prepared
        .plans
        .iter()
        .filter(|(node, _)| {
            !only_stale
                || !nodes.contains_key(&node.name)
                || !out.join(format!("{}.img", node.name)).exists()
        })
        .collect();
    let bar = indicatif::ProgressBar::new(todo.len() as u64);
    bar.set_style(
        indicatif::ProgressStyle::with_template(
            "baking {msg:<12} {wide_bar} {pos}/{len} nodes {elapsed}",
        )
        .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
    );
    let mut baked = Vec::new();
    for (node, ops) in todo {
        bar.set_message(node.name.clone());
        let mut image = Image::open(&prepared.base)?;
        image
            .apply(ops, prepared.epoch)
            .with_context(|| format!("node {}", node.name))?;
        let file = out.join(format!("{}.img", node.name));
        image.write_to(&file)?;
        let (delta, ranges) = image.delta();
        let used = imager::usedmap::used_map(&file)?;
        let pairs = |r: &[(u64, u64)]| r.iter().map(|(s, e)| json!([s, e])).collect::<Vec<_>>();
        let mut entry = json!({
            "image": format!("{}.img", node.name),
            "size": image.len(),
            "chunks_sha256": image.chunk_digests(&base_digests)?.root(),
            "operations": ops.len(),
            "delta_bytes": delta,
            "delta_ranges": ranges.iter().map(|(s, e)| json!({ "start": s, "end": e })).collect::<Vec<_>>(),
            "used": {
                "bytes": used.data_bytes() + used.table_bytes(),
                "data": pairs(&used.data),
                "table": pairs(&used.table),
            },
        });
        if sha256 {
            entry["sha256"] = json!(sha256_file(&file)?);
        }
        nodes.insert(node.name.clone(), entry);
        tracing::info!(node = %node.name, delta, "baked");
        baked.push(node.name.clone());
        bar.inc(1);
    }
    bar.finish_and_clear();

    let manifest = json!({
        "format": 1,
        "inputs_sha256": inputs,
        "inventory": config.display().to_string(),
        "base_chunks_sha256": base_digest,
        "chunk_size": imager::digest::CHUNK,
        "source_date_epoch": prepared.epoch.0,
        "flavour": prepared.facts.flavour.as_ref().map(|f| f.id),
        "nodes": nodes,
    });
    let known_hosts = imager::plan::known_hosts(&prepared.inventory.nodes, &prepared.secret)?;
    write_file(&out.join("known_hosts"), known_hosts.as_bytes(), 0o644)?;
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
    write_file(
        &manifest_path,
        format!("{}\n", serde_json::to_string_pretty(&manifest)?).as_bytes(),
        0o644,
    )?;
    Ok(Baked {
        manifest,
        manifest_path,
        baked,
    })
}

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
