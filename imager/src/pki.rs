//! The cluster's certificate authority for Docker over TCP: a CA, a server certificate per
//! node (its name and address), and one client certificate for the admins. Keys are Ed25519
//! derived from the cluster secret, validity starts at SOURCE_DATE_EPOCH, serials derive from
//! the names: every bake makes the same bytes (Ed25519 signatures are deterministic).

use std::net::{IpAddr, Ipv4Addr};

use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa,
    Issuer, KeyPair, KeyUsagePurpose, SanType, SerialNumber,
};

use crate::error::{Error, Result};
use crate::secret::ClusterSecret;
use crate::Epoch;

/// A certificate and its private key, PEM.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Issued {
    pub cert_pem: String,
    pub key_pem: String,
}

pub struct ClusterCa {
    params: CertificateParams,
    key: KeyPair,
    epoch: Epoch,
    secret_seed: [u8; 32],
}

fn fail(what: &str, e: rcgen::Error) -> Error {
    Error::Invalid {
        what: what.into(),
        detail: e.to_string(),
    }
}

/// An Ed25519 key pair from 32 seed bytes (PKCS#8 v1 wrapping, RFC 8410).
fn ed25519(seed: &[u8; 32], what: &str) -> Result<KeyPair> {
    let mut der = vec![
        0x30, 0x2e, 0x02, 0x01, 0x00, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x04, 0x22, 0x04,
        0x20,
    ];
    der.extend_from_slice(seed);
    KeyPair::from_pkcs8_der_and_sign_algo(&der.into(), &rcgen::PKCS_ED25519)
        .map_err(|e| fail(what, e))
}

fn params(common_name: &str, serial_seed: &[u8; 32], epoch: Epoch) -> Result<CertificateParams> {
    let mut p = CertificateParams::default();
    let (year, month, day, ..) = epoch.civil();
    let year = i32::try_from(year).unwrap_or(1970);
    p.not_before = rcgen::date_time_ymd(year, month as u8, day as u8);
    p.not_after = rcgen::date_time_ymd(year + 20, month as u8, day.min(28) as u8);
    let mut serial = serial_seed[..16].to_vec();
    serial[0] &= 0x7f; // a positive integer
    serial[0] |= 0x01; // and no leading zero byte
    p.serial_number = Some(SerialNumber::from_slice(&serial));
    let mut dn = DistinguishedName::new();
    dn.push(DnType::CommonName, common_name);
    p.distinguished_name = dn;
    Ok(p)
}

impl ClusterCa {
    pub fn new(secret: &ClusterSecret, epoch: Epoch) -> Result<ClusterCa> {
        let key = ed25519(&secret.derive_seed("docker-ca-key", ""), "cluster CA key")?;
        let mut params = params(
            "piimage cluster CA",
            &secret.derive_seed("docker-ca-serial", ""),
            epoch,
        )?;
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.key_usages = vec![
            KeyUsagePurpose::KeyCertSign,
            KeyUsagePurpose::CrlSign,
            KeyUsagePurpose::DigitalSignature,
        ];
        Ok(ClusterCa {
            params,
            key,
            epoch,
            secret_seed: secret.derive_seed("docker-leaf", ""),
        })
    }

    pub fn cert_pem(&self) -> Result<String> {
        Ok(self
            .params
            .self_signed(&self.key)
            .map_err(|e| fail("cluster CA", e))?
            .pem())
    }

    fn issue(&self, name: &str, mut leaf: CertificateParams, key_seed: [u8; 32]) -> Result<Issued> {
        let key = ed25519(&key_seed, name)?;
        leaf.use_authority_key_identifier_extension = true;
        let issuer = Issuer::from_params(&self.params, &self.key);
        let cert = leaf.signed_by(&key, &issuer).map_err(|e| fail(name, e))?;
        Ok(Issued {
            cert_pem: cert.pem(),
            key_pem: key.serialize_pem(),
        })
    }

    fn seed(&self, purpose: &str, name: &str) -> [u8; 32] {
        use sha2::{Digest, Sha256};
        Sha256::new()
            .chain_update(self.secret_seed)
            .chain_update(purpose)
            .chain_update(b"\0")
            .chain_update(name)
            .finalize()
            .into()
    }

    /// The Docker daemon's certificate for `node`: its name, its address, and loopback.
    pub fn server(&self, node: &str, address: Option<Ipv4Addr>) -> Result<Issued> {
        let mut p = params(node, &self.seed("server-serial", node), self.epoch)?;
        let mut sans = vec![
            SanType::DnsName(node.try_into().map_err(|e| fail(node, e))?),
            SanType::DnsName("localhost".try_into().map_err(|e| fail(node, e))?),
            SanType::IpAddress(IpAddr::V4(Ipv4Addr::LOCALHOST)),
        ];
        if let Some(a) = address {
            sans.push(SanType::IpAddress(IpAddr::V4(a)));
        }
        p.subject_alt_names = sans;
        p.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        p.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        self.issue(node, p, self.seed("server-key", node))
    }

    /// The admins' client certificate (`docker --tlsverify` on their machine).
    pub fn client(&self) -> Result<Issued> {
        let mut p = params("piimage admin", &self.seed("client-serial", ""), self.epoch)?;
        p.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        p.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
        self.issue("admin client", p, self.seed("client-key", ""))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_secret_same_certificates() {
        let secret = ClusterSecret::from_bytes([3; 32]);
        let a = ClusterCa::new(&secret, Epoch(1_700_000_000)).unwrap();
        let b = ClusterCa::new(&secret, Epoch(1_700_000_000)).unwrap();
        assert_eq!(a.cert_pem().unwrap(), b.cert_pem().unwrap());
        let addr = Some(Ipv4Addr::new(10, 0, 0, 1));
        assert_eq!(a.server("p1", addr).unwrap(), b.server("p1", addr).unwrap());
        assert_ne!(a.server("p1", addr).unwrap(), a.server("p2", addr).unwrap());
    }
}
