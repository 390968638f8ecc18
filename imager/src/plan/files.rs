//! The inventory's `files:`, byte for byte: text as it is, a binary source as base64, with
//! the mode and owner asked for (an owner named by user or group of the image, as it is after
//! users.rs has made the inventory's users).

use super::accounts::Accounts;
use super::Context;
use crate::error::{Error, Result};
use crate::fileop::{Content, FileOp, Mode, Target};

pub(super) fn ops(cx: &Context, accounts: &Accounts) -> Result<Vec<FileOp>> {
    let mut ops = Vec::new();
    for f in &cx.node.files {
        let content = match (&f.content, &f.source_bytes) {
            (Some(text), _) => Content::Text(text.clone()),
            (None, Some(bytes)) => match std::str::from_utf8(bytes) {
                Ok(text) => Content::Text(text.to_string()),
                Err(_) => {
                    use base64::Engine;
                    Content::Base64 {
                        base64: base64::engine::general_purpose::STANDARD.encode(bytes),
                    }
                }
            },
            (None, None) => Content::Text(String::new()),
        };
        // The inventory's checks made sure a given mode is octal.
        let mode = f
            .mode
            .as_deref()
            .and_then(|m| u32::from_str_radix(m, 8).ok())
            .unwrap_or(0o644);
        let owner = match &f.owner {
            Some(spec) => Some(accounts.owner(spec).ok_or_else(|| Error::Invalid {
                what: format!("files {}", f.path),
                detail: format!("owner `{spec}`: no such user or group in the image"),
            })?),
            None => None,
        };
        ops.push(FileOp::Write {
            fs: Target::Root,
            path: f.path.clone(),
            content,
            mode: Some(Mode(mode)),
            owner,
        });
    }
    Ok(ops)
}
