//! A Go-style `context.Context`: a cancellation signal with an optional deadline, passed to
//! every call that waits on the network.

use std::future::Future;
use std::time::{Duration, Instant};

use tokio_util::sync::CancellationToken;

use crate::error::{Error, Result};

/// Cancellation and deadline for SDK calls. Cloning shares the signal; [`Context::child`] and
/// [`Context::with_timeout`] derive contexts that end when their parent does.
#[derive(Clone, Debug, Default)]
pub struct Context {
    token: CancellationToken,
    deadline: Option<Instant>,
}

impl Context {
    /// A context that never ends (Go's `context.Background()`).
    pub fn background() -> Self {
        Self::default()
    }

    /// A child that ends after `timeout`, or when `self` ends.
    pub fn with_timeout(&self, timeout: Duration) -> Self {
        let deadline = Instant::now() + timeout;
        Context {
            token: self.token.child_token(),
            deadline: Some(self.deadline.map_or(deadline, |d| d.min(deadline))),
        }
    }

    /// A child that can be cancelled on its own with [`Context::cancel`].
    pub fn child(&self) -> Self {
        Context {
            token: self.token.child_token(),
            deadline: self.deadline,
        }
    }

    /// Cancels this context and its children; calls waiting on it return [`Error::Cancelled`].
    pub fn cancel(&self) {
        self.token.cancel();
    }

    pub fn is_cancelled(&self) -> bool {
        self.token.is_cancelled()
    }

    pub fn deadline(&self) -> Option<Instant> {
        self.deadline
    }

    /// Time left before the deadline, if there is one.
    pub fn remaining(&self) -> Option<Duration> {
        self.deadline
            .map(|d| d.saturating_duration_since(Instant::now()))
    }

    /// Runs `fut` until it finishes, the context is cancelled or the deadline passes.
    pub async fn run<T>(&self, what: &str, fut: impl Future<Output = Result<T>>) -> Result<T> {
        if self.token.is_cancelled() {
            return Err(Error::Cancelled);
        }
        let deadline = async {
            match self.deadline {
                Some(d) => tokio::time::sleep_until(d.into()).await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            r = fut => r,
            _ = self.token.cancelled() => Err(Error::Cancelled),
            _ = deadline => Err(Error::Timeout(format!("{what}: the context's deadline passed"))),
        }
    }
}
