//! cloud-init's `user-data` on the boot partition (Raspberry Pi OS trixie, HypriotOS): the
//! base's own, with this node's hostname, cloud-init told to leave /etc/hosts alone (bake
//! writes it for the whole cluster), and no accounts of its own: bake makes the inventory's
//! users, and a flavour's stock user (HypriotOS's `pirate`, password `hypriot`) must not come
//! back at first boot. Password login follows the inventory; host keys are bake's.

use super::Context;
use crate::error::{Error, Result};
use crate::fileop::{Content, FileOp, Target};

pub(super) fn user_data(cx: &Context) -> Result<Vec<FileOp>> {
    let node = cx.node;
    // A base whose user-data does not parse would lose what it says: refuse, naming it.
    let invalid = |detail: String| Error::Invalid {
        what: "the base image's boot partition: /user-data".into(),
        detail,
    };
    let mut doc = match &cx.facts.user_data {
        Some(text) => match serde_yaml_ng::from_str(text)
            .map_err(|e| invalid(format!("not YAML cloud-init can read: {e}")))?
        {
            serde_yaml_ng::Value::Mapping(doc) => doc,
            // Only comments (`#cloud-config` and nothing else).
            serde_yaml_ng::Value::Null => serde_yaml_ng::Mapping::new(),
            _ => return Err(invalid("a cloud-config must be a mapping of keys".into())),
        },
        None => serde_yaml_ng::Mapping::new(),
    };
    doc.insert("hostname".into(), node.name.clone().into());
    doc.insert("manage_etc_hosts".into(), false.into());
    for key in ["user", "password", "chpasswd"] {
        doc.remove(key);
    }
    // No users, not even the distribution's default one: an empty mapping, which every
    // cloud-init reads as none (`ug_util._normalize_users`); an empty list is "too short"
    // for cloud-init 22.4's schema.
    doc.insert(
        "users".into(),
        serde_yaml_ng::Value::Mapping(Default::default()),
    );
    doc.insert("ssh_pwauth".into(), node.password_authentication.into());
    // Bake provides the host keys: cloud-init must not delete them, and it makes only the
    // types of `ssh_genkeytypes` that are missing (cc_ssh), so naming the one type bake
    // writes makes none. (An empty list is "too short" for cloud-init's schema.)
    doc.insert("ssh_deletekeys".into(), false.into());
    doc.insert(
        "ssh_genkeytypes".into(),
        serde_yaml_ng::Value::Sequence(vec!["ed25519".into()]),
    );
    let body = serde_yaml_ng::to_string(&doc).map_err(|e| Error::Invalid {
        what: "cloud-init user-data".into(),
        detail: e.to_string(),
    })?;
    Ok(vec![FileOp::Write {
        fs: Target::Boot,
        path: "/user-data".into(),
        content: Content::Text(format!("#cloud-config\n{body}")),
        mode: None,
        owner: None,
    }])
}
