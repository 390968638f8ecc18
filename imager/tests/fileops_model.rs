//! Property: any sequence of file operations (writes, appends, mkdir, symlinks, removals,
//! chmod, chown), also into a directory of 500+ entries and the hashed /etc, leaves an ext4
//! that `e2fsck -fn` calls clean and whose tree, dumped by `debugfs rdump`, equals a model.

use std::collections::BTreeMap;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::Path;

use fixtures::{e2fsck, Ext4Judge, Fixture};
use imager::fileop::{Content, FileOp, Mode, Owner, Target};
use imager::{Epoch, Image};
use proptest::prelude::*;

#[derive(Debug, Clone, PartialEq, Eq)]
enum Node {
    File {
        data: Vec<u8>,
        mode: u32,
        uid: u32,
        gid: u32,
    },
    Dir {
        mode: u32,
        uid: u32,
        gid: u32,
    },
    Link {
        target: String,
    },
}

type Model = BTreeMap<String, Node>;

const MANY: usize = 520;

fn ancestors(path: &str) -> impl Iterator<Item = &str> {
    path.match_indices('/')
        .skip(1)
        .map(move |(i, _)| &path[..i])
}

/// Whether a file can be written at `path`: no file or link on the way, no directory or link
/// in its place.
fn file_target(model: &Model, path: &str) -> bool {
    let on_the_way = ancestors(path)
        .any(|a| matches!(model.get(a), Some(Node::File { .. } | Node::Link { .. })));
    !on_the_way && !matches!(model.get(path), Some(Node::Dir { .. } | Node::Link { .. }))
}

/// Whether the engine can carry `op` out given the model, and if so what the model becomes.
/// Operations that would fail (a file where a directory must be) are skipped by the test.
fn step(model: &mut Model, op: &FileOp) -> bool {
    let blocked = |m: &Model, p: &str| {
        ancestors(p).any(|a| matches!(m.get(a), Some(Node::File { .. } | Node::Link { .. })))
    };
    let remove_tree = |m: &mut Model, p: &str| {
        let prefix = format!("{p}/");
        m.retain(|k, _| k != p && !k.starts_with(&prefix));
    };
    let make_parents = |m: &mut Model, p: &str| {
        for a in ancestors(p).map(str::to_string).collect::<Vec<_>>() {
            m.entry(a).or_insert(Node::Dir {
                mode: 0o755,
                uid: 0,
                gid: 0,
            });
        }
    };
    match op {
        FileOp::Write {
            path,
            content,
            mode,
            owner,
            ..
        } => {
            if !file_target(model, path) {
                return false;
            }
            make_parents(model, path);
            let data = content.bytes().unwrap();
            let (m, u, g) = match model.get(path.as_str()) {
                Some(Node::File {
                    mode: m, uid, gid, ..
                }) => (*m, *uid, *gid),
                _ => (0o644, 0, 0),
            };
            let (u, g) = owner.map_or((u, g), |o| (o.uid, o.gid));
            model.insert(
                path.clone(),
                Node::File {
                    data,
                    mode: mode.map_or(m, |x| x.0),
                    uid: u,
                    gid: g,
                },
            );
            true
        }
        FileOp::Append { path, content, .. } => {
            if !file_target(model, path) {
                return false;
            }
            make_parents(model, path);
            let extra = content.bytes().unwrap();
            match model.get_mut(path.as_str()) {
                Some(Node::File { data, .. }) => data.extend_from_slice(&extra),
                _ => {
                    model.insert(
                        path.clone(),
                        Node::File {
                            data: extra,
                            mode: 0o644,
                            uid: 0,
                            gid: 0,
                        },
                    );
                }
            }
            true
        }
        FileOp::Mkdir {
            path, mode, owner, ..
        } => {
            if blocked(model, path)
                || matches!(
                    model.get(path.as_str()),
                    Some(Node::File { .. } | Node::Link { .. })
                )
            {
                return false;
            }
            make_parents(model, path);
            let (m, u, g) = match model.get(path.as_str()) {
                Some(Node::Dir { mode, uid, gid }) => (*mode, *uid, *gid),
                _ => (0o755, 0, 0),
            };
            let (u, g) = owner.map_or((u, g), |o| (o.uid, o.gid));
            model.insert(
                path.clone(),
                Node::Dir {
                    mode: mode.map_or(m, |x| x.0),
                    uid: u,
                    gid: g,
                },
            );
            true
        }
        FileOp::Symlink { path, target, .. } => {
            if blocked(model, path) {
                return false;
            }
            remove_tree(model, path);
            make_parents(model, path);
            model.insert(
                path.clone(),
                Node::Link {
                    target: target.clone(),
                },
            );
            true
        }
        FileOp::Remove { path, .. } => {
            if blocked(model, path) {
                return false;
            }
            remove_tree(model, path);
            true
        }
        FileOp::Chmod { path, .. } | FileOp::Chown { path, .. } if blocked(model, path) => false,
        FileOp::Chmod { path, mode, .. } => match model.get_mut(path.as_str()) {
            Some(Node::File { mode: m, .. } | Node::Dir { mode: m, .. }) => {
                *m = mode.0;
                true
            }
            _ => false,
        },
        FileOp::Chown { path, owner, .. } => match model.get_mut(path.as_str()) {
            // As Linux: a file loses set-user-ID, and set-group-ID when group-executable.
            Some(Node::File { uid, gid, mode, .. }) => {
                *uid = owner.uid;
                *gid = owner.gid;
                *mode &= if *mode & 0o010 != 0 { !0o6000 } else { !0o4000 };
                true
            }
            Some(Node::Dir { uid, gid, .. }) => {
                *uid = owner.uid;
                *gid = owner.gid;
                true
            }
            _ => false,
        },
        _ => false,
    }
}

fn path_strategy() -> impl Strategy<Value = String> {
    prop_oneof![
        (0..MANY + 40).prop_map(|i| format!("/srv/many/entry-{i:04}")),
        (1..330usize).prop_map(|i| format!("/etc/package-{i:03}.conf")),
        prop::sample::select(vec![
            "/srv/tree/a",
            "/srv/tree/a/b",
            "/srv/tree/a/b/c",
            "/srv/tree/x",
            "/srv/tree/a/f",
            "/etc/piimage.d",
            "/etc/piimage.d/x.conf"
        ])
        .prop_map(str::to_string),
    ]
}

fn link_path() -> impl Strategy<Value = String> {
    (0..4usize).prop_map(|i| format!("/srv/tree/link{i}"))
}

fn content() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        prop::collection::vec(any::<u8>(), 0..64),
        (1usize..12_000, any::<u8>()).prop_map(|(n, b)| vec![b; n]),
    ]
}

fn mode() -> impl Strategy<Value = u32> {
    prop::sample::select(vec![
        0o600, 0o640, 0o644, 0o700, 0o750, 0o755, 0o4755, 0o1777,
    ])
}

fn op() -> impl Strategy<Value = FileOp> {
    let fs = Target::Root;
    prop_oneof![
        4 => (path_strategy(), content(), prop::option::of(mode()), prop::option::of((0u32..2000, 0u32..2000))).prop_map(move |(path, data, mode, owner)| FileOp::Write {
            fs, path, content: bytes(data), mode: mode.map(Mode), owner: owner.map(|(uid, gid)| Owner { uid, gid })
        }),
        2 => (path_strategy(), content()).prop_map(move |(path, data)| FileOp::Append { fs, path, content: bytes(data) }),
        2 => (path_strategy(), prop::option::of(mode())).prop_map(move |(path, mode)| FileOp::Mkdir { fs, path, mode: mode.map(Mode), owner: None }),
        1 => (link_path(), "[a-z/.]{1,80}").prop_map(move |(path, target)| FileOp::Symlink { fs, path, target, owner: None }),
        2 => prop_oneof![path_strategy(), link_path(), Just("/srv/tree".to_string())].prop_map(move |path| FileOp::Remove { fs, path }),
        1 => (path_strategy(), mode()).prop_map(move |(path, mode)| FileOp::Chmod { fs, path, mode: Mode(mode) }),
        1 => (path_strategy(), 0u32..70000, 0u32..70000).prop_map(move |(path, uid, gid)| FileOp::Chown { fs, path, owner: Owner { uid, gid } }),
    ]
}

fn bytes(data: Vec<u8>) -> Content {
    use base64::Engine;
    Content::Base64 {
        base64: base64::engine::general_purpose::STANDARD.encode(data),
    }
}

/// Reads a dumped tree into the model's shape.
fn load(host_root: &Path, image_dir: &str, model: &mut Model) {
    fn walk(host: &Path, image: &str, model: &mut Model) {
        let meta = std::fs::symlink_metadata(host).unwrap();
        let node = if meta.file_type().is_symlink() {
            Node::Link {
                target: std::fs::read_link(host)
                    .unwrap()
                    .to_string_lossy()
                    .into_owned(),
            }
        } else if meta.is_dir() {
            for entry in std::fs::read_dir(host).unwrap() {
                let entry = entry.unwrap();
                walk(
                    &entry.path(),
                    &format!("{image}/{}", entry.file_name().to_string_lossy()),
                    model,
                );
            }
            Node::Dir {
                mode: meta.permissions().mode() & 0o7777,
                uid: meta.uid(),
                gid: meta.gid(),
            }
        } else {
            Node::File {
                data: std::fs::read(host).unwrap(),
                mode: meta.permissions().mode() & 0o7777,
                uid: meta.uid(),
                gid: meta.gid(),
            }
        };
        model.insert(image.to_string(), node);
    }
    let name = image_dir.rsplit('/').next().unwrap();
    walk(&host_root.join(name), image_dir, model);
}

fn dump(image: &Path, dirs: &[&str]) -> Model {
    let judge = Ext4Judge::new(image, 2);
    let host = tempfile::tempdir().unwrap();
    let mut model = Model::new();
    for dir in dirs {
        let into = host
            .path()
            .join(dir.trim_start_matches('/').replace('/', "_"));
        std::fs::create_dir_all(&into).unwrap();
        judge.rdump(dir, &into);
        load(&into, dir, &mut model);
    }
    // Modes and owners from the filesystem's own listing: rdump drops sticky and set-id bits.
    let dirs: Vec<String> = model
        .iter()
        .filter(|(_, n)| matches!(n, Node::Dir { .. }))
        .map(|(p, _)| p.clone())
        .collect();
    for dir in dirs {
        for (name, mode, uid, gid) in judge.list(&dir) {
            if let Some(
                Node::File {
                    mode: m,
                    uid: u,
                    gid: g,
                    ..
                }
                | Node::Dir {
                    mode: m,
                    uid: u,
                    gid: g,
                },
            ) = model.get_mut(&format!("{dir}/{name}"))
            {
                (*m, *u, *g) = (mode, uid, gid);
            }
        }
    }
    model
}

fn run(fixture: Fixture, ops: Vec<FileOp>) -> Result<(), TestCaseError> {
    let base = fixture.build();
    // Start from a base with /srv/many holding 520 entries: a directory ext4 must index.
    let mut setup: Vec<FileOp> = (0..MANY)
        .map(|i| FileOp::Write {
            fs: Target::Root,
            path: format!("/srv/many/entry-{i:04}"),
            content: Content::Text(format!("{i}\n")),
            mode: None,
            owner: None,
        })
        .collect();
    setup.push(FileOp::Mkdir {
        fs: Target::Root,
        path: "/srv/tree".into(),
        mode: None,
        owner: None,
    });
    let dir = tempfile::tempdir().unwrap();
    let seeded = dir.path().join("seeded.img");
    let mut image = Image::open(&base).unwrap();
    image.apply(&setup, Epoch(1_700_000_000)).unwrap();
    image.write_to(&seeded).unwrap();

    let mut model = dump(&seeded, &["/srv", "/etc"]);
    let valid: Vec<FileOp> = ops.into_iter().filter(|op| step(&mut model, op)).collect();
    let mut image = Image::open(&seeded).unwrap();
    image
        .apply(&valid, Epoch(1_700_000_100))
        .map_err(|e| TestCaseError::fail(format!("{e}\nops: {valid:#?}")))?;
    let out = dir.path().join("out.img");
    image.write_to(&out).unwrap();

    let verdict = e2fsck(&out, 2);
    prop_assert!(
        verdict.clean,
        "e2fsck -fn:\n{}\nops: {valid:#?}",
        verdict.output
    );
    let actual = dump(&out, &["/srv", "/etc"]);
    if actual != model {
        let diff: Vec<String> = model
            .keys()
            .chain(actual.keys())
            .collect::<std::collections::BTreeSet<_>>()
            .into_iter()
            .filter(|k| model.get(*k) != actual.get(*k))
            .take(10)
            .map(|k| {
                format!(
                    "{k}: expected {:?}, got {:?}",
                    short(model.get(k)),
                    short(actual.get(k))
                )
            })
            .collect();
        return Err(TestCaseError::fail(format!(
            "tree differs from the model:\n{}\nops: {valid:#?}",
            diff.join("\n")
        )));
    }
    Ok(())
}

fn short(node: Option<&Node>) -> String {
    match node {
        Some(Node::File {
            data,
            mode,
            uid,
            gid,
        }) => format!("file {} bytes {mode:o} {uid}:{gid}", data.len()),
        other => format!("{other:?}"),
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 12, max_shrink_iters: 64, ..ProptestConfig::default() })]

    #[test]
    fn random_ops_on_4k_checksummed_ext4(ops in prop::collection::vec(op(), 1..40)) {
        run(Fixture::new("bookworm"), ops)?;
    }

    #[test]
    fn random_ops_on_1k_plain_ext4(ops in prop::collection::vec(op(), 1..40)) {
        run(Fixture::new("bullseye").block_size(1024).metadata_csum(false), ops)?;
    }
}
