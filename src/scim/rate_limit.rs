//! Per-tenant rate limits: a token bucket per tenant, so that one customer's bulk push cannot
//! starve the others. A request over the limit gets 429 with `Retry-After` (Okta reschedules
//! the failed jobs itself after that delay).
//!
//! The setting ([`RateLimit`]) is a steady rate in requests per second, or `off`; the bucket
//! holds [`BURST_SECONDS`] seconds of that rate, so a burst after a quiet spell is served at
//! once. The default, [`DEFAULT_RPS`], is twice the 25 requests/s per tenant that Microsoft
//! requires a gallery SCIM app to sustain, and above the peaks observed from Okta and Entra
//! (docs/operations.md, "Rate limits").

use std::fmt;
use std::str::FromStr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// Requests per second a tenant is allowed when its entry says nothing.
pub const DEFAULT_RPS: f64 = 50.0;

/// The bucket holds this many seconds of the steady rate.
pub const BURST_SECONDS: f64 = 2.0;

/// A tenant's limit: `rate_limit: 50` (requests per second, fractions allowed) or
/// `rate_limit: off`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum RateLimit {
    PerSecond(f64),
    Off,
}

impl Default for RateLimit {
    fn default() -> Self {
        RateLimit::PerSecond(DEFAULT_RPS)
    }
}

impl RateLimit {
    /// The most requests one burst may hold (at least one request).
    fn burst(rps: f64) -> f64 {
        (rps * BURST_SECONDS).max(1.0)
    }

    pub fn is_default(&self) -> bool {
        *self == RateLimit::default()
    }
}

/// The setting as the tenant registry stores it (`default`, `off` or whole requests per
/// second), as the limiter applies it.
impl From<crate::store::registry::RateLimit> for RateLimit {
    fn from(stored: crate::store::registry::RateLimit) -> Self {
        match stored {
            crate::store::registry::RateLimit::Default => RateLimit::default(),
            crate::store::registry::RateLimit::Off => RateLimit::Off,
            crate::store::registry::RateLimit::PerSecond(rps) => {
                RateLimit::PerSecond(f64::from(rps))
            }
        }
    }
}

impl fmt::Display for RateLimit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RateLimit::PerSecond(rps) => write!(f, "{rps}"),
            RateLimit::Off => f.write_str("off"),
        }
    }
}

impl FromStr for RateLimit {
    type Err = String;

    /// `off`, or a positive number of requests per second (`--rate-limit 50`).
    fn from_str(text: &str) -> Result<Self, String> {
        let text = text.trim();
        if text.eq_ignore_ascii_case("off") {
            return Ok(RateLimit::Off);
        }
        match text.parse::<f64>() {
            Ok(rps) if rps.is_finite() && rps > 0.0 => Ok(RateLimit::PerSecond(rps)),
            _ => Err(format!(
                "`{text}` is not a rate limit: give requests per second (a number above 0) or `off`"
            )),
        }
    }
}

impl Serialize for RateLimit {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self {
            RateLimit::PerSecond(rps) => serializer.serialize_f64(*rps),
            RateLimit::Off => serializer.serialize_str("off"),
        }
    }
}

impl<'de> Deserialize<'de> for RateLimit {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Raw {
            Number(f64),
            Text(String),
        }
        let text = match Raw::deserialize(deserializer)? {
            Raw::Number(rps) => rps.to_string(),
            Raw::Text(text) => text,
        };
        text.parse().map_err(serde::de::Error::custom)
    }
}

/// A tenant's bucket: refilled at the steady rate, one token per request.
pub struct RateLimiter {
    bucket: Mutex<Bucket>,
}

struct Bucket {
    limit: RateLimit,
    tokens: f64,
    refilled: Instant,
}

impl RateLimiter {
    /// A full bucket.
    pub fn new(limit: RateLimit) -> RateLimiter {
        let tokens = match limit {
            RateLimit::PerSecond(rps) => RateLimit::burst(rps),
            RateLimit::Off => 0.0,
        };
        RateLimiter {
            bucket: Mutex::new(Bucket {
                limit,
                tokens,
                refilled: Instant::now(),
            }),
        }
    }

    pub fn limit(&self) -> RateLimit {
        self.bucket.lock().unwrap_or_else(|p| p.into_inner()).limit
    }

    /// Changes the limit at once; the tokens left carry over, up to the new burst.
    pub fn set(&self, limit: RateLimit) {
        let mut bucket = self.bucket.lock().unwrap_or_else(|p| p.into_inner());
        if bucket.limit == limit {
            return;
        }
        let now = Instant::now();
        bucket.refill(now);
        bucket.tokens = match (bucket.limit, limit) {
            (_, RateLimit::Off) => 0.0,
            (RateLimit::Off, RateLimit::PerSecond(rps)) => RateLimit::burst(rps),
            (RateLimit::PerSecond(_), RateLimit::PerSecond(rps)) => {
                bucket.tokens.min(RateLimit::burst(rps))
            }
        };
        bucket.limit = limit;
    }

    /// Takes a token for one request, or says how long until one is there.
    pub fn admit(&self) -> Result<(), Duration> {
        self.admit_at(Instant::now())
    }

    fn admit_at(&self, now: Instant) -> Result<(), Duration> {
        let mut bucket = self.bucket.lock().unwrap_or_else(|p| p.into_inner());
        let RateLimit::PerSecond(rps) = bucket.limit else {
            return Ok(());
        };
        bucket.refill(now);
        if bucket.tokens >= 1.0 {
            bucket.tokens -= 1.0;
            return Ok(());
        }
        Err(Duration::from_secs_f64((1.0 - bucket.tokens) / rps))
    }
}

impl Bucket {
    fn refill(&mut self, now: Instant) {
        if let RateLimit::PerSecond(rps) = self.limit {
            let elapsed = now.saturating_duration_since(self.refilled).as_secs_f64();
            self.tokens = (self.tokens + elapsed * rps).min(RateLimit::burst(rps));
        }
        self.refilled = now;
    }
}

/// `Retry-After` in whole seconds (RFC 9110 delta-seconds), rounded up, at least 1.
pub fn retry_after_secs(wait: Duration) -> u64 {
    wait.as_secs_f64().ceil().max(1.0) as u64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_burst_is_served_then_the_steady_rate() {
        let limiter = RateLimiter::new(RateLimit::PerSecond(10.0));
        let start = Instant::now();
        for _ in 0..20 {
            assert!(limiter.admit_at(start).is_ok());
        }
        let wait = limiter.admit_at(start).unwrap_err();
        assert!((wait.as_secs_f64() - 0.1).abs() < 1e-9, "{wait:?}");
        assert_eq!(retry_after_secs(wait), 1);
        // A tenth of a second later, one more token; never more than the burst.
        assert!(limiter.admit_at(start + Duration::from_millis(100)).is_ok());
        assert!(limiter
            .admit_at(start + Duration::from_millis(100))
            .is_err());
        let later = start + Duration::from_secs(3600);
        for _ in 0..20 {
            assert!(limiter.admit_at(later).is_ok());
        }
        assert!(limiter.admit_at(later).is_err());
    }

    #[test]
    fn slow_rates_wait_whole_seconds_and_off_never_limits() {
        let limiter = RateLimiter::new(RateLimit::PerSecond(0.1));
        let start = Instant::now();
        assert!(limiter.admit_at(start).is_ok());
        let wait = limiter.admit_at(start).unwrap_err();
        assert_eq!(retry_after_secs(wait), 10);
        limiter.set(RateLimit::Off);
        for _ in 0..10_000 {
            assert!(limiter.admit_at(start).is_ok());
        }
        // Back on: a full bucket.
        limiter.set(RateLimit::PerSecond(1.0));
        assert_eq!(limiter.limit(), RateLimit::PerSecond(1.0));
        assert!(limiter.admit().is_ok());
        assert!(limiter.admit().is_ok());
        assert!(limiter.admit().is_err());
    }

    #[test]
    fn settings_parse_from_numbers_and_off() {
        assert_eq!("off".parse(), Ok(RateLimit::Off));
        assert_eq!(" OFF ".parse(), Ok(RateLimit::Off));
        assert_eq!("12.5".parse(), Ok(RateLimit::PerSecond(12.5)));
        for bad in ["0", "-3", "fast", "NaN", "inf", ""] {
            let error = bad.parse::<RateLimit>().unwrap_err();
            assert!(error.contains("requests per second"), "{error}");
        }
        let yaml: Vec<RateLimit> = serde_yaml::from_str("[50, 0.5, off]").unwrap();
        assert_eq!(
            yaml,
            [
                RateLimit::PerSecond(50.0),
                RateLimit::PerSecond(0.5),
                RateLimit::Off
            ]
        );
        assert_eq!(
            serde_yaml::to_string(&yaml).unwrap(),
            "- 50.0\n- 0.5\n- off\n"
        );
        assert!(serde_yaml::from_str::<RateLimit>("0").is_err());
        assert_eq!(RateLimit::default().to_string(), "50");
        use crate::store::registry::RateLimit as Stored;
        assert_eq!(RateLimit::from(Stored::Default), RateLimit::default());
        assert_eq!(RateLimit::from(Stored::Off), RateLimit::Off);
        assert_eq!(
            RateLimit::from(Stored::PerSecond(7)),
            RateLimit::PerSecond(7.0)
        );
    }
}
