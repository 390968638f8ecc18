//! `users:`: names, password hashes (or a plaintext password only when allowed), OpenSSH
//! public keys, group names.

use super::{place_of, Checker};
use crate::inventory::model::Settings;
use crate::inventory::InventoryError;
use crate::inventory::User;

use super::names::{is_crypt_hash, is_user_name};

pub(super) fn check(
    c: &Checker<'_>,
    name: &str,
    s: &Settings,
) -> Result<Vec<User>, InventoryError> {
    let users = s.users.clone().unwrap_or_default();
    let users_own = c.in_node(name, "users");
    for (i, user) in users.iter().enumerate() {
        let at = || place_of(c, name, users_own, &["users"]);
        let user_err = |message: String| {
            c.err(
                at(),
                Some(name),
                format!("users[{i}] ({}): {message}", user.name),
            )
        };
        if !is_user_name(&user.name) {
            return Err(user_err(
                "not a valid user name (lowercase letters, digits, '-', '_')".into(),
            ));
        }
        if users.iter().filter(|u| u.name == user.name).count() > 1 {
            return Err(user_err("listed twice".into()));
        }
        if let Some(hash) = &user.password_hash {
            if !is_crypt_hash(hash) {
                return Err(user_err("password_hash is not a crypt(3) hash like $6$salt$… (make one with `mkpasswd -m sha-512`)".into()));
            }
        }
        if user.plaintext_password.is_some() && !user.allow_plaintext_password {
            return Err(user_err(
                "plaintext_password needs `allow_plaintext_password: true` (better: password_hash)"
                    .into(),
            ));
        }
        if user.password_hash.is_some() && user.plaintext_password.is_some() {
            return Err(user_err(
                "give password_hash or plaintext_password, not both".into(),
            ));
        }
        for (k, key) in user.ssh_authorized_keys.iter().enumerate() {
            if let Err(e) = key.trim().parse::<ssh_key::PublicKey>() {
                return Err(user_err(format!(
                    "ssh_authorized_keys[{k}] is not an OpenSSH public key ({e})"
                )));
            }
        }
        for group in &user.groups {
            if !is_user_name(group) {
                return Err(user_err(format!("`{group}` is not a valid group name")));
            }
        }
    }
    Ok(users)
}
