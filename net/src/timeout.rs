//! Deadlines for I/O: every read, write and handshake a service performs on behalf of a remote
//! peer is bounded, so a silent or trickling client cannot hold a connection slot forever.

use std::future::Future;
use std::io;
use std::time::Duration;

/// Runs `fut`, failing with [`io::ErrorKind::TimedOut`] if it has not finished within `d`.
///
/// The error keeps the I/O shape of the operation it wraps, so callers handle a timeout like any
/// other failed read or write (end the session with the protocol's "timeout" reply). When `fut`
/// is cancel-safe (such as [`crate::LineReader::read_line`]), nothing is lost on expiry.
pub async fn with_timeout<T>(
    d: Duration,
    fut: impl Future<Output = io::Result<T>>,
) -> io::Result<T> {
    match tokio::time::timeout(d, fut).await {
        Ok(result) => result,
        Err(_elapsed) => Err(io::Error::new(
            io::ErrorKind::TimedOut,
            format!("no progress within {d:?}; the peer was too slow or went silent"),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn finished_operation_returns_its_result() {
        let value = with_timeout(Duration::from_secs(60), async { Ok(7) })
            .await
            .unwrap();
        assert_eq!(value, 7);
    }

    #[tokio::test]
    async fn operation_error_is_passed_through_unchanged() {
        let err = with_timeout(Duration::from_secs(60), async {
            Err::<(), _>(io::Error::new(io::ErrorKind::BrokenPipe, "gone"))
        })
        .await
        .unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::BrokenPipe);
    }

    #[tokio::test]
    async fn stalled_operation_times_out() {
        let err = with_timeout(
            Duration::from_millis(10),
            std::future::pending::<io::Result<()>>(),
        )
        .await
        .unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::TimedOut);
    }
}
