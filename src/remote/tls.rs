//! TLS to the gateway: a certificate is known by its SHA-256 fingerprint (`sha256:HEX` of its
//! DER bytes); a client that was given one checks the gateway's against it instead of the web's
//! roots (a `--dev` gateway's certificate is self-signed).

use crate::{Error, Result};
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{DigitallySignedStruct, SignatureScheme};
use std::sync::Arc;

/// `sha256:` and the hex of the certificate's SHA-256.
pub fn fingerprint(cert: &[u8]) -> String {
    format!("sha256:{}", hex::encode(crate::crypto::sha256(cert)))
}

/// A fingerprint as given on the command line: `sha256:HEX` (case and `:` between bytes
/// ignored), normalized.
pub fn parse_fingerprint(s: &str) -> Result<String> {
    let hexed = s.trim().strip_prefix("sha256:").unwrap_or(s.trim()).replace(':', "").to_ascii_lowercase();
    let mut d = [0u8; 32];
    hex::decode_to_slice(&hexed, &mut d)
        .map_err(|_| Error::Usage(format!("{s:?} is not a certificate fingerprint (sha256: and 64 hex digits)")))?;
    Ok(format!("sha256:{}", hex::encode(d)))
}

pub(crate) fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// Accepts exactly the certificate with this fingerprint (its signatures still checked).
#[derive(Debug)]
struct Pinned {
    fingerprint: String,
    provider: Arc<rustls::crypto::CryptoProvider>,
}

impl ServerCertVerifier for Pinned {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp: &[u8],
        _now: UnixTime,
    ) -> std::result::Result<ServerCertVerified, rustls::Error> {
        let got = fingerprint(end_entity);
        if crate::crypto::ct_eq(got.as_bytes(), self.fingerprint.as_bytes()) {
            Ok(ServerCertVerified::assertion())
        } else {
            Err(rustls::Error::General(format!(
                "the gateway's certificate is {got}, not the {} given with --gateway-fingerprint",
                self.fingerprint
            )))
        }
    }
    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> std::result::Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.provider.signature_verification_algorithms)
    }
    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> std::result::Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.provider.signature_verification_algorithms)
    }
    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.provider.signature_verification_algorithms.supported_schemes()
    }
}

/// An HTTPS client for the gateway: pinned to `fingerprint` when one is given, else checking
/// the certificate against the web's roots. No proxy (the gateway's answers carry credentials).
pub fn client(fingerprint: Option<&str>, timeout: std::time::Duration) -> Result<reqwest::Client> {
    let b = reqwest::Client::builder().timeout(timeout).no_proxy();
    let b = match fingerprint {
        Some(f) => {
            let provider = provider();
            let cfg = rustls::ClientConfig::builder_with_provider(provider.clone())
                .with_safe_default_protocol_versions()
                .map_err(|e| Error::Other(format!("TLS: {e}")))?
                .dangerous()
                .with_custom_certificate_verifier(Arc::new(Pinned { fingerprint: parse_fingerprint(f)?, provider }))
                .with_no_client_auth();
            b.use_preconfigured_tls(cfg)
        }
        None => b,
    };
    b.build().map_err(|e| Error::Other(format!("HTTPS client: {e}")))
}
