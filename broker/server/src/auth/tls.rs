//! The listener's TLS identity (rustls with the `ring` provider): certificates and key read
//! from PEM files at start, an acceptor for client connections and, given a CA file, a
//! connector for this broker's own connections to the others.

use std::path::Path;
use std::sync::Arc;

use rustls_pki_types::pem::PemObject as _;
use rustls_pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use tokio_rustls::rustls::{self, ClientConfig, RootCertStore, ServerConfig};
use tokio_rustls::{TlsAcceptor, TlsConnector};

use super::TlsFiles;
use crate::error::{Error, Result};

#[derive(Clone)]
pub(crate) struct Tls {
    acceptor: TlsAcceptor,
    connector: Option<TlsConnector>,
}

fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

fn certs(path: &Path, what: &str) -> Result<Vec<CertificateDer<'static>>> {
    let certs: Vec<_> = CertificateDer::pem_file_iter(path)
        .and_then(|it| it.collect::<Result<Vec<_>, _>>())
        .map_err(|e| Error::Config(format!("{what} {}: {e}", path.display())))?;
    if certs.is_empty() {
        return Err(Error::Config(format!(
            "{what} {}: no PEM certificate in it",
            path.display()
        )));
    }
    Ok(certs)
}

fn roots(path: &Path) -> Result<RootCertStore> {
    let mut roots = RootCertStore::empty();
    for c in certs(path, "TLS CA file")? {
        roots
            .add(c)
            .map_err(|e| Error::Config(format!("TLS CA file {}: {e}", path.display())))?;
    }
    Ok(roots)
}

impl Tls {
    pub(crate) fn load(files: &TlsFiles) -> Result<Tls> {
        let chain = certs(&files.cert, "TLS certificate file")?;
        let key = PrivateKeyDer::from_pem_file(&files.key)
            .map_err(|e| Error::Config(format!("TLS key file {}: {e}", files.key.display())))?;
        let bad = |e: rustls::Error| Error::Config(format!("TLS settings: {e}"));
        let server = ServerConfig::builder_with_provider(provider())
            .with_safe_default_protocol_versions()
            .map_err(bad)?;
        let server = if files.client_auth {
            let ca = files.ca.as_deref().ok_or_else(|| {
                Error::Config(
                    "required TLS client authentication needs --tls-ca-file (the CA that issues \
                     client certificates)"
                        .into(),
                )
            })?;
            let verifier = rustls::server::WebPkiClientVerifier::builder_with_provider(
                Arc::new(roots(ca)?),
                provider(),
            )
            .build()
            .map_err(|e| Error::Config(format!("TLS client verification: {e}")))?;
            server.with_client_cert_verifier(verifier)
        } else {
            server.with_no_client_auth()
        };
        let server = server
            .with_single_cert(chain.clone(), key.clone_key())
            .map_err(|e| {
                Error::Config(format!(
                    "TLS certificate {} and key {} do not make an identity: {e}",
                    files.cert.display(),
                    files.key.display()
                ))
            })?;
        let connector = match &files.ca {
            None => None,
            Some(ca) => {
                let client = ClientConfig::builder_with_provider(provider())
                    .with_safe_default_protocol_versions()
                    .map_err(bad)?
                    .with_root_certificates(roots(ca)?);
                // Under required client authentication, the brokers present their own
                // certificate to each other.
                let client = if files.client_auth {
                    client.with_client_auth_cert(chain, key).map_err(bad)?
                } else {
                    client.with_no_client_auth()
                };
                Some(TlsConnector::from(Arc::new(client)))
            }
        };
        Ok(Tls {
            acceptor: TlsAcceptor::from(Arc::new(server)),
            connector,
        })
    }

    pub(crate) fn acceptor(&self) -> &TlsAcceptor {
        &self.acceptor
    }

    pub(crate) fn can_connect(&self) -> bool {
        self.connector.is_some()
    }

    /// Opens TLS to another broker at `host`, checking its certificate against the CA file.
    pub(crate) async fn connect(
        &self,
        host: &str,
        tcp: tokio::net::TcpStream,
    ) -> std::io::Result<tokio_rustls::client::TlsStream<tokio::net::TcpStream>> {
        let connector = self.connector.as_ref().ok_or_else(|| {
            std::io::Error::other("no --tls-ca-file to check the other broker's certificate")
        })?;
        let name = ServerName::try_from(host.to_string()).map_err(std::io::Error::other)?;
        connector.connect(name, tcp).await
    }
}
