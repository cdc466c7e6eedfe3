//! The gateway's certificate: from PEM files (`--cert`, `--key`), or (`--dev`) a self-signed one
//! made at start for `localhost` and 127.0.0.1, kept in memory only, whose fingerprint clients
//! pin (`sslx login --gateway-fingerprint`).

use crate::remote::tls::{fingerprint, provider};
use crate::{Error, Result};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use std::path::Path;
use std::sync::Arc;

/// The TLS configuration and the fingerprint of the certificate it shows.
pub struct GatewayTls {
    pub config: Arc<rustls::ServerConfig>,
    pub fingerprint: String,
}

fn config(chain: Vec<CertificateDer<'static>>, key: PrivateKeyDer<'static>) -> Result<GatewayTls> {
    let fingerprint =
        fingerprint(chain.first().ok_or_else(|| Error::Usage("the certificate file holds no certificate".into()))?);
    let mut c = rustls::ServerConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .map_err(|e| Error::Other(format!("TLS: {e}")))?
        .with_no_client_auth()
        .with_single_cert(chain, key)
        .map_err(|e| Error::Usage(format!("the certificate and the key do not go together: {e}")))?;
    c.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(GatewayTls { config: Arc::new(c), fingerprint })
}

/// From PEM files; the key file is refused when group or others can read it.
pub fn from_files(cert: &Path, key: &Path) -> Result<GatewayTls> {
    let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(cert)
        .map_err(|e| Error::Usage(format!("{}: {e}", cert.display())))?
        .collect::<std::result::Result<_, _>>()
        .map_err(|e| Error::Usage(format!("{}: not a PEM certificate: {e}", cert.display())))?;
    let text = zeroize::Zeroizing::new(crate::keys::read_secret_file(key)?);
    let key = PrivateKeyDer::from_pem_slice(text.as_bytes())
        .map_err(|e| Error::Usage(format!("{}: not a PEM private key: {e}", key.display())))?;
    config(chain, key)
}

/// A self-signed certificate for `localhost` and 127.0.0.1, made now.
pub fn self_signed() -> Result<GatewayTls> {
    let ck = rcgen::generate_simple_self_signed(vec!["localhost".to_owned(), "127.0.0.1".to_owned()])
        .map_err(|e| Error::Other(format!("making a certificate: {e}")))?;
    let key =
        PrivateKeyDer::try_from(ck.key_pair.serialize_der()).map_err(|e| Error::Other(format!("the key: {e}")))?;
    config(vec![ck.cert.der().clone()], key)
}
