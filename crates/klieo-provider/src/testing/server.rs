//! [`RawServer`]: an HTTP/1.1 server on a loopback port that answers every
//! request with a script of writes, pauses and a close, for what a mock
//! server cannot do (split writes, cuts, stalls, connection counts).

use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// What the server does for one request, in order.
#[derive(Clone, Debug)]
pub enum Act {
    /// Write these bytes (flushed).
    Write(Vec<u8>),
    /// Wait this long (on tokio's clock: paused time skips it).
    Pause(Duration),
    /// Close the connection now.
    Close,
}

/// A running server; it stops with the runtime that started it.
#[derive(Debug)]
pub struct RawServer {
    /// Where it listens.
    pub addr: SocketAddr,
    accepted: Arc<AtomicUsize>,
    requests: Arc<AtomicUsize>,
}

impl RawServer {
    /// Serves every request with `script`; a connection stays open for the
    /// next request unless the script closes it.
    ///
    /// # Panics
    ///
    /// When no loopback port can be bound (a test's environment is broken).
    pub async fn start(script: Vec<Act>) -> Self {
        #[allow(
            clippy::expect_used,
            reason = "a test server that cannot listen is a broken test"
        )]
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("a loopback port");
        #[allow(clippy::expect_used, reason = "a bound listener has an address")]
        let addr = listener.local_addr().expect("its address");
        let accepted = Arc::new(AtomicUsize::new(0));
        let requests = Arc::new(AtomicUsize::new(0));
        let script = Arc::new(script);
        let (acc, reqs) = (Arc::clone(&accepted), Arc::clone(&requests));
        tokio::spawn(async move {
            while let Ok((sock, _)) = listener.accept().await {
                acc.fetch_add(1, Ordering::SeqCst);
                tokio::spawn(serve(sock, Arc::clone(&script), Arc::clone(&reqs)));
            }
        });
        Self {
            addr,
            accepted,
            requests,
        }
    }

    /// `http://127.0.0.1:PORT`.
    pub fn base(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Connections accepted so far.
    pub fn connections(&self) -> usize {
        self.accepted.load(Ordering::SeqCst)
    }

    /// Requests read so far.
    pub fn requests(&self) -> usize {
        self.requests.load(Ordering::SeqCst)
    }
}

async fn serve(mut sock: TcpStream, script: Arc<Vec<Act>>, requests: Arc<AtomicUsize>) {
    let _ = sock.set_nodelay(true);
    let mut buf = Vec::new();
    loop {
        // One request: headers, then content-length bytes.
        let header_end = loop {
            if let Some(p) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                break p + 4;
            }
            if !read_more(&mut sock, &mut buf).await {
                return;
            }
        };
        let head =
            String::from_utf8_lossy(buf.get(..header_end).unwrap_or_default()).to_ascii_lowercase();
        let len: usize = head
            .lines()
            .find_map(|l| l.strip_prefix("content-length:"))
            .map_or(0, |v| v.trim().parse().unwrap_or(0));
        while buf.len() < header_end + len {
            if !read_more(&mut sock, &mut buf).await {
                return;
            }
        }
        buf.drain(..header_end + len);
        requests.fetch_add(1, Ordering::SeqCst);
        for act in script.iter() {
            match act {
                Act::Write(bytes) => {
                    if sock.write_all(bytes).await.is_err() || sock.flush().await.is_err() {
                        return;
                    }
                }
                Act::Pause(d) => tokio::time::sleep(*d).await,
                Act::Close => return,
            }
        }
    }
}

async fn read_more(sock: &mut TcpStream, buf: &mut Vec<u8>) -> bool {
    let mut tmp = [0u8; 4096];
    match sock.read(&mut tmp).await {
        Ok(0) | Err(_) => false,
        Ok(n) => {
            buf.extend_from_slice(tmp.get(..n).unwrap_or_default());
            true
        }
    }
}

/// A whole response: `status`, extra `headers`, and a `content-length` body.
pub fn response(status: u16, headers: &[(&str, &str)], content_type: &str, body: &[u8]) -> Act {
    let mut head = format!("HTTP/1.1 {status} X\r\ncontent-type: {content_type}\r\n");
    for (name, value) in headers {
        head.push_str(&format!("{name}: {value}\r\n"));
    }
    head.push_str(&format!("content-length: {}\r\n\r\n", body.len()));
    let mut out = head.into_bytes();
    out.extend_from_slice(body);
    Act::Write(out)
}

/// A 200 response with a `content-length` body.
pub fn full_response(content_type: &str, body: &[u8]) -> Act {
    response(200, &[], content_type, body)
}

/// The head of a chunked `text/event-stream` 200 response.
pub fn sse_head() -> Act {
    Act::Write(
        b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ntransfer-encoding: chunked\r\n\r\n"
            .to_vec(),
    )
}

/// `bytes` as one chunk of a chunked body.
pub fn chunk(bytes: &[u8]) -> Act {
    let mut out = format!("{:x}\r\n", bytes.len()).into_bytes();
    out.extend_from_slice(bytes);
    out.extend_from_slice(b"\r\n");
    Act::Write(out)
}

/// The end of a chunked body.
pub fn last_chunk() -> Act {
    Act::Write(b"0\r\n\r\n".to_vec())
}

/// A chunked event-stream response of `body` cut into pieces of `size`
/// bytes, each its own chunk (so the client reads them separately).
pub fn sse_in_pieces(body: &[u8], size: usize) -> Vec<Act> {
    let mut acts = vec![sse_head()];
    acts.extend(body.chunks(size.max(1)).map(chunk));
    acts.push(last_chunk());
    acts
}
