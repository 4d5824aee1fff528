//! When and how to try a storage request again.
//!
//! `object_store`'s HTTP client already retries what it can see at the HTTP
//! level (5xx, 429, refused connections, timeouts of safe requests). This
//! layer sits above every store, local ones and test wrappers included, and
//! covers what that one cannot: a create-only PUT whose answer was lost, a
//! body that broke off or came back short, a list that failed half-way, a
//! request that never answers. Attempts are bounded, spaced by exponential
//! backoff with full jitter (so many writers hitting one bucket do not retry
//! in lockstep), and each has a deadline.

use std::time::Duration;

/// How hard to try.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Attempts per request, the first included: 1 never retries.
    pub max_attempts: u32,
    /// Upper bound of the first pause; it doubles per attempt.
    pub initial_backoff: Duration,
    /// Upper bound of any pause.
    pub max_backoff: Duration,
    /// Longest one attempt may take (connect, send, and the whole body)
    /// before it counts as a failed, retryable attempt.
    pub attempt_timeout: Duration,
}

impl Default for RetryPolicy {
    /// Six attempts spread over about half a minute at worst: long enough to
    /// ride out a load balancer restart, short enough that a cron job with a
    /// dead endpoint fails the same night.
    fn default() -> Self {
        Self {
            max_attempts: 6,
            initial_backoff: Duration::from_millis(200),
            max_backoff: Duration::from_secs(10),
            attempt_timeout: Duration::from_secs(300),
        }
    }
}

impl RetryPolicy {
    /// The pause before attempt `attempt + 1` (after `attempt` failures,
    /// counted from 1): uniformly random in `0..=min(max, initial * 2^(attempt-1))`.
    pub fn backoff(&self, attempt: u32) -> Duration {
        let ceiling = self
            .initial_backoff
            .saturating_mul(1u32 << attempt.saturating_sub(1).min(20))
            .min(self.max_backoff);
        let nanos = u64::try_from(ceiling.as_nanos()).unwrap_or(u64::MAX);
        if nanos == 0 {
            return Duration::ZERO;
        }
        // A failed random source only loses the jitter, not the pause.
        let r = getrandom::u64().unwrap_or(nanos / 2);
        Duration::from_nanos(r % (nanos + 1))
    }
}

/// Whether trying again can help.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Failure {
    /// A blip: the network, an overloaded server, a broken-off body.
    Transient,
    /// The store said no and will say it again: missing, forbidden,
    /// unauthenticated, a full local disk, a malformed request.
    Permanent,
}

/// Sorts a store error into [`Failure`].
pub fn classify(e: &object_store::Error) -> Failure {
    use object_store::Error as E;
    match e {
        E::NotFound { .. }
        | E::AlreadyExists { .. }
        | E::Precondition { .. }
        | E::NotModified { .. }
        | E::PermissionDenied { .. }
        | E::Unauthenticated { .. }
        | E::InvalidPath { .. }
        | E::NotSupported { .. }
        | E::NotImplemented { .. }
        | E::UnknownConfigurationKey { .. } => Failure::Permanent,
        E::Generic { .. } => classify_generic(e),
        _ => Failure::Transient,
    }
}

/// A generic error is transient unless its chain shows a refusal: a local
/// file system that is full or read-only, or an HTTP client error (4xx other
/// than 408 and 429) that `object_store` surfaced without a variant of its own.
fn classify_generic(e: &(dyn std::error::Error + 'static)) -> Failure {
    use std::io::ErrorKind as K;
    let mut cur: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(err) = cur {
        if let Some(io) = err.downcast_ref::<std::io::Error>() {
            if matches!(
                io.kind(),
                K::StorageFull
                    | K::QuotaExceeded
                    | K::ReadOnlyFilesystem
                    | K::PermissionDenied
                    | K::FileTooLarge
                    | K::InvalidInput
                    | K::NotFound
            ) {
                return Failure::Permanent;
            }
        }
        if let Some(status) = http_status(&err.to_string()) {
            if (400..500).contains(&status) && status != 408 && status != 429 {
                return Failure::Permanent;
            }
        }
        cur = err.source();
    }
    Failure::Transient
}

/// The status in `object_store`'s "Server returned non-2xx status code: 403 Forbidden"
/// (its retry error type is private, so the text is all there is).
fn http_status(message: &str) -> Option<u16> {
    let rest = message.split("status code: ").nth(1)?;
    rest.get(..3)?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn generic(msg: &str) -> object_store::Error {
        object_store::Error::Generic {
            store: "S3",
            source: msg.to_string().into(),
        }
    }

    #[test]
    fn refusals_are_permanent_and_blips_transient() {
        let missing = object_store::Error::NotFound {
            path: "config".into(),
            source: "no".into(),
        };
        assert_eq!(classify(&missing), Failure::Permanent);
        assert_eq!(
            classify(&generic(
                "Server returned non-2xx status code: 503 Service Unavailable"
            )),
            Failure::Transient
        );
        assert_eq!(
            classify(&generic(
                "Server returned non-2xx status code: 429 Too Many Requests"
            )),
            Failure::Transient
        );
        assert_eq!(
            classify(&generic(
                "Server returned non-2xx status code: 400 Bad Request: <Error>"
            )),
            Failure::Permanent
        );
        assert_eq!(classify(&generic("connection reset")), Failure::Transient);
        let full = object_store::Error::Generic {
            store: "LocalFileSystem",
            source: Box::new(std::io::Error::from(std::io::ErrorKind::StorageFull)),
        };
        assert_eq!(classify(&full), Failure::Permanent);
    }

    #[test]
    fn backoff_is_bounded_and_grows() {
        let p = RetryPolicy {
            max_attempts: 10,
            initial_backoff: Duration::from_millis(100),
            max_backoff: Duration::from_secs(1),
            attempt_timeout: Duration::from_secs(1),
        };
        for attempt in 1..12 {
            let ceiling = Duration::from_millis(100 * (1u64 << (attempt - 1).min(20)))
                .min(Duration::from_secs(1));
            for _ in 0..50 {
                assert!(p.backoff(attempt) <= ceiling, "attempt {attempt}");
            }
        }
        // Full jitter: over many draws, some pauses are below half the ceiling.
        assert!((0..200).any(|_| p.backoff(5) < Duration::from_millis(500)));
    }
}
