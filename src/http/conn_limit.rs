//! Connection guards against slow and idle clients (`docs/security.md` S1):
//! - a per-IP cap at accept: one address holds at most `max` connections; past that its
//!   new connections are closed at once, so everyone else is still served;
//! - a stall timeout: a connection on which the server waits for bytes (a request head
//!   trickled or never finished, an idle keep-alive) or cannot write (a client that does
//!   not read) for `idle_timeout` is closed. While a handler works nothing is awaited from
//!   the client, so slow handlers are not cut.

use std::{
    collections::HashMap,
    io::Result as IoResult,
    net::IpAddr,
    pin::Pin,
    sync::{Arc, Mutex},
    task::{Context, Poll},
    time::Duration,
};

use poem::{
    http::uri::Scheme,
    listener::Acceptor,
    web::{LocalAddr, RemoteAddr},
};
use tokio::{
    io::{AsyncRead, AsyncWrite, ReadBuf},
    time::{Instant, Sleep},
};

type Counts = Arc<Mutex<HashMap<IpAddr, usize>>>;

/// Wraps an acceptor with the per-IP cap.
pub struct PerIpLimit<A> {
    inner: A,
    max: usize,
    stall: Duration,
    counts: Counts,
}

impl<A> PerIpLimit<A> {
    pub fn new(inner: A, max: usize, stall: Duration) -> Self {
        Self {
            inner,
            max: max.max(1),
            stall,
            counts: Default::default(),
        }
    }
}

/// Releases its connection's slot when dropped.
struct Slot {
    ip: IpAddr,
    counts: Counts,
}

impl Drop for Slot {
    fn drop(&mut self) {
        if let Ok(mut c) = self.counts.lock()
            && let Some(n) = c.get_mut(&self.ip)
        {
            *n -= 1;
            if *n == 0 {
                c.remove(&self.ip);
            }
        }
    }
}

/// A guarded connection: holds a slot, and fails I/O that stalls longer than `stall`.
pub struct Counted<S> {
    io: S,
    _slot: Option<Slot>,
    stall: Duration,
    deadline: Pin<Box<Sleep>>,
}

impl<S> Counted<S> {
    fn new(io: S, slot: Option<Slot>, stall: Duration) -> Self {
        Self {
            io,
            _slot: slot,
            stall,
            deadline: Box::pin(tokio::time::sleep(stall)),
        }
    }

    /// Progress was made: the stall clock restarts.
    fn progressed(&mut self) {
        let at = Instant::now() + self.stall;
        self.deadline.as_mut().reset(at);
    }

    /// The operation is pending: fail it once the stall deadline passes.
    fn check_stall<T>(&mut self, cx: &mut Context<'_>) -> Poll<IoResult<T>> {
        match self.deadline.as_mut().poll(cx) {
            Poll::Ready(()) => Poll::Ready(Err(std::io::Error::new(
                std::io::ErrorKind::TimedOut,
                "connection stalled",
            ))),
            Poll::Pending => Poll::Pending,
        }
    }
}

impl<A: Acceptor> Acceptor for PerIpLimit<A> {
    type Io = Counted<A::Io>;

    fn local_addr(&self) -> Vec<LocalAddr> {
        self.inner.local_addr()
    }

    async fn accept(&mut self) -> IoResult<(Self::Io, LocalAddr, RemoteAddr, Scheme)> {
        loop {
            let (io, local, remote, scheme) = self.inner.accept().await?;
            let Some(ip) = remote.as_socket_addr().map(|a| a.ip()) else {
                return Ok((Counted::new(io, None, self.stall), local, remote, scheme));
            };
            let admitted = match self.counts.lock() {
                Ok(mut c) => {
                    let n = c.entry(ip).or_insert(0);
                    if *n < self.max {
                        *n += 1;
                        true
                    } else {
                        false
                    }
                }
                Err(_) => true,
            };
            if !admitted {
                tracing::info!(%ip, max = self.max, "connection refused: too many from this address");
                drop(io);
                continue;
            }
            let slot = Slot {
                ip,
                counts: self.counts.clone(),
            };
            return Ok((
                Counted::new(io, Some(slot), self.stall),
                local,
                remote,
                scheme,
            ));
        }
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for Counted<S> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<IoResult<()>> {
        match Pin::new(&mut self.io).poll_read(cx, buf) {
            Poll::Ready(r) => {
                self.progressed();
                Poll::Ready(r)
            }
            Poll::Pending => self.check_stall(cx),
        }
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for Counted<S> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<IoResult<usize>> {
        match Pin::new(&mut self.io).poll_write(cx, buf) {
            Poll::Ready(r) => {
                self.progressed();
                Poll::Ready(r)
            }
            Poll::Pending => self.check_stall(cx),
        }
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<IoResult<()>> {
        Pin::new(&mut self.io).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<IoResult<()>> {
        Pin::new(&mut self.io).poll_shutdown(cx)
    }
}
