//! A counting gate around argon2: at most one password hash per core runs at a time.
//!
//! Each argon2id check holds 19 MiB and a core for ~20 ms. Without a bound, a burst of parallel
//! logins (thousands of connections sending PASS at once) would run them all together on the
//! blocking pool: gigabytes of memory and every core busy. Waiting here instead turns such a burst
//! into a queue. Success-cache hits never pass through the gate, so known clients are not slowed.

use std::sync::{Condvar, Mutex};

/// The gate: a counting semaphore for blocking threads.
#[derive(Debug)]
pub(crate) struct Gate {
    free: Mutex<usize>,
    released: Condvar,
}

/// Holds one place in the gate until dropped.
pub(crate) struct Pass<'a>(&'a Gate);

impl Gate {
    /// A gate with one place per available core.
    pub(crate) fn per_core() -> Self {
        let places = std::thread::available_parallelism().map_or(1, |n| n.get());
        Self::new(places)
    }

    /// A gate with `places` places (at least one).
    pub(crate) fn new(places: usize) -> Self {
        Self {
            free: Mutex::new(places.max(1)),
            released: Condvar::new(),
        }
    }

    /// Waits for a free place.
    pub(crate) fn enter(&self) -> Pass<'_> {
        // A poisoned lock only means a thread panicked while counting; the count is still right.
        let mut free = self.free.lock().unwrap_or_else(|e| e.into_inner());
        while *free == 0 {
            free = self.released.wait(free).unwrap_or_else(|e| e.into_inner());
        }
        *free -= 1;
        Pass(self)
    }
}

impl Drop for Pass<'_> {
    fn drop(&mut self) {
        *self.0.free.lock().unwrap_or_else(|e| e.into_inner()) += 1;
        self.0.released.notify_one();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};

    #[test]
    fn no_more_than_the_places_run_at_once() {
        let gate = Arc::new(Gate::new(2));
        let inside = Arc::new(AtomicUsize::new(0));
        let most = Arc::new(AtomicUsize::new(0));
        let threads: Vec<_> = (0..8)
            .map(|_| {
                let (gate, inside, most) = (gate.clone(), inside.clone(), most.clone());
                std::thread::spawn(move || {
                    let _pass = gate.enter();
                    let now = inside.fetch_add(1, Ordering::SeqCst) + 1;
                    most.fetch_max(now, Ordering::SeqCst);
                    std::thread::sleep(std::time::Duration::from_millis(20));
                    inside.fetch_sub(1, Ordering::SeqCst);
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        assert_eq!(most.load(Ordering::SeqCst), 2);
    }
}
