//! Connection guards against slow and idle clients (`docs/security.md` S1, S6):
//! - a per-IP cap at accept: one address holds at most `max` connections; past that its
//!   new connections are closed at once, so everyone else is still served;
//! - a stall timeout: a connection on which the server waits for bytes (a request head
//!   never finished, an idle keep-alive) or cannot write (a client that does not read) for
//!   `idle_timeout` is closed;
//! - a whole-request deadline with a minimum rate (S6), because the stall timer restarts
//!   on every byte and alone lets a request trickled one byte every few seconds live
//!   forever.
//!
//! The guard wraps the raw TCP stream (before TLS, so handshakes are guarded too) and
//! cannot parse HTTP; it reasons in *sending phases* instead. The rule:
//!
//! 1. A sending phase starts with the first byte the client sends after the connection
//!    opened or after the server last wrote (the end of the previous response). Before
//!    that first byte the connection is idle: only `idle_timeout` applies, so idle
//!    keep-alive connections behave as before.
//! 2. A phase ends when the server writes (its response, or a TLS handshake message).
//! 3. During the first `request_head_timeout` of a phase anything goes (the grace: a head
//!    and a small body arrive long before it). After that, every arrival checks the rate
//!    over the current window (windows are `request_head_timeout` long, the first one
//!    starting with the phase): the client must have averaged `min_body_rate` bytes/s
//!    over it, or the connection is closed. A head trickled for longer than
//!    `request_head_timeout` (a few hundred bytes in that time) is therefore closed at the
//!    first byte it sends past the deadline, and so is a body that falls below the rate.
//! 4. Silence is never judged by the rate, only by `idle_timeout`: a client that sent its
//!    request and waits for a slow handler sends nothing, so slow handlers are not cut
//!    (hyper keeps a read pending to notice a disconnect, so a handler slower than
//!    `idle_timeout` is cut, as before). A head left unfinished and silent is closed by
//!    `idle_timeout`.
//!
//! Known limit: a second request sent on the same connection while the server is still
//! working on the first (HTTP/1 pipelining, which browsers do not use) shares the phase,
//! so it is judged by the rate if the first handler took longer than
//! `request_head_timeout`. `min_body_rate = 0` turns rules 3 off.

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

/// The timers of every guarded connection.
#[derive(Debug, Clone, Copy)]
pub struct Timeouts {
    /// No progress for this long closes the connection (`idle_timeout`).
    pub stall: Duration,
    /// The grace of a sending phase, and the length of its rate windows
    /// (`request_head_timeout`).
    pub head: Duration,
    /// Bytes per second a phase older than `head` must average; 0 = no rate rule
    /// (`min_body_rate`).
    pub min_rate: u64,
}

/// Wraps an acceptor with the per-IP cap.
pub struct PerIpLimit<A> {
    inner: A,
    max: usize,
    timeouts: Timeouts,
    counts: Counts,
}

impl<A> PerIpLimit<A> {
    pub fn new(inner: A, max: usize, timeouts: Timeouts) -> Self {
        Self {
            inner,
            max: max.max(1),
            timeouts,
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

/// A sending phase (see the module comment).
#[derive(Debug, Clone, Copy)]
struct Phase {
    /// When the current rate window started, and the phase's bytes at that moment.
    window_start: Instant,
    window_bytes: u64,
    /// Bytes received in the phase.
    bytes: u64,
}

impl Phase {
    fn new(now: Instant) -> Self {
        Phase {
            window_start: now,
            window_bytes: 0,
            bytes: 0,
        }
    }

    /// Records `n` bytes arriving at `now`; false when the phase falls below the rate.
    fn arrived(&mut self, n: u64, now: Instant, t: &Timeouts) -> bool {
        self.bytes += n;
        if t.min_rate == 0 {
            return true;
        }
        let window = t.head.max(Duration::from_millis(100));
        let elapsed = now.saturating_duration_since(self.window_start);
        if elapsed < window {
            return true;
        }
        // A window is over: its average must reach the rate.
        let sent = self.bytes - self.window_bytes;
        let needed = (t.min_rate as f64 * elapsed.as_secs_f64()) as u64;
        if sent < needed {
            return false;
        }
        self.window_start = now;
        self.window_bytes = self.bytes;
        true
    }
}

/// A guarded connection: holds a slot, fails I/O that stalls longer than `stall`, and
/// closes a request sent too slowly (module comment).
pub struct Counted<S> {
    io: S,
    _slot: Option<Slot>,
    timeouts: Timeouts,
    deadline: Pin<Box<Sleep>>,
    /// The current sending phase; `None` while idle or after the server wrote.
    phase: Option<Phase>,
    /// Set once the rate rule closed the connection: every later operation fails.
    too_slow: bool,
}

fn too_slow_error() -> std::io::Error {
    std::io::Error::new(std::io::ErrorKind::TimedOut, "request sent too slowly")
}

impl<S> Counted<S> {
    fn new(io: S, slot: Option<Slot>, timeouts: Timeouts) -> Self {
        Self {
            io,
            _slot: slot,
            timeouts,
            deadline: Box::pin(tokio::time::sleep(timeouts.stall)),
            phase: None,
            too_slow: false,
        }
    }

    /// Progress was made: the stall clock restarts.
    fn progressed(&mut self) {
        let at = Instant::now() + self.timeouts.stall;
        self.deadline.as_mut().reset(at);
    }

    /// `n` bytes were read; false when the request is now too slow.
    fn received(&mut self, n: usize) -> bool {
        if n == 0 {
            return true;
        }
        let now = Instant::now();
        let t = self.timeouts;
        let ok = self
            .phase
            .get_or_insert_with(|| Phase::new(now))
            .arrived(n as u64, now, &t);
        if !ok {
            self.too_slow = true;
            tracing::info!(
                min_rate = t.min_rate,
                "connection closed: request sent too slowly"
            );
        }
        ok
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
                return Ok((Counted::new(io, None, self.timeouts), local, remote, scheme));
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
                Counted::new(io, Some(slot), self.timeouts),
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
        if self.too_slow {
            return Poll::Ready(Err(too_slow_error()));
        }
        let before = buf.filled().len();
        match Pin::new(&mut self.io).poll_read(cx, buf) {
            Poll::Ready(r) => {
                self.progressed();
                let n = buf.filled().len() - before;
                if r.is_ok() && !self.received(n) {
                    return Poll::Ready(Err(too_slow_error()));
                }
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
        if self.too_slow {
            return Poll::Ready(Err(too_slow_error()));
        }
        match Pin::new(&mut self.io).poll_write(cx, buf) {
            Poll::Ready(r) => {
                self.progressed();
                if matches!(&r, Ok(n) if *n > 0) {
                    // The server answered: the client's sending phase is over.
                    self.phase = None;
                }
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

#[cfg(test)]
mod tests {
    use super::*;

    const T: Timeouts = Timeouts {
        stall: Duration::from_secs(30),
        head: Duration::from_secs(10),
        min_rate: 1024,
    };

    /// S6: one byte a second is fine during the grace and closed at the first byte after it.
    #[test]
    fn s6_a_trickled_head_fails_at_the_first_byte_past_the_deadline() {
        let start = Instant::now();
        let mut p = Phase::new(start);
        for s in 0..10 {
            assert!(
                p.arrived(1, start + Duration::from_secs(s), &T),
                "grace, {s}s"
            );
        }
        assert!(!p.arrived(1, start + Duration::from_secs(10), &T));
    }

    /// S6: a request at the rate goes on, window after window; silence is never judged.
    #[test]
    fn s6_a_body_at_the_rate_passes_and_one_below_it_fails() {
        let start = Instant::now();
        let mut p = Phase::new(start);
        assert!(p.arrived(600, start, &T), "the head");
        for s in 1..=30 {
            assert!(p.arrived(2048, start + Duration::from_secs(s), &T), "{s}s");
        }
        // Then it slows to 100 bytes/s: the window ending 10 s later fails.
        let ok = (31..=41).all(|s| p.arrived(100, start + Duration::from_secs(s), &T));
        assert!(!ok, "below the rate");
        // Off when the rate is 0.
        let off = Timeouts { min_rate: 0, ..T };
        let mut p = Phase::new(start);
        assert!(p.arrived(1, start + Duration::from_secs(100), &off));
    }
}
