//! TLS to the server `cargo xtask ci` starts, which serves a certificate
//! its test CA signed for 127.0.0.1: `sslmode=verify-full` with that CA
//! connects; with another CA it fails, naming the host.

#![allow(clippy::panic, reason = "a failed check is a panic, like assert!")]

use crate::support::fresh_url;
use klieo_postgres::{OpenError, PostgresStore};

/// `url` asking for `verify-full` against the CA in the environment
/// variable `ca` (a path `cargo xtask ci` sets).
fn verified(url: &str, ca: &str) -> String {
    let ca = std::env::var(ca)
        .unwrap_or_else(|_| panic!("{ca} names a CA file: cargo xtask ci sets it"));
    let joiner = if url.contains('?') { '&' } else { '?' };
    format!("{url}{joiner}sslmode=verify-full&sslrootcert={ca}")
}

#[tokio::test]
#[ignore = "needs a PostgreSQL server with TLS: cargo xtask ci starts one"]
async fn verify_full_connects_with_the_ca_that_signed_the_servers_certificate() {
    let url = verified(&fresh_url().await, "KLIEO_POSTGRES_CA");
    let store = PostgresStore::connect(&url).await;
    assert!(store.is_ok(), "{:?}", store.err());
}

#[tokio::test]
#[ignore = "needs a PostgreSQL server with TLS: cargo xtask ci starts one"]
async fn verify_full_refuses_a_certificate_another_ca_signed_naming_the_host() {
    let url = verified(&fresh_url().await, "KLIEO_POSTGRES_OTHER_CA");
    let Err(e) = PostgresStore::connect(&url).await else {
        panic!("a certificate another CA signed was trusted");
    };
    assert!(
        matches!(&e, OpenError::Tls { host, .. } if host == "127.0.0.1"),
        "{e:?}"
    );
    let text = e.to_string();
    assert!(
        text.contains("127.0.0.1") && text.contains("sslrootcert"),
        "{text}"
    );
    assert!(!text.contains("klieo@"), "the URL is not shown: {text}");
}
