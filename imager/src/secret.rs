//! The cluster secret: 32 random bytes kept beside the inventory (mode 0600), made on first
//! use. Everything a node needs that must be secret but the same on every bake (SSH host
//! keys) is derived from it and the node's name, so no key is generated on a Pi at first
//! boot and nobody has to trust a key on first use.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

use crate::error::{Error, Result};

pub struct ClusterSecret {
    bytes: [u8; 32],
}

/// A node's SSH host key, in the files sshd reads.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostKey {
    /// `/etc/ssh/ssh_host_ed25519_key` (OpenSSH format).
    pub private_openssh: String,
    /// `ssh-ed25519 AAAA… root@NODE`.
    pub public_openssh: String,
    pub fingerprint: String,
}

impl ClusterSecret {
    /// The secret file for an inventory: `NAME.secret` beside `NAME.yaml`.
    pub fn path_for(inventory: &Path) -> PathBuf {
        inventory.with_extension("secret")
    }

    /// Reads the secret, or makes one (from the OS's random source) if the file is absent.
    /// Returns whether it was made now.
    pub fn load_or_create(path: &Path) -> Result<(ClusterSecret, bool)> {
        match std::fs::read_to_string(path) {
            Ok(text) => {
                let bytes = hex::decode(text.trim())
                    .ok()
                    .and_then(|b| <[u8; 32]>::try_from(b).ok())
                    .ok_or_else(|| Error::Invalid {
                        what: path.display().to_string(),
                        detail: "not a cluster secret (64 hex digits)".into(),
                    })?;
                Ok((ClusterSecret { bytes }, false))
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                let mut bytes = [0u8; 32];
                std::fs::File::open("/dev/urandom")
                    .and_then(|mut f| f.read_exact(&mut bytes))
                    .map_err(|e| Error::io("/dev/urandom", e))?;
                let dir = path
                    .parent()
                    .filter(|p| !p.as_os_str().is_empty())
                    .unwrap_or(Path::new("."));
                let mut tmp =
                    tempfile::NamedTempFile::new_in(dir).map_err(|e| Error::io(dir, e))?; // created 0600
                writeln!(tmp, "{}", hex::encode(bytes)).map_err(|e| Error::io(tmp.path(), e))?;
                tmp.persist_noclobber(path)
                    .map_err(|e| Error::io(path, e.error))?;
                Ok((ClusterSecret { bytes }, true))
            }
            Err(e) => Err(Error::io(path, e)),
        }
    }

    /// A secret from known bytes (tests, and `ClusterSecret::load_or_create`).
    pub fn from_bytes(bytes: [u8; 32]) -> ClusterSecret {
        ClusterSecret { bytes }
    }

    /// 32 bytes for one purpose and one name, from the secret (other modules' keys).
    pub(crate) fn derive_seed(&self, purpose: &str, name: &str) -> [u8; 32] {
        self.derive(purpose, name)
    }

    fn derive(&self, purpose: &str, node: &str) -> [u8; 32] {
        Sha256::new()
            .chain_update(b"piimage\0")
            .chain_update(purpose)
            .chain_update(b"\0")
            .chain_update(self.bytes)
            .chain_update(node)
            .finalize()
            .into()
    }

    /// A crypt(3) SHA-512 hash (`$6$…`) of a plaintext password, its salt derived from the
    /// secret, the node and the user: the same hash on every bake, different per account.
    pub fn password_hash(&self, node: &str, user: &str, password: &str) -> Result<String> {
        const ALPHABET: &[u8] = b"./0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
        let seed = self.derive("password-salt", &format!("{node}\0{user}"));
        let salt: String = seed
            .iter()
            .take(16)
            .map(|b| ALPHABET[usize::from(*b) % ALPHABET.len()] as char)
            .collect();
        let hash = sha_crypt::sha512_crypt_b64(
            password.as_bytes(),
            salt.as_bytes(),
            &sha_crypt::Sha512Params::default(),
        )
        .map_err(|e| Error::Invalid {
            what: format!("password of {user} on {node}"),
            detail: format!("{e:?}"),
        })?;
        Ok(format!("$6${salt}${hash}"))
    }

    /// The node's Ed25519 host key: the same for the same secret and name, different per node.
    pub fn host_key(&self, node: &str) -> Result<HostKey> {
        let keypair =
            ssh_key::private::Ed25519Keypair::from_seed(&self.derive("ssh-host-ed25519", node));
        let key = ssh_key::PrivateKey::new(
            ssh_key::private::KeypairData::Ed25519(keypair),
            format!("root@{node}"),
        )
        .map_err(|e| Error::Invalid {
            what: format!("host key of {node}"),
            detail: e.to_string(),
        })?;
        let private_openssh = key
            .to_openssh(ssh_key::LineEnding::LF)
            .map_err(|e| Error::Invalid {
                what: format!("host key of {node}"),
                detail: e.to_string(),
            })?
            .to_string();
        let public = key.public_key();
        let public_openssh = public.to_openssh().map_err(|e| Error::Invalid {
            what: format!("host key of {node}"),
            detail: e.to_string(),
        })?;
        Ok(HostKey {
            private_openssh,
            public_openssh,
            fingerprint: public.fingerprint(ssh_key::HashAlg::Sha256).to_string(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_keys_are_stable_and_distinct() {
        let secret = ClusterSecret::from_bytes([7; 32]);
        let a = secret.host_key("p1").unwrap();
        assert_eq!(
            a,
            secret.host_key("p1").unwrap(),
            "same secret and node, same key"
        );
        assert_ne!(
            a.public_openssh,
            secret.host_key("p2").unwrap().public_openssh
        );
        assert_ne!(
            a.public_openssh,
            ClusterSecret::from_bytes([8; 32])
                .host_key("p1")
                .unwrap()
                .public_openssh
        );
        assert!(a
            .private_openssh
            .starts_with("-----BEGIN OPENSSH PRIVATE KEY-----\n"));
        assert!(
            a.public_openssh.starts_with("ssh-ed25519 ") && a.public_openssh.ends_with(" root@p1")
        );
    }

    #[test]
    fn password_hash_is_what_openssl_makes_with_that_salt() {
        let hash = ClusterSecret::from_bytes([7; 32])
            .password_hash("p1", "pi", "raspberry")
            .unwrap();
        let salt = hash.split('$').nth(2).unwrap();
        let out = std::process::Command::new("openssl")
            .args(["passwd", "-6", "-salt", salt, "raspberry"])
            .output()
            .unwrap();
        assert_eq!(String::from_utf8(out.stdout).unwrap().trim(), hash);
        assert_ne!(
            hash,
            ClusterSecret::from_bytes([7; 32])
                .password_hash("p2", "pi", "raspberry")
                .unwrap()
        );
    }

    #[test]
    fn secret_file_is_made_once_and_private() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let path = ClusterSecret::path_for(&dir.path().join("lab.yaml"));
        let (first, made) = ClusterSecret::load_or_create(&path).unwrap();
        assert!(made);
        assert_eq!(
            std::fs::metadata(&path).unwrap().permissions().mode() & 0o777,
            0o600
        );
        let (again, made) = ClusterSecret::load_or_create(&path).unwrap();
        assert!(!made);
        assert_eq!(first.bytes, again.bytes);
    }
}
