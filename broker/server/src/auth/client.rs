//! This broker's own connections to the other brokers (replica fetches, coordinator calls):
//! TLS when the listener has it, then SASL as the inter-broker user, with the strongest
//! mechanism the listener enables (SCRAM-SHA-512, SCRAM-SHA-256, then PLAIN).

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt as _, ReadBuf};
use tokio::net::TcpStream;
use weir_protocol::kafka::messages::{
    ApiKey, SaslAuthenticateRequest, SaslAuthenticateResponse, SaslHandshakeRequest,
    SaslHandshakeResponse,
};
use weir_protocol::kafka::protocol::{Decodable, Encodable, StrBytes};

use super::{Mechanism, Security, scram};

const CLIENT_ID: &str = "weir-broker";
const MAX_RESPONSE_BYTES: usize = 1 << 20;

/// A connection to another broker, with or without TLS.
pub(crate) enum BrokerStream {
    Tcp(TcpStream),
    Tls(Box<tokio_rustls::client::TlsStream<TcpStream>>),
}

impl AsyncRead for BrokerStream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        match self.get_mut() {
            BrokerStream::Tcp(s) => Pin::new(s).poll_read(cx, buf),
            BrokerStream::Tls(s) => Pin::new(s.as_mut()).poll_read(cx, buf),
        }
    }
}

impl AsyncWrite for BrokerStream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            BrokerStream::Tcp(s) => Pin::new(s).poll_write(cx, buf),
            BrokerStream::Tls(s) => Pin::new(s.as_mut()).poll_write(cx, buf),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            BrokerStream::Tcp(s) => Pin::new(s).poll_flush(cx),
            BrokerStream::Tls(s) => Pin::new(s.as_mut()).poll_flush(cx),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            BrokerStream::Tcp(s) => Pin::new(s).poll_shutdown(cx),
            BrokerStream::Tls(s) => Pin::new(s.as_mut()).poll_shutdown(cx),
        }
    }
}

/// Connects to the broker listening at `host:port` and authenticates as the listener
/// requires, all within `timeout`.
pub(crate) async fn connect(
    security: &Security,
    host: &str,
    port: u16,
    timeout: Duration,
) -> io::Result<BrokerStream> {
    tokio::time::timeout(timeout, async {
        let tcp = TcpStream::connect((host, port)).await?;
        tcp.set_nodelay(true)?;
        let mut stream = match security.tls() {
            Some(tls) => BrokerStream::Tls(Box::new(tls.connect(host, tcp).await?)),
            None => BrokerStream::Tcp(tcp),
        };
        if security.protocol.uses_sasl() {
            authenticate(security, &mut stream).await?;
        }
        Ok(stream)
    })
    .await
    .map_err(|_| io::Error::new(io::ErrorKind::TimedOut, "connect timed out"))?
}

async fn exchange<Req: Encodable, Resp: Decodable>(
    stream: &mut BrokerStream,
    api: ApiKey,
    version: i16,
    correlation: i32,
    req: &Req,
) -> io::Result<Resp> {
    let frame = weir_protocol::encode_request(api, version, correlation, CLIENT_ID, req)
        .map_err(io::Error::other)?;
    stream.write_all(&frame).await?;
    // TLS keeps what the socket did not take in its buffer until flushed.
    stream.flush().await?;
    let reply = weir_protocol::read_frame(stream, MAX_RESPONSE_BYTES)
        .await
        .map_err(io::Error::other)?
        .ok_or_else(|| io::Error::other("the broker closed the connection during SASL"))?;
    let (_, resp) =
        weir_protocol::decode_response::<Resp>(api, version, reply).map_err(io::Error::other)?;
    Ok(resp)
}

async fn authenticate(security: &Security, stream: &mut BrokerStream) -> io::Result<()> {
    let user = security
        .inter_broker_user
        .as_deref()
        .ok_or_else(|| io::Error::other("no inter-broker user configured"))?;
    let password = security
        .users
        .get(user)
        .map(|u| u.password.clone())
        .ok_or_else(|| io::Error::other("the inter-broker user is not a SASL user"))?;
    let mechanism = [
        Mechanism::ScramSha512,
        Mechanism::ScramSha256,
        Mechanism::Plain,
    ]
    .into_iter()
    .find(|m| security.mechanisms.contains(m))
    .ok_or_else(|| io::Error::other("no SASL mechanism enabled"))?;
    let hs: SaslHandshakeResponse = exchange(
        stream,
        ApiKey::SaslHandshake,
        1,
        1,
        &SaslHandshakeRequest::default()
            .with_mechanism(StrBytes::from_static_str(mechanism.name())),
    )
    .await?;
    if hs.error_code != 0 {
        return Err(io::Error::other(format!(
            "SaslHandshake {} refused: error {}",
            mechanism.name(),
            hs.error_code
        )));
    }
    let step = async |stream: &mut BrokerStream, correlation: i32, bytes: Vec<u8>| {
        let resp: SaslAuthenticateResponse = exchange(
            stream,
            ApiKey::SaslAuthenticate,
            2,
            correlation,
            &SaslAuthenticateRequest::default().with_auth_bytes(Bytes::from(bytes)),
        )
        .await?;
        if resp.error_code != 0 {
            return Err(io::Error::other(format!(
                "SASL authentication as {user} failed: error {}: {}",
                resp.error_code,
                resp.error_message.as_deref().unwrap_or("")
            )));
        }
        Ok(resp.auth_bytes)
    };
    let hash = match mechanism {
        Mechanism::Plain => {
            step(stream, 2, format!("\0{user}\0{password}").into_bytes()).await?;
            return Ok(());
        }
        Mechanism::ScramSha256 => scram::Hash::Sha256,
        Mechanism::ScramSha512 => scram::Hash::Sha512,
    };
    let (client, first) = scram::Client::start(hash, user, &password).map_err(io::Error::other)?;
    let server_first = step(stream, 2, first).await?;
    let (fin, expected) = client
        .respond(&server_first)
        .map_err(|e| io::Error::other(e.0))?;
    let server_final = step(stream, 3, fin).await?;
    if server_final.as_ref() != expected.as_slice() {
        return Err(io::Error::other(
            "the other broker's SCRAM signature does not match: not the broker it claims to be",
        ));
    }
    Ok(())
}
