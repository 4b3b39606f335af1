//! A tiny HTTP/1.1 server on 127.0.0.1 for the remote key-set tests: a fake external issuer
//! (discovery, JWKS, SPIFFE bundle) and hostile servers (redirects, huge or slow bodies).
//! Every answer closes the connection; the handler sees the request path.

use std::{
    sync::{
        Arc,
        atomic::{AtomicUsize, Ordering},
    },
    time::Duration,
};

use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::TcpListener,
};

/// What the server answers.
pub enum Reply {
    /// Status, extra headers, body (with `Content-Length`).
    Full(u16, Vec<(String, String)>, Vec<u8>),
    /// 200 JSON with `Cache-Control: max-age=N`.
    Json(String, u64),
    /// `n` bytes without `Content-Length` (the body ends when the connection closes).
    Unannounced(usize),
    /// Headers, then one byte per `every` for `bytes` bytes.
    Slow { every: Duration, bytes: usize },
    /// Close the connection without answering (an issuer that is down).
    Drop,
}

type Handler = Arc<dyn Fn(&str) -> Reply + Send + Sync>;

pub struct FakeHttp {
    pub port: u16,
    hits: Arc<AtomicUsize>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for FakeHttp {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl FakeHttp {
    pub async fn start(handler: impl Fn(&str) -> Reply + Send + Sync + 'static) -> FakeHttp {
        let handler: Handler = Arc::new(handler);
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let hits = Arc::new(AtomicUsize::new(0));
        let counter = hits.clone();
        let task = tokio::spawn(async move {
            loop {
                let Ok((mut sock, _)) = listener.accept().await else {
                    return;
                };
                let handler = handler.clone();
                let counter = counter.clone();
                tokio::spawn(async move {
                    let mut buf = Vec::new();
                    let mut chunk = [0u8; 4096];
                    while !buf.windows(4).any(|w| w == b"\r\n\r\n") {
                        match sock.read(&mut chunk).await {
                            Ok(0) | Err(_) => return,
                            Ok(n) => buf.extend_from_slice(&chunk[..n]),
                        }
                    }
                    counter.fetch_add(1, Ordering::SeqCst);
                    let head = String::from_utf8_lossy(&buf).to_string();
                    let path = head.split(' ').nth(1).unwrap_or("/").to_owned();
                    let reply = handler(&path);
                    let _ = answer(&mut sock, reply).await;
                });
            }
        });
        FakeHttp { port, hits, task }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }

    /// Requests received so far.
    pub fn hits(&self) -> usize {
        self.hits.load(Ordering::SeqCst)
    }
}

async fn answer(sock: &mut tokio::net::TcpStream, reply: Reply) -> std::io::Result<()> {
    match reply {
        Reply::Full(status, headers, body) => {
            let mut head = format!(
                "HTTP/1.1 {status} X\r\nContent-Length: {}\r\nConnection: close\r\n",
                body.len()
            );
            for (k, v) in headers {
                head.push_str(&format!("{k}: {v}\r\n"));
            }
            head.push_str("\r\n");
            sock.write_all(head.as_bytes()).await?;
            sock.write_all(&body).await?;
        }
        Reply::Json(body, max_age) => {
            return Box::pin(answer(
                sock,
                Reply::Full(
                    200,
                    vec![
                        ("Content-Type".into(), "application/json".into()),
                        ("Cache-Control".into(), format!("max-age={max_age}")),
                    ],
                    body.into_bytes(),
                ),
            ))
            .await;
        }
        Reply::Unannounced(n) => {
            sock.write_all(
                b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nConnection: close\r\n\r\n",
            )
            .await?;
            let block = vec![b' '; 64 * 1024];
            let mut sent = 0;
            while sent < n {
                let k = block.len().min(n - sent);
                sock.write_all(&block[..k]).await?;
                sent += k;
            }
        }
        Reply::Slow { every, bytes } => {
            sock.write_all(
                format!("HTTP/1.1 200 OK\r\nContent-Length: {bytes}\r\nConnection: close\r\n\r\n")
                    .as_bytes(),
            )
            .await?;
            for _ in 0..bytes {
                tokio::time::sleep(every).await;
                sock.write_all(b" ").await?;
            }
        }
        Reply::Drop => {}
    }
    sock.shutdown().await
}
