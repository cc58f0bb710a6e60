//! The backoff schedule as a plain iterator: exact sequences, the cap,
//! saturation, and jitter bounds and seeds. Nothing sleeps.

use std::time::Duration;

use klieo_retry::{Backoff, Jitter, RetryPolicy};

use crate::support::ms;

#[test]
fn default_schedule_is_100_200_400_ms() {
    let mut b = Backoff::new(&RetryPolicy::default());
    assert_eq!(b.len(), 3);
    assert_eq!(b.by_ref().collect::<Vec<_>>(), ms(&[100, 200, 400]));
    assert_eq!(b.next(), None);
    assert_eq!(b.next(), None);
}

#[test]
fn cap_applies_to_every_later_delay() {
    let p = RetryPolicy::new()
        .with_max_retries(6)
        .with_max_delay(Duration::from_millis(500));
    let got: Vec<_> = Backoff::new(&p).collect();
    assert_eq!(got, ms(&[100, 200, 400, 500, 500, 500]));
}

#[test]
fn base_above_cap_is_capped() {
    let p = RetryPolicy::new()
        .with_base_delay(Duration::from_secs(10))
        .with_max_delay(Duration::from_secs(1));
    assert_eq!(Backoff::new(&p).collect::<Vec<_>>(), ms(&[1000; 3]));
}

#[test]
fn factor_one_is_constant_and_fractional_factor_grows() {
    let p = RetryPolicy::new()
        .with_max_retries(4)
        .with_factor(1.0)
        .unwrap();
    assert_eq!(Backoff::new(&p).collect::<Vec<_>>(), ms(&[100; 4]));
    let p = p.with_factor(1.5).unwrap();
    let micros = [100_000, 150_000, 225_000, 337_500].map(Duration::from_micros);
    assert_eq!(Backoff::new(&p).collect::<Vec<_>>(), micros);
}

#[test]
fn zero_retries_yields_nothing() {
    let mut b = Backoff::new(&RetryPolicy::none());
    assert_eq!(b.len(), 0);
    assert_eq!(b.next(), None);
}

#[test]
fn huge_inputs_saturate_without_panicking() {
    let p = RetryPolicy::new()
        .with_max_retries(u32::MAX)
        .with_base_delay(Duration::MAX)
        .with_factor(f64::MAX)
        .unwrap()
        .with_max_delay(Duration::MAX)
        .with_jitter(Jitter::Full);
    let mut b = Backoff::with_seed(&p, 1);
    assert_eq!(b.len(), u32::MAX as usize);
    for d in b.by_ref().take(2_000) {
        assert!(d <= Duration::MAX);
    }
    let p = p
        .with_jitter(Jitter::None)
        .with_base_delay(Duration::from_nanos(1));
    let last = Backoff::new(&p).take(2_000).last().unwrap();
    assert_eq!(last, Duration::MAX);
    let zero = p.with_base_delay(Duration::ZERO);
    assert!(Backoff::new(&zero).take(100).all(|d| d == Duration::ZERO));
}

#[test]
fn full_jitter_stays_within_zero_and_the_delay() {
    let p = RetryPolicy::new()
        .with_max_retries(8)
        .with_max_delay(Duration::from_secs(3))
        .with_jitter(Jitter::Full);
    let plain: Vec<_> = Backoff::new(&p.clone().with_jitter(Jitter::None)).collect();
    for seed in 0..500 {
        for (got, cap) in Backoff::with_seed(&p, seed).zip(&plain) {
            assert!(got <= *cap, "seed {seed}: {got:?} > {cap:?}");
        }
    }
}

#[test]
fn equal_jitter_stays_within_half_and_the_delay() {
    let p = RetryPolicy::new()
        .with_max_retries(8)
        .with_max_delay(Duration::from_secs(3))
        .with_jitter(Jitter::Equal);
    let plain: Vec<_> = Backoff::new(&p.clone().with_jitter(Jitter::None)).collect();
    for seed in 0..500 {
        for (got, cap) in Backoff::with_seed(&p, seed).zip(&plain) {
            assert!(
                got >= *cap / 2 && got <= *cap,
                "seed {seed}: {got:?} vs {cap:?}"
            );
        }
    }
}

#[test]
fn jitter_actually_varies_and_seeds_reproduce() {
    let p = RetryPolicy::new().with_jitter(Jitter::Full);
    let a: Vec<_> = Backoff::with_seed(&p, 1).collect();
    assert_eq!(a, Backoff::with_seed(&p, 1).collect::<Vec<_>>());
    assert_ne!(a, Backoff::with_seed(&p, 2).collect::<Vec<_>>());
    assert_ne!(a, ms(&[100, 200, 400]));
}

#[test]
fn the_policy_seed_fixes_the_schedule() {
    let p = RetryPolicy::new()
        .with_max_retries(6)
        .with_jitter(Jitter::Full);
    let seeded = p.clone().with_jitter_seed(Some(5));
    let a: Vec<_> = Backoff::new(&seeded).collect();
    assert_eq!(a, Backoff::new(&seeded).collect::<Vec<_>>());
    assert_eq!(a, Backoff::with_seed(&p, 5).collect::<Vec<_>>());
    // `with_seed` wins over the policy's seed.
    assert_eq!(
        Backoff::with_seed(&seeded, 6).collect::<Vec<_>>(),
        Backoff::with_seed(&p, 6).collect::<Vec<_>>()
    );
    // Without a seed, each schedule draws its own.
    assert_ne!(
        Backoff::new(&p).collect::<Vec<_>>(),
        Backoff::new(&p).collect::<Vec<_>>()
    );
}
