//! Latency samples and the report printed at the end of a run.

use std::time::Duration;

/// Outcomes of a run: one latency per completed unit of work (a session, a message).
#[derive(Debug, Default)]
pub struct Stats {
    latencies: Vec<Duration>,
    errors: u64,
    first_errors: Vec<String>,
}

impl Stats {
    /// Records one completed unit.
    pub fn ok(&mut self, latency: Duration) {
        self.latencies.push(latency);
    }

    /// Records one failure (the first few are kept for the report).
    pub fn error(&mut self, e: &anyhow::Error) {
        self.errors += 1;
        if self.first_errors.len() < 5 {
            self.first_errors.push(format!("{e:#}"));
        }
    }

    /// Folds another client's stats into these.
    pub fn merge(&mut self, other: Stats) {
        self.latencies.extend(other.latencies);
        self.errors += other.errors;
        for e in other.first_errors {
            if self.first_errors.len() < 5 {
                self.first_errors.push(e);
            }
        }
    }

    /// Completed units.
    pub fn count(&self) -> usize {
        self.latencies.len()
    }

    /// The `p`-th percentile (0–100) of the latencies.
    pub fn percentile(&mut self, p: f64) -> Duration {
        if self.latencies.is_empty() {
            return Duration::ZERO;
        }
        self.latencies.sort_unstable();
        let rank = ((p / 100.0) * (self.latencies.len() - 1) as f64).round() as usize;
        self.latencies[rank.min(self.latencies.len() - 1)]
    }

    /// Prints the report: `unit`s per second, p50/p99/max latency, errors.
    pub fn report(&mut self, unit: &str, elapsed: Duration) {
        let rate = self.count() as f64 / elapsed.as_secs_f64();
        println!("{:<12} {}", format!("{unit}s"), self.count());
        println!(
            "{:<12} {:.1}/s over {:.1} s",
            "rate",
            rate,
            elapsed.as_secs_f64()
        );
        println!(
            "{:<12} p50 {:.2} ms  p99 {:.2} ms  max {:.2} ms",
            "latency",
            ms(self.percentile(50.0)),
            ms(self.percentile(99.0)),
            ms(self.percentile(100.0))
        );
        println!("{:<12} {}", "errors", self.errors);
        for e in &self.first_errors {
            println!("  error: {e}");
        }
    }
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_of_known_samples() {
        let mut s = Stats::default();
        for i in 1..=100 {
            s.ok(Duration::from_millis(i));
        }
        assert_eq!(s.percentile(50.0), Duration::from_millis(51));
        assert_eq!(s.percentile(99.0), Duration::from_millis(99));
        assert_eq!(s.percentile(100.0), Duration::from_millis(100));
    }
}
