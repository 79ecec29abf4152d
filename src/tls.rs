//! HTTPS on the S3 listener: the certificate chain and private key, read from
//! PEM files at startup and again on every SIGHUP.
//!
//! Each handshake asks [`Certificate`] for the key pair to present, and it
//! answers with the one it holds behind an `ArcSwap`. A reload swaps in the
//! new pair for the handshakes to come; connections already open keep the
//! session keys they agreed on, so none is dropped. A reload that fails (a
//! missing file, a key that is not the certificate's) keeps the old pair.

use std::sync::Arc;

use anyhow::{Context, bail};
use arc_swap::ArcSwap;
use rustls::crypto::CryptoProvider;
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use tokio_rustls::TlsAcceptor;

use crate::config::TlsFiles;

/// The key pair handshakes present, reloadable from its files.
#[derive(Debug)]
pub struct Certificate {
    files: TlsFiles,
    provider: Arc<CryptoProvider>,
    current: ArcSwap<CertifiedKey>,
}

impl Certificate {
    /// Reads the files; an error here stops the server from starting.
    pub fn load(files: TlsFiles) -> anyhow::Result<Arc<Certificate>> {
        // Named, not the process default: the tests link rustls with a second
        // provider, and with two rustls refuses to pick a default.
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let current = ArcSwap::from_pointee(read(&files, &provider)?);
        Ok(Arc::new(Certificate {
            files,
            provider,
            current,
        }))
    }

    /// The acceptor for the listener: TLS 1.2 and 1.3, HTTP/1.1 offered
    /// through ALPN (the server speaks nothing else; see `server.rs`).
    pub fn acceptor(self: &Arc<Self>) -> anyhow::Result<TlsAcceptor> {
        let mut config = rustls::ServerConfig::builder_with_provider(Arc::clone(&self.provider))
            .with_safe_default_protocol_versions()?
            .with_no_client_auth()
            .with_cert_resolver(Arc::clone(self) as Arc<dyn ResolvesServerCert>);
        config.alpn_protocols = vec![b"http/1.1".to_vec()];
        Ok(TlsAcceptor::from(Arc::new(config)))
    }

    /// Reads the files again and serves the new pair from the next handshake
    /// on; on any error, logs it and keeps serving the old one.
    pub fn reload(&self) {
        match read(&self.files, &self.provider) {
            Ok(pair) => {
                self.current.store(Arc::new(pair));
                tracing::info!(cert = %self.files.cert.display(), "reloaded the TLS certificate");
            }
            Err(err) => tracing::error!(
                cert = %self.files.cert.display(),
                "keeping the TLS certificate in use: {err:#}"
            ),
        }
    }
}

impl ResolvesServerCert for Certificate {
    fn resolve(&self, _: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        Some(self.current.load_full())
    }
}

/// The chain and key from their files, checked to belong together.
fn read(files: &TlsFiles, provider: &CryptoProvider) -> anyhow::Result<CertifiedKey> {
    let cert = files.cert.display();
    let key = files.key.display();
    let chain = CertificateDer::pem_file_iter(&files.cert)
        .and_then(|certs| certs.collect::<Result<Vec<_>, _>>())
        .with_context(|| format!("reading the TLS certificate {cert}"))?;
    if chain.is_empty() {
        bail!("no certificate (PEM `BEGIN CERTIFICATE`) in {cert}");
    }
    let private_key =
        PrivateKeyDer::from_pem_file(&files.key).with_context(|| format!("reading the TLS private key {key}"))?;
    CertifiedKey::from_der(chain, private_key, provider)
        .with_context(|| format!("pairing the TLS private key {key} with the certificate {cert}"))
}
