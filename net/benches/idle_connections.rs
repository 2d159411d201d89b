//! Prints the figures the crate's memory and speed targets are checked against; asserts nothing.
//!
//! - heap per idle connection (plain and TLS) held by a `serve()` + `LineReader` session that
//!   waits for a command, with the clients in a child process so only the server is counted;
//! - request/reply round trips per second over one pipelining connection (plain and TLS);
//! - `LineReader` parsing speed on an in-memory stream.
//!
//! Run: `cargo bench -j2 -p net --bench idle_connections` (NET_BENCH_CONNS sets the number of
//! idle connections, default 5000).

#[path = "../tests/common/mod.rs"]
mod common;

use std::alloc::{GlobalAlloc, Layout, System};
use std::io::{BufRead, Read};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use net::{Connection, Limits, Line, LineReader, Security, TlsAcceptor};
use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncWrite, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;

/// Counts live heap bytes so the per-connection figure is exact rather than RSS noise.
struct CountingAllocator;

static LIVE_BYTES: AtomicUsize = AtomicUsize::new(0);

// SAFETY: every method forwards to the system allocator with the caller's arguments unchanged,
// so the caller's contract carries over; the counter is only bookkeeping.
unsafe impl GlobalAlloc for CountingAllocator {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: same contract as ours, see above.
        let ptr = unsafe { System.alloc(layout) };
        if !ptr.is_null() {
            LIVE_BYTES.fetch_add(layout.size(), Ordering::Relaxed);
        }
        ptr
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: `ptr` came from `alloc`/`realloc` above with this layout.
        unsafe { System.dealloc(ptr, layout) };
        LIVE_BYTES.fetch_sub(layout.size(), Ordering::Relaxed);
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // SAFETY: same contract as ours, see above.
        let new = unsafe { System.realloc(ptr, layout, new_size) };
        if !new.is_null() {
            LIVE_BYTES.fetch_add(new_size, Ordering::Relaxed);
            LIVE_BYTES.fetch_sub(layout.size(), Ordering::Relaxed);
        }
        new
    }
}

#[global_allocator]
static ALLOCATOR: CountingAllocator = CountingAllocator;

const CHILD_FLAG: &str = "--idle-client";

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    if let Some(at) = args.iter().position(|a| a == CHILD_FLAG) {
        runtime.block_on(idle_clients(&args[at + 1..]));
        return;
    }
    let conns = std::env::var("NET_BENCH_CONNS")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(5000);
    runtime.block_on(async {
        let (dir, acceptor) = common::tls_setup();
        line_parsing().await;
        round_trips(dir.path(), &acceptor).await;
        idle_memory(conns, None).await;
        idle_memory(conns, Some((dir.path(), acceptor))).await;
    });
}

/// In-memory parsing speed: 1,000,000 pipelined 78-byte lines.
async fn line_parsing() {
    let line = format!("{}\r\n", "x".repeat(76));
    let input = line.repeat(1_000_000).into_bytes();
    let start = Instant::now();
    let mut reader = LineReader::new(&input[..], 1000);
    let mut lines = 0u64;
    while let Some(Line::Complete(_)) = reader.read_line().await.unwrap() {
        lines += 1;
    }
    let secs = start.elapsed().as_secs_f64();
    println!(
        "line parsing: {lines} lines in {secs:.3} s = {:.1} M lines/s, {:.0} MiB/s",
        lines as f64 / secs / 1e6,
        input.len() as f64 / secs / (1024.0 * 1024.0)
    );
}

/// Replies `250 OK` to every line, like an SMTP session answering NOOPs.
async fn reply_per_line(conn: Connection) {
    let mut reader = LineReader::new(conn.stream, 1000);
    while let Ok(Some(_)) = reader.read_line().await {
        if reader.get_mut().write_all(b"250 OK\r\n").await.is_err() {
            return;
        }
    }
}

/// One client pipelining 100,000 requests in batches of 100, as PIPELINING clients do.
async fn round_trips(data_dir: &Path, acceptor: &TlsAcceptor) {
    for (name, security) in [("plain", Security::Plain), ("tls", Security::ImplicitTls)] {
        let tls = (security == Security::ImplicitTls).then(|| acceptor.clone());
        let server = common::start(security, tls, Limits::default(), reply_per_line).await;
        let tcp = TcpStream::connect(server.addr).await.unwrap();
        tcp.set_nodelay(true).unwrap();
        let stream: Box<dyn Stream> = match security {
            Security::Plain => Box::new(tcp),
            Security::ImplicitTls => Box::new(
                common::connector(data_dir)
                    .connect(common::localhost(), tcp)
                    .await
                    .unwrap(),
            ),
        };
        let mut stream = BufReader::new(stream);
        let batch = "NOOP\r\n".repeat(100);
        let mut reply = String::new();
        let start = Instant::now();
        for _ in 0..1000 {
            stream.get_mut().write_all(batch.as_bytes()).await.unwrap();
            for _ in 0..100 {
                reply.clear();
                stream.read_line(&mut reply).await.unwrap();
            }
        }
        let secs = start.elapsed().as_secs_f64();
        println!(
            "round trips ({name}): 100000 request/reply pairs in {secs:.3} s = {:.0} per s",
            100_000.0 / secs
        );
        server.shutdown.cancel();
    }
}

trait Stream: AsyncRead + AsyncWrite + Unpin + Send {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send> Stream for T {}

/// Sessions that have greeted and now wait for a command.
static IDLE_SESSIONS: AtomicUsize = AtomicUsize::new(0);

async fn greet_and_wait(conn: Connection) {
    let shutdown = conn.shutdown.clone();
    let mut reader = LineReader::new(conn.stream, 1000);
    if reader.get_mut().write_all(b"220 ready\r\n").await.is_err() {
        return;
    }
    IDLE_SESSIONS.fetch_add(1, Ordering::SeqCst);
    loop {
        let line = tokio::select! {
            () = shutdown.cancelled() => break,
            line = net::with_timeout(Duration::from_secs(600), reader.read_line()) => line,
        };
        if !matches!(line, Ok(Some(_))) {
            break;
        }
    }
    IDLE_SESSIONS.fetch_sub(1, Ordering::SeqCst);
}

/// Heap held per idle connection, measured with the clients in a child process.
async fn idle_memory(conns: usize, tls: Option<(&Path, TlsAcceptor)>) {
    let name = if tls.is_some() { "tls" } else { "plain" };
    let (security, acceptor, data_dir) = match tls {
        Some((dir, acceptor)) => (
            Security::ImplicitTls,
            Some(acceptor),
            Some(dir.to_path_buf()),
        ),
        None => (Security::Plain, None, None),
    };
    let limits = Limits {
        max_connections: conns + 100,
        tls_handshake_timeout: Duration::from_secs(60),
        ..Limits::default()
    };
    let server = common::start(security, acceptor, limits, greet_and_wait).await;
    tokio::time::sleep(Duration::from_millis(100)).await;
    let before = LIVE_BYTES.load(Ordering::SeqCst);
    let rss_before = rss_bytes();

    let mut child = Command::new(std::env::current_exe().unwrap());
    child
        .arg(CHILD_FLAG)
        .arg(server.addr.to_string())
        .arg(conns.to_string());
    if let Some(dir) = &data_dir {
        child.arg(dir);
    }
    let mut child = child
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let ready = tokio::task::spawn_blocking(move || {
        let mut ready = String::new();
        std::io::BufReader::new(stdout)
            .read_line(&mut ready)
            .map(|_| ready)
    })
    .await
    .unwrap()
    .unwrap();
    assert_eq!(ready.trim(), "ready", "client process failed");
    while IDLE_SESSIONS.load(Ordering::SeqCst) < conns {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    tokio::time::sleep(Duration::from_millis(200)).await;
    let held = LIVE_BYTES.load(Ordering::SeqCst).saturating_sub(before);
    let rss = rss_bytes().saturating_sub(rss_before);
    println!(
        "idle connections ({name}): {conns} held, heap {:.1} KiB per connection, RSS growth {:.1} KiB per connection",
        held as f64 / conns as f64 / 1024.0,
        rss as f64 / conns as f64 / 1024.0
    );
    drop(child.stdin.take());
    tokio::task::spawn_blocking(move || child.wait())
        .await
        .unwrap()
        .unwrap();
    while IDLE_SESSIONS.load(Ordering::SeqCst) > 0 {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    server.shutdown.cancel();
}

fn rss_bytes() -> usize {
    let statm = std::fs::read_to_string("/proc/self/statm").unwrap_or_default();
    let pages: usize = statm
        .split_whitespace()
        .nth(1)
        .and_then(|p| p.parse().ok())
        .unwrap_or(0);
    pages * 4096
}

/// Child process: opens `count` connections to `addr` (TLS if a data dir is given), reads each
/// greeting, says "ready", and holds them until stdin closes.
async fn idle_clients(args: &[String]) {
    let addr: std::net::SocketAddr = args[0].parse().unwrap();
    let count: usize = args[1].parse().unwrap();
    let connector = args
        .get(2)
        .map(|dir| common::connector(&PathBuf::from(dir)));
    let connector = Arc::new(connector);
    let mut held: Vec<BufReader<Box<dyn Stream>>> = Vec::with_capacity(count);
    let mut pending = tokio::task::JoinSet::new();
    for i in 0..count {
        let connector = Arc::clone(&connector);
        pending.spawn(async move {
            let tcp = TcpStream::connect(addr).await.unwrap();
            let stream: Box<dyn Stream> = match connector.as_ref() {
                Some(c) => Box::new(c.connect(common::localhost(), tcp).await.unwrap()),
                None => Box::new(tcp),
            };
            let mut stream = BufReader::new(stream);
            let mut greeting = String::new();
            stream.read_line(&mut greeting).await.unwrap();
            stream
        });
        // A bounded number in flight keeps the server's accept backlog from overflowing.
        if pending.len() >= 64 || i + 1 == count {
            while let Some(stream) = pending.join_next().await {
                held.push(stream.unwrap());
            }
        }
    }
    println!("ready");
    // Blocks this thread until the parent closes our stdin; the runtime keeps the sockets.
    let _ = tokio::task::spawn_blocking(|| std::io::stdin().read_to_end(&mut Vec::new())).await;
    drop(held);
}
