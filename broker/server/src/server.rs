//! Sockets: accept Kafka connections and serve each one request at a time, in order, as Kafka
//! does (a client pipelines; responses go back in request order).

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::io::{AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Semaphore;
use tokio::task::JoinSet;
use weir_protocol::kafka::messages::{ApiKey, RequestKind, ResponseKind};
use weir_protocol::{
    Decoded, api_versions_response, decode_request, encode_fetch_spliced, encode_response_into,
    read_frame,
};
use weir_storage::FileSlice;

use crate::broker::Broker;
use crate::config::BrokerConfig;
use crate::handlers::{FetchReply, Reply};
use crate::metrics::ApiLabel;
use crate::{Result, handlers, http};

/// A running broker: its bound addresses and the handle to stop it.
pub struct RunningBroker {
    pub broker: Arc<Broker>,
    pub kafka_addr: SocketAddr,
    pub http_addr: Option<SocketAddr>,
    tasks: JoinSet<()>,
}

impl RunningBroker {
    /// Stops accepting, lets in-flight requests finish (long polls return early), then flushes
    /// and closes every log.
    pub async fn shutdown(mut self) -> Result<()> {
        self.broker.begin_shutdown();
        let deadline = tokio::time::sleep(Duration::from_secs(10));
        tokio::pin!(deadline);
        loop {
            tokio::select! {
                next = self.tasks.join_next() => if next.is_none() { break },
                _ = &mut deadline => {
                    tracing::warn!("connections still open after 10 s; closing anyway");
                    self.tasks.abort_all();
                    break;
                }
            }
        }
        self.broker.close()
    }
}

/// Binds the listeners, opens the data directory and starts serving.
pub async fn start(config: BrokerConfig) -> Result<RunningBroker> {
    if config.quorum.is_some() {
        config.security.check_for_cluster()?;
    }
    let listener = bind(config.listen).await?;
    let kafka_addr = listener.local_addr()?;
    let mut extra = Vec::new();
    for l in &config.extra_listeners {
        let bound = bind(l.listen).await.map_err(|e| {
            crate::Error::Config(format!("listener {} on {}: {e}", l.name, l.listen))
        })?;
        let addr = bound.local_addr()?;
        let advertised = l
            .advertised
            .clone()
            .unwrap_or_else(|| default_advertised(addr));
        extra.push((l.clone(), bound, advertised));
    }
    let http_listener = match config.http_listen {
        Some(addr) => Some(bind(addr).await?),
        None => None,
    };
    let http_addr = http_listener.as_ref().map(|l| l.local_addr()).transpose()?;
    let advertised = config
        .advertised
        .clone()
        .unwrap_or_else(|| default_advertised(kafka_addr));
    let mut advertised_listeners = BTreeMap::new();
    advertised_listeners.insert(config.listener_name.clone(), advertised.clone());
    for (l, _, a) in &extra {
        advertised_listeners.insert(l.name.clone(), a.clone());
    }
    let retention_every = config.retention_check_interval;
    let mut config = config;
    if config.http_advertised.is_none() {
        config.http_advertised = http_addr.map(|a| {
            if a.ip().is_unspecified() {
                format!("{}:{}", advertised.0, a.port())
            } else {
                a.to_string()
            }
        });
    }
    let primary = Arc::new(ListenerContext {
        name: config.listener_name.clone(),
        security: config.security.clone(),
    });
    let broker = Broker::open(config, advertised, advertised_listeners)?;

    let mut tasks = JoinSet::new();
    // `max.connections` for the client listeners together; the inter-broker listener has its
    // own, so that a flood of client connections cannot starve replication.
    let limit = Arc::new(Semaphore::new(broker.config.max_connections));
    let inter_broker_limit = if broker.config.extra_listeners.is_empty() {
        limit.clone()
    } else {
        Arc::new(Semaphore::new(broker.config.max_connections))
    };
    tasks.spawn(accept_loop(
        broker.clone(),
        listener,
        primary,
        inter_broker_limit,
    ));
    for (l, bound, a) in extra {
        tracing::info!(
            listener = l.name,
            bound = %l.listen,
            advertised = format!("{}:{}", a.0, a.1),
            protocol = l.security.protocol.name(),
            "listening"
        );
        let ctx = Arc::new(ListenerContext {
            name: l.name,
            security: l.security,
        });
        tasks.spawn(accept_loop(broker.clone(), bound, ctx, limit.clone()));
    }
    if let Some(l) = http_listener {
        let mut stop = broker.shutdown_signal();
        let app = http::router(broker.clone());
        tasks.spawn(async move {
            let served = axum::serve(l, app)
                .with_graceful_shutdown(async move {
                    let _ = stop.wait_for(|s| *s).await;
                })
                .await;
            if let Err(e) = served {
                tracing::error!(error = %e, "http server failed");
            }
        });
    }
    tasks.spawn(housekeeping_loop(broker.clone(), retention_every));
    tasks.spawn(cleaner_loop(broker.clone()));
    tasks.spawn(pipelines_loop(broker.clone()));
    Ok(RunningBroker {
        broker,
        kafka_addr,
        http_addr,
        tasks,
    })
}

/// Runs `f`, which may burn CPU for milliseconds (a password check), where it does not hold
/// up other connections' tasks: `block_in_place` on a multi-threaded runtime.
fn off_the_runtime<T>(f: impl FnOnce() -> T) -> T {
    use tokio::runtime::{Handle, RuntimeFlavor};
    match Handle::try_current() {
        Ok(h) if h.runtime_flavor() == RuntimeFlavor::MultiThread => tokio::task::block_in_place(f),
        _ => f(),
    }
}

/// A listener's address as clients are told it when none is configured: the bound one,
/// `localhost` when it binds all interfaces.
fn default_advertised(addr: SocketAddr) -> (String, u16) {
    let ip = addr.ip();
    let host = if ip.is_unspecified() {
        "localhost".to_string()
    } else {
        ip.to_string()
    };
    (host, addr.port())
}

/// What a connection knows of the listener it came in on.
struct ListenerContext {
    /// The listener's name, whose advertised addresses the client is told.
    name: String,
    security: crate::auth::Security,
}

/// Binds `addr`; an all-interfaces IPv6 address (`[::]`, dual-stack on Linux) falls back to
/// `0.0.0.0` on hosts without IPv6.
async fn bind(addr: SocketAddr) -> std::io::Result<TcpListener> {
    match TcpListener::bind(addr).await {
        Err(e) if addr.is_ipv6() && addr.ip().is_unspecified() => {
            tracing::debug!(error = %e, "IPv6 unavailable, binding IPv4 only");
            TcpListener::bind(SocketAddr::from(([0, 0, 0, 0], addr.port()))).await
        }
        other => other,
    }
}

/// Compiles the deployed plugins, then keeps pipeline tasks in line with the metadata.
async fn pipelines_loop(broker: Arc<Broker>) {
    let b = broker.clone();
    let _ = tokio::task::spawn_blocking(move || b.warm_plugins()).await;
    let mut stop = broker.shutdown_signal();
    loop {
        broker.reconcile_pipelines();
        tokio::select! {
            _ = tokio::time::sleep(Duration::from_millis(500)) => {}
            _ = stop.wait_for(|s| *s) => return,
        }
    }
}

async fn housekeeping_loop(broker: Arc<Broker>, retention_every: Duration) {
    let mut stop = broker.shutdown_signal();
    let tick = Duration::from_millis(100).min(retention_every);
    let mut last_retention = Instant::now();
    loop {
        tokio::select! {
            _ = tokio::time::sleep(tick) => {}
            _ = stop.wait_for(|s| *s) => return,
        }
        let retention = last_retention.elapsed() >= retention_every;
        if retention {
            last_retention = Instant::now();
        }
        let b = broker.clone();
        let _ = tokio::task::spawn_blocking(move || b.housekeeping(retention)).await;
    }
}

/// Compacts the compacted topics every `log.cleaner.backoff.ms`, on a thread of its own so
/// that a long pass does not hold up housekeeping.
async fn cleaner_loop(broker: Arc<Broker>) {
    let mut stop = broker.shutdown_signal();
    let every = broker.config.cleaner_backoff;
    loop {
        tokio::select! {
            _ = tokio::time::sleep(every) => {}
            _ = stop.wait_for(|s| *s) => return,
        }
        let b = broker.clone();
        let _ = tokio::task::spawn_blocking(move || b.clean_logs()).await;
    }
}

async fn accept_loop(
    broker: Arc<Broker>,
    listener: TcpListener,
    ctx: Arc<ListenerContext>,
    limit: Arc<Semaphore>,
) {
    let mut stop = broker.shutdown_signal();
    let mut conns = JoinSet::new();
    loop {
        let permit = tokio::select! {
            p = limit.clone().acquire_owned() => match p { Ok(p) => p, Err(_) => break },
            _ = stop.wait_for(|s| *s) => break,
        };
        let accepted = tokio::select! {
            a = listener.accept() => a,
            _ = stop.wait_for(|s| *s) => break,
        };
        match accepted {
            Ok((stream, peer)) => {
                let b = broker.clone();
                let ctx = ctx.clone();
                conns.spawn(async move {
                    b.metrics.connections.inc();
                    if let Err(e) = serve_connection(&b, stream, peer, &ctx).await {
                        tracing::debug!(%peer, error = %e, "connection ended with an error");
                    }
                    b.metrics.connections.dec();
                    drop(permit);
                });
            }
            Err(e) => {
                tracing::warn!(error = %e, "accept failed");
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
        while conns.try_join_next().is_some() {}
    }
    drop(listener);
    while conns.join_next().await.is_some() {}
}

/// A connection's response buffer larger than this is let go once responses shrink well below
/// its size (a consumer that caught up, an idle connection after a burst).
const RETAIN_FRAME_BYTES: usize = 1 << 20;

/// Large response buffers that connections let go of, for the next connection's fetches: a
/// consumer that reconnects (a new member, a restarted service, each workload of a benchmark)
/// otherwise pays a page fault per page of its first large responses, which on a VM costs more
/// than the copy itself. At most [`POOLED_FRAMES`] buffers of at most [`POOLED_FRAME_BYTES`].
static FRAME_POOL: std::sync::Mutex<Vec<bytes::BytesMut>> = std::sync::Mutex::new(Vec::new());
const POOLED_FRAMES: usize = 2;
const POOLED_FRAME_BYTES: usize = 64 << 20;

/// Hands a large buffer to the pool (or frees it when the pool is full or it is too large).
fn pool_frame(mut buf: bytes::BytesMut) {
    if buf.capacity() <= RETAIN_FRAME_BYTES || buf.capacity() > POOLED_FRAME_BYTES {
        return;
    }
    buf.clear();
    if let Ok(mut pool) = FRAME_POOL.lock()
        && pool.len() < POOLED_FRAMES
    {
        pool.push(buf);
    }
}

/// The largest pooled buffer, for a connection about to encode a fetch response.
fn pooled_frame() -> Option<bytes::BytesMut> {
    let mut pool = FRAME_POOL.lock().ok()?;
    let largest = (0..pool.len()).max_by_key(|&i| pool[i].capacity())?;
    Some(pool.swap_remove(largest))
}

/// Lets a connection's large response buffer go to the pool once responses are far smaller.
fn shrink_frame(out: &mut bytes::BytesMut) {
    if out.capacity() > RETAIN_FRAME_BYTES && out.len() < out.capacity() / 8 {
        pool_frame(std::mem::take(out));
    }
}

/// A log file found shorter than the slice a fetch response already counted (a follower's log
/// truncated meanwhile): the connection must end.
fn truncated_log() -> std::io::Error {
    std::io::Error::new(
        std::io::ErrorKind::UnexpectedEof,
        "the log file ended before the fetched records (truncated meanwhile)",
    )
}

/// Bytes asked of one `sendfile` call. With one call for a whole slice, a wire client's 1 KiB x1
/// fetch over loopback ran under 2,400 MiB/s (1,566-2,248, the broker's CPU per GiB up to three
/// times higher) in 8 of 16 rounds; in calls of 256 KiB, in 5 of 30 (2,442-3,058 otherwise).
/// The broker's thread, inside one long call, works through the receiver's acknowledgements
/// on its own core (`perf record`: `tcp_write_xmit` under `sendfile` in the slow rounds).
/// BENCHMARKS.md, 2026-11-24 08:39.
const SENDFILE_CHUNK: u64 = 256 << 10;

/// Sends a slice of a log file to the socket from the page cache (`sendfile`): the records of
/// a fetch are never copied through the broker. A file that ends before the slice does (the
/// log was truncated meanwhile) ends the connection: the frame size already counted the bytes.
async fn send_file(sock: &TcpStream, slice: &FileSlice) -> std::io::Result<()> {
    let Some((file, mut pos)) = slice.file_range() else {
        return Ok(());
    };
    let end = pos + slice.len() as u64;
    while pos < end {
        let want = (end - pos).min(SENDFILE_CHUNK) as usize;
        let sent = sock
            .async_io(tokio::io::Interest::WRITABLE, || {
                rustix::fs::sendfile(sock, file, Some(&mut pos), want).map_err(std::io::Error::from)
            })
            .await?;
        if sent == 0 {
            return Err(truncated_log());
        }
    }
    Ok(())
}

/// Applies `socket.send.buffer.bytes` and `socket.receive.buffer.bytes` to an accepted
/// connection. A refusal is logged and the connection served with the OS's sizes.
fn set_buffer_sizes(config: &crate::BrokerConfig, stream: &TcpStream, peer: SocketAddr) {
    use rustix::net::sockopt;
    if let Some(n) = config.socket_send_buffer
        && let Err(e) = sockopt::set_socket_send_buffer_size(stream, n)
    {
        tracing::warn!(%peer, bytes = n, error = %e, "socket.send.buffer.bytes not applied");
    }
    if let Some(n) = config.socket_receive_buffer
        && let Err(e) = sockopt::set_socket_recv_buffer_size(stream, n)
    {
        tracing::warn!(%peer, bytes = n, error = %e, "socket.receive.buffer.bytes not applied");
    }
}

/// A connection's read buffer.
const READ_BUFFER_BYTES: usize = 8 * 1024;

/// A connection's response buffer, given back to the pool when the connection ends.
struct Frame(bytes::BytesMut);

impl Drop for Frame {
    fn drop(&mut self) {
        pool_frame(std::mem::take(&mut self.0));
    }
}

/// The next request frame, or `None` at the end of the stream or when nothing at all arrives
/// for `idle` after the last response (`connections.max.idle.ms`: a client that sends nothing
/// that long gives its connection up, as in Kafka). Once a request has begun to arrive it is
/// read whole, however slowly: a large request on a slow link is not cut off.
async fn next_frame<R: tokio::io::AsyncRead + Unpin>(
    reader: &mut BufReader<R>,
    max: usize,
    idle: Option<Duration>,
    peer: SocketAddr,
) -> weir_protocol::Result<Option<bytes::Bytes>> {
    if let Some(idle) = idle {
        match tokio::time::timeout(idle, tokio::io::AsyncBufReadExt::fill_buf(reader)).await {
            Err(_) => {
                tracing::debug!(%peer, idle_ms = idle.as_millis() as u64, "closing an idle connection");
                return Ok(None);
            }
            Ok(Ok([])) => return Ok(None),
            Ok(Ok(_)) => {}
            Ok(Err(e)) => return Err(e.into()),
        }
    }
    read_frame(reader, max).await
}

/// How long a TLS client has to complete its handshake.
const TLS_HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

async fn serve_connection(
    broker: &Arc<Broker>,
    stream: TcpStream,
    peer: SocketAddr,
    ctx: &ListenerContext,
) -> Result<()> {
    stream.set_nodelay(true)?;
    set_buffer_sizes(&broker.config, &stream, peer);
    let Some(tls) = ctx.security.tls() else {
        let (r, w) = stream.into_split();
        return serve_requests(broker, r, w, peer, ctx).await;
    };
    let stream =
        match tokio::time::timeout(TLS_HANDSHAKE_TIMEOUT, tls.acceptor().accept(stream)).await {
            Ok(Ok(s)) => s,
            Ok(Err(e)) => {
                count_auth(broker, "tls", false);
                tracing::info!(%peer, error = %e, "failed authentication: TLS handshake failed");
                return Ok(());
            }
            Err(_) => {
                count_auth(broker, "tls", false);
                tracing::info!(%peer, "failed authentication: TLS handshake timed out");
                return Ok(());
            }
        };
    let (r, w) = tokio::io::split(stream);
    serve_requests(broker, r, w, peer, ctx).await
}

/// Largest frame read from a client that has not authenticated (Kafka's
/// `sasl.server.max.receive.size`).
const SASL_MAX_RECEIVE_BYTES: usize = 512 << 10;

/// How long a failed authentication waits before its answer and the close (Kafka's
/// `connection.failed.authentication.delay.ms` is 100): it slows down password guessing.
const FAILED_AUTHENTICATION_DELAY: Duration = Duration::from_millis(100);

/// Logs and counts how a SASL exchange ended (failures at INFO, as Kafka logs them); true
/// when it failed.
fn log_auth(broker: &Broker, peer: SocketAddr, outcome: Option<crate::auth::Outcome>) -> bool {
    match outcome {
        Some(crate::auth::Outcome::Succeeded { user, mechanism }) => {
            count_auth(broker, mechanism.name(), true);
            tracing::debug!(%peer, user, mechanism = mechanism.name(), "authenticated");
            false
        }
        Some(crate::auth::Outcome::Failed { mechanism, reason }) => {
            count_auth(broker, mechanism.name(), false);
            tracing::info!(%peer, mechanism = mechanism.name(), "failed authentication: {reason}");
            true
        }
        None => false,
    }
}

fn count_auth(broker: &Broker, mechanism: &str, ok: bool) {
    broker
        .metrics
        .authentications
        .get_or_create(&crate::metrics::AuthLabel {
            mechanism: mechanism.to_string(),
            result: if ok { "ok" } else { "failed" }.to_string(),
        })
        .inc();
}

/// Where a connection's responses go: the socket itself, which sends fetched records from
/// the page cache (`sendfile`), or a TLS session, which must read and encrypt them.
trait ResponseSink: tokio::io::AsyncWrite + Unpin + Send {
    fn send_file(
        &mut self,
        slice: &FileSlice,
    ) -> impl std::future::Future<Output = std::io::Result<()>> + Send;
}

impl ResponseSink for tokio::net::tcp::OwnedWriteHalf {
    async fn send_file(&mut self, slice: &FileSlice) -> std::io::Result<()> {
        send_file(self.as_ref(), slice).await
    }
}

/// Bytes of a log file read at a time for a fetch over TLS.
const TLS_FILE_CHUNK: usize = 256 << 10;

impl ResponseSink for tokio::io::WriteHalf<tokio_rustls::server::TlsStream<TcpStream>> {
    async fn send_file(&mut self, slice: &FileSlice) -> std::io::Result<()> {
        use std::os::unix::fs::FileExt as _;
        let Some((file, mut pos)) = slice.file_range() else {
            return Ok(());
        };
        let end = pos + slice.len() as u64;
        let mut buf = vec![0u8; slice.len().min(TLS_FILE_CHUNK)];
        while pos < end {
            let want = ((end - pos) as usize).min(buf.len());
            let n = file.read_at(&mut buf[..want], pos)?;
            if n == 0 {
                return Err(truncated_log());
            }
            self.write_all(&buf[..n]).await?;
            pos += n as u64;
        }
        Ok(())
    }
}

async fn serve_requests<R, W>(
    broker: &Arc<Broker>,
    r: R,
    w: W,
    peer: SocketAddr,
    ctx: &ListenerContext,
) -> Result<()>
where
    R: tokio::io::AsyncRead + Unpin,
    W: ResponseSink,
{
    // Small: a request larger than the buffer is read straight into its own frame, so the buffer
    // only gathers the small requests a client pipelines. Responses go out unbuffered: each is
    // one encoded frame (or the parts around a fetch's file slices) written whole. With 64 KiB
    // for each, an idle connection held 135 KiB (5,000 connections: 685 MB).
    let mut reader = BufReader::with_capacity(READ_BUFFER_BYTES, r);
    let mut writer = w;
    // One response buffer for the connection's life: a consumer's fetch responses are many MiB
    // each, and a fresh buffer for each costs a page fault per page written (measured: a third
    // of the broker's CPU in a 1 KiB x8 consume). Kept while responses stay large.
    let mut frame_buf = Frame(bytes::BytesMut::new());
    let out = &mut frame_buf.0;
    let mut stop = broker.shutdown_signal();
    let max = broker.config.max_request_bytes;
    let idle = broker.config.connections_max_idle;
    let security = &ctx.security;
    let directory = security.directory(&broker.metadata);
    let mut session = crate::auth::Session::new(security);
    loop {
        // Before authentication only small frames are read (Kafka's
        // sasl.server.max.receive.size), so that a client without credentials cannot make the
        // broker buffer 100 MiB requests.
        let limit = if session.is_open() {
            max
        } else {
            max.min(SASL_MAX_RECEIVE_BYTES)
        };
        let frame = tokio::select! {
            f = next_frame(&mut reader, limit, idle, peer) => f,
            _ = stop.wait_for(|s| *s) => return Ok(()),
        };
        let frame = match frame {
            Ok(Some(f)) => f,
            Ok(None) => return Ok(()),
            Err(e) => {
                broker.metrics.closed_bad_requests.inc();
                tracing::warn!(%peer, error = %e, "closing connection: unreadable request frame");
                return Ok(());
            }
        };
        let started = Instant::now();
        broker.metrics.bytes_in.inc_by(frame.len() as u64 + 4);
        if session.expects_raw_token() {
            // A SASL token after a SaslHandshake v0: answered with a raw token, or the
            // connection closes (v0 cannot carry an error).
            let mut outcome = None;
            let reply = off_the_runtime(|| session.raw_token(&directory, &frame, &mut outcome));
            if log_auth(broker, peer, outcome) {
                tokio::time::sleep(FAILED_AUTHENTICATION_DELAY).await;
            }
            let Some(token) = reply else {
                return Ok(());
            };
            writer
                .write_all(&(token.len() as u32).to_be_bytes())
                .await?;
            writer.write_all(&token).await?;
            writer.flush().await?;
            continue;
        }
        let mut close_after = false;
        let (api, version, correlation_id, response) = match decode_request(frame) {
            Ok(Decoded::Request(req)) => {
                let (api, version, cid) = (req.api, req.version, req.header.correlation_id);
                let mut outcome = None;
                // A PLAIN login of a user made through the API checks the password with PBKDF2:
                // milliseconds of CPU, kept off the runtime's workers.
                let mut check = || session.check(security, &directory, &req, &mut outcome);
                let gate = if matches!(req.body, RequestKind::SaslAuthenticate(_)) {
                    off_the_runtime(check)
                } else {
                    check()
                };
                let response = match gate {
                    crate::auth::Gate::Pass => {
                        let conn = handlers::Conn {
                            peer,
                            listener: &ctx.name,
                            user: session.user(),
                        };
                        handlers::handle(broker, *req, &conn).await
                    }
                    crate::auth::Gate::Reply { body, close } => {
                        close_after = close;
                        Some(Reply::Body(*body))
                    }
                    crate::auth::Gate::Close(why) => {
                        broker.metrics.closed_bad_requests.inc();
                        tracing::warn!(%peer, "closing connection: {why}");
                        return Ok(());
                    }
                };
                if log_auth(broker, peer, outcome) {
                    tokio::time::sleep(FAILED_AUTHENTICATION_DELAY).await;
                }
                (api, version, cid, response)
            }
            Ok(Decoded::ApiVersionsFallback { correlation_id }) => {
                let body = api_versions_response(
                    weir_protocol::kafka::ResponseError::UnsupportedVersion.code(),
                );
                (
                    ApiKey::ApiVersions,
                    0,
                    correlation_id,
                    Some(Reply::Body(ResponseKind::ApiVersions(body))),
                )
            }
            Err(e) => {
                broker.metrics.closed_bad_requests.inc();
                tracing::warn!(%peer, error = %e, "closing connection: request cannot be served");
                return Ok(());
            }
        };
        let label = ApiLabel {
            api: format!("{api:?}"),
        };
        broker.metrics.requests.get_or_create(&label).inc();
        match response {
            Some(Reply::Fetch(FetchReply {
                body,
                splices,
                records,
            })) if !splices.is_empty() => {
                let frame = encode_fetch_spliced(out, version, correlation_id, body, &splices)?;
                let mut sent = 0;
                for (i, part) in frame.parts.iter().enumerate() {
                    writer.write_all(part).await?;
                    sent += part.len();
                    if let Some(slice) = records.get(i) {
                        writer.send_file(slice).await?;
                        sent += slice.len();
                    }
                }
                writer.flush().await?;
                broker.metrics.bytes_out.inc_by(sent as u64);
                shrink_frame(out);
            }
            Some(reply) => {
                let body = match reply {
                    Reply::Body(b) => b,
                    Reply::Fetch(f) => ResponseKind::Fetch(f.body),
                };
                if api == ApiKey::Fetch
                    && out.capacity() <= RETAIN_FRAME_BYTES
                    && let Some(pooled) = pooled_frame()
                {
                    *out = pooled;
                }
                encode_response_into(out, api, version, correlation_id, &body)?;
                drop(body);
                broker.metrics.bytes_out.inc_by(out.len() as u64);
                writer.write_all(out).await?;
                writer.flush().await?;
                shrink_frame(out);
            }
            None => {}
        }
        broker
            .metrics
            .latency
            .get_or_create(&label)
            .observe(started.elapsed().as_secs_f64());
        if close_after {
            return Ok(());
        }
    }
}
