//! Noticing closed sessions as they appear in `logs/`: inotify, with polling as the fallback.
//!
//! smtp renames a closed record into `logs/` (`IN_MOVED_TO`); a restore or a hand copy writes
//! it (`IN_CLOSE_WRITE`). The event names the session, so nothing is rescanned. When the kernel
//! drops events (queue overflow) the watcher asks for a full scan; when inotify cannot be set
//! up at all (instance limits, a file system without it) the intake relies on its periodic scan.

use std::ffi::OsString;
use std::io;
use std::path::Path;

use futures_util::stream::{BoxStream, StreamExt};
use inotify::{EventMask, Inotify, WatchMask};
use journal::SubmissionId;

/// Events read at most per wake-up: a burst of closing sessions is handled in batches.
const BATCH: usize = 256;

/// One raw inotify event: its mask and the name in the watched directory.
type RawEvent = io::Result<(EventMask, Option<OsString>)>;

/// What the watcher saw.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Seen {
    /// These sessions closed.
    Closed(Vec<SubmissionId>),
    /// Events were lost (or the watch broke): scan the directory.
    Rescan,
}

/// inotify on `logs/`, or nothing (then [`Watcher::next`] never returns).
pub(crate) struct Watcher {
    events: Option<BoxStream<'static, Vec<RawEvent>>>,
}

impl Watcher {
    /// Watches `dir`; on failure logs why and returns a watcher that never fires.
    pub(crate) fn new(dir: &Path) -> Watcher {
        match Self::try_new(dir) {
            Ok(watcher) => watcher,
            Err(e) => {
                tracing::warn!(dir = %dir.display(), error = %e,
                    "cannot watch logs/ with inotify; relying on periodic scans");
                Watcher { events: None }
            }
        }
    }

    fn try_new(dir: &Path) -> io::Result<Watcher> {
        let inotify = Inotify::init()?;
        inotify
            .watches()
            .add(dir, WatchMask::MOVED_TO | WatchMask::CLOSE_WRITE)?;
        let stream = inotify
            .into_event_stream([0u8; 4096])?
            .map(|event| event.map(|e| (e.mask, e.name)))
            .ready_chunks(BATCH)
            .boxed();
        Ok(Watcher {
            events: Some(stream),
        })
    }

    /// The next batch of closed sessions (pending forever without inotify).
    pub(crate) async fn next(&mut self) -> Seen {
        let Some(events) = self.events.as_mut() else {
            return std::future::pending().await;
        };
        match events.next().await {
            Some(batch) => interpret(batch),
            None => {
                // The stream ended: inotify is gone. Scan once, then rely on polling.
                tracing::warn!("inotify stream ended; relying on periodic scans");
                self.events = None;
                Seen::Rescan
            }
        }
    }
}

/// Turns a batch of raw events into closed sessions, or a rescan if any event signals loss.
fn interpret(batch: Vec<RawEvent>) -> Seen {
    let mut closed = Vec::new();
    for event in batch {
        match event {
            Ok((mask, _)) if mask.contains(EventMask::Q_OVERFLOW) => return Seen::Rescan,
            Ok((_, Some(name))) => {
                // Other names (temporaries, `.open`) are not sessions.
                if let Some(id) = name.to_str().and_then(|n| n.parse().ok()) {
                    closed.push(id);
                }
            }
            Ok((_, None)) => {}
            Err(e) => {
                tracing::warn!(error = %e, "reading inotify events failed; scanning instead");
                return Seen::Rescan;
            }
        }
    }
    Seen::Closed(closed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn session_names_become_ids_and_other_names_are_ignored() {
        let id = journal::IdGenerator::new().next_submission();
        let seen = interpret(vec![
            Ok((EventMask::MOVED_TO, Some(OsString::from(id.as_str())))),
            Ok((EventMask::CLOSE_WRITE, Some(OsString::from(".tmp-x")))),
        ]);
        assert_eq!(seen, Seen::Closed(vec![id]));
    }

    #[test]
    fn overflow_asks_for_a_rescan() {
        let seen = interpret(vec![Ok((EventMask::Q_OVERFLOW, None))]);
        assert_eq!(seen, Seen::Rescan);
    }

    #[tokio::test]
    async fn a_record_renamed_into_the_directory_is_seen() {
        let dir = tempfile::tempdir().unwrap();
        let mut watcher = Watcher::new(dir.path());
        let id = journal::IdGenerator::new().next_submission();
        let temp = dir.path().join("staging");
        std::fs::write(&temp, "x").unwrap();
        std::fs::rename(&temp, dir.path().join(id.as_str())).unwrap();
        loop {
            match watcher.next().await {
                Seen::Closed(ids) if ids.contains(&id) => break,
                Seen::Closed(_) => continue,
                Seen::Rescan => panic!("unexpected rescan"),
            }
        }
    }
}
