//! Reconnect back-off: the randomised exponential schedule of the reference's `recovery`
//! module (protocol.md §6.3), as pure math with the random source passed in.
//!
//! The delay before reconnect attempt `n` is:
//!
//! - `n == 1`: exactly `min`;
//! - `n > 1`: `min(round((r + 1) * min * factor^(n - 1)), max)` with `r` uniform in `[0, 1)`.
//!
//! So attempt 2 waits in `[2·min, 4·min)` (with the default factor 2), attempt 3 in
//! `[4·min, 8·min)`, and so on, capped at `max`. The jitter spreads clients that lost the
//! same server at the same moment. After `retries` attempts the schedule is exhausted and
//! the client gives up (`reconnect failed`).
//!
//! ```
//! use primus_core::backoff::Backoff;
//! use std::time::Duration;
//!
//! let backoff = Backoff { min: Duration::from_millis(100), max: Some(Duration::from_millis(1000)), ..Backoff::default() };
//! assert_eq!(backoff.delay(1, 0.9), Duration::from_millis(100));
//! assert_eq!(backoff.delay(2, 0.0), Duration::from_millis(200));
//! assert_eq!(backoff.delay(3, 0.5), Duration::from_millis(600));
//! assert_eq!(backoff.delay(4, 0.99), Duration::from_millis(1000)); // capped
//!
//! let mut schedule = backoff.schedule();
//! assert_eq!(schedule.next_attempt(|| 0.0), Some((1, Duration::from_millis(100))));
//! ```

use core::time::Duration;

/// Back-off settings, named like the reference's `reconnect` option.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Backoff {
    /// Delay before the first attempt and base of the exponential curve. Default 500 ms.
    pub min: Duration,
    /// Upper bound of a delay; `None` means no bound (the reference's `Infinity`, the default).
    pub max: Option<Duration>,
    /// How many attempts to make before giving up. Default 10. `0` gives up at once.
    pub retries: u32,
    /// Growth factor between attempts. Default 2.
    pub factor: f64,
    /// How long one attempt may take to open a connection (`reconnect timeout`). Default 30 s.
    pub timeout: Duration,
}

impl Default for Backoff {
    fn default() -> Self {
        Backoff {
            min: Duration::from_millis(500),
            max: None,
            retries: 10,
            factor: 2.0,
            timeout: Duration::from_secs(30),
        }
    }
}

/// The longest delay we ever produce, so that an unbounded `max` cannot overflow a timer:
/// about 31 years, which is "never" for any practical purpose.
pub const DELAY_CEILING: Duration = Duration::from_secs(1 << 30);

impl Backoff {
    /// The delay before attempt `attempt` (1-based), given `random` drawn uniformly from
    /// `[0, 1)` (values outside are clamped into that range; NaN counts as 0).
    pub fn delay(&self, attempt: u32, random: f64) -> Duration {
        if attempt <= 1 {
            return self.min.min(DELAY_CEILING);
        }
        let r = if random.is_nan() {
            0.0
        } else {
            random.clamp(0.0, 1.0 - f64::EPSILON)
        };
        let min_ms = self.min.as_secs_f64() * 1000.0;
        let exp = i32::try_from(attempt - 1).unwrap_or(i32::MAX);
        // JavaScript's Math.round is floor(x + 0.5).
        let raw_ms = ((r + 1.0) * min_ms * self.factor.powi(exp) + 0.5).floor();
        let ceiling_ms = DELAY_CEILING.as_secs_f64() * 1000.0;
        let ms = if raw_ms.is_finite() {
            raw_ms.clamp(0.0, ceiling_ms)
        } else {
            ceiling_ms
        };
        let delay = Duration::from_millis(ms as u64);
        match self.max {
            Some(max) => delay.min(max),
            None => delay,
        }
    }

    /// A fresh schedule (attempt counter at zero) using these settings.
    pub fn schedule(&self) -> Schedule {
        Schedule {
            backoff: *self,
            attempt: 0,
        }
    }
}

/// One reconnect procedure: counts attempts and hands out their delays until `retries`
/// is reached.
#[derive(Debug, Clone, PartialEq)]
pub struct Schedule {
    backoff: Backoff,
    attempt: u32,
}

impl Schedule {
    /// The number of the last attempt handed out (0 before the first).
    pub fn attempt(&self) -> u32 {
        self.attempt
    }

    /// The settings this schedule follows.
    pub fn backoff(&self) -> &Backoff {
        &self.backoff
    }

    /// The next attempt number and its delay, or `None` when `retries` attempts have been
    /// made (the reference then emits `reconnect failed`). `random` is only called for
    /// attempts after the first.
    pub fn next_attempt(&mut self, random: impl FnOnce() -> f64) -> Option<(u32, Duration)> {
        if self.attempt >= self.backoff.retries {
            return None;
        }
        self.attempt += 1;
        let r = if self.attempt == 1 { 0.0 } else { random() };
        Some((self.attempt, self.backoff.delay(self.attempt, r)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    /// A tiny deterministic generator (xorshift) so the tests need no crate.
    fn rng(seed: u64) -> impl FnMut() -> f64 {
        let mut x = seed.max(1);
        move || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x >> 11) as f64 / (1u64 << 53) as f64
        }
    }

    #[test]
    fn first_attempt_is_exactly_min_whatever_the_random_value() {
        let b = Backoff::default();
        for r in [0.0, 0.3, 0.999] {
            assert_eq!(b.delay(1, r), ms(500));
        }
    }

    #[test]
    fn second_attempt_is_between_two_and_four_min() {
        let b = Backoff::default();
        let mut random = rng(7);
        for _ in 0..1000 {
            let d = b.delay(2, random());
            assert!(d >= ms(1000) && d <= ms(2000), "{d:?}");
        }
        assert_eq!(b.delay(2, 0.0), ms(1000));
        assert_eq!(b.delay(2, 0.9999), ms(2000)); // Math.round can reach the upper edge
    }

    #[test]
    fn matches_the_reference_observation() {
        // protocol.md §6.3: min 100, max 1000 gave 100, 283, 463, 1000.
        let b = Backoff {
            min: ms(100),
            max: Some(ms(1000)),
            ..Backoff::default()
        };
        assert_eq!(b.delay(1, 0.5), ms(100));
        assert_eq!(b.delay(2, 0.415), ms(283));
        assert_eq!(b.delay(3, 0.1575), ms(463));
        assert_eq!(b.delay(4, 0.3), ms(1000));
    }

    #[test]
    fn is_capped_at_max_and_never_overflows() {
        let b = Backoff {
            max: Some(ms(3000)),
            ..Backoff::default()
        };
        for n in 1..200 {
            assert!(b.delay(n, 0.999) <= ms(3000));
        }
        let unbounded = Backoff {
            factor: 1e300,
            ..Backoff::default()
        };
        assert_eq!(unbounded.delay(50, 0.5), DELAY_CEILING);
        assert_eq!(unbounded.delay(u32::MAX, f64::NAN), DELAY_CEILING);
    }

    #[test]
    fn every_delay_is_within_the_formula_bounds() {
        let b = Backoff {
            retries: 30,
            ..Backoff::default()
        };
        let mut schedule = b.schedule();
        let mut random = rng(42);
        let mut seen = 0;
        while let Some((n, d)) = schedule.next_attempt(&mut random) {
            seen += 1;
            assert_eq!(n, seen);
            if n == 1 {
                assert_eq!(d, ms(500));
            } else {
                let low = 500.0 * 2f64.powi(n as i32 - 1);
                let got = d.as_secs_f64() * 1000.0;
                assert!(
                    got >= low.min(DELAY_CEILING.as_secs_f64() * 1000.0),
                    "attempt {n}: {got}"
                );
                assert!(
                    got <= (2.0 * low).min(DELAY_CEILING.as_secs_f64() * 1000.0),
                    "attempt {n}: {got}"
                );
            }
        }
        assert_eq!(seen, 30);
    }

    #[test]
    fn schedule_stops_after_retries() {
        let mut s = Backoff {
            retries: 3,
            ..Backoff::default()
        }
        .schedule();
        assert_eq!(s.next_attempt(|| 0.0).map(|a| a.0), Some(1));
        assert_eq!(s.next_attempt(|| 0.0).map(|a| a.0), Some(2));
        assert_eq!(s.next_attempt(|| 0.0).map(|a| a.0), Some(3));
        assert_eq!(s.next_attempt(|| 0.0), None);
        assert_eq!(s.attempt(), 3);
        let mut none = Backoff {
            retries: 0,
            ..Backoff::default()
        }
        .schedule();
        assert_eq!(none.next_attempt(|| 0.0), None);
    }

    #[test]
    fn jitter_spreads_clients() {
        // 1000 simulated clients that lost the same server at the same moment. Attempt 3
        // spreads them over [2 s, 4 s) (20 buckets of 100 ms, 5 % each on average), attempt 4
        // over [4 s, 8 s) (40 buckets, 2.5 %): no bucket may hold much more than its share.
        let b = Backoff::default();
        let mut random = rng(1234);
        for (attempt, limit) in [(3u32, 80u32), (4, 45), (5, 30)] {
            let mut buckets = std::collections::HashMap::<u128, u32>::new();
            for _ in 0..1000 {
                let mut s = b.schedule();
                let mut last = Duration::ZERO;
                for _ in 0..attempt {
                    last = s.next_attempt(&mut random).unwrap().1;
                }
                *buckets.entry(last.as_millis() / 100).or_default() += 1;
            }
            let fullest = buckets.values().copied().max().unwrap();
            assert!(
                fullest <= limit,
                "attempt {attempt}: a 100 ms bucket holds {fullest} of 1000"
            );
        }
    }
}
