//! Integration tests of klieo-postgres, one binary. Those marked
//! `#[ignore]` need a PostgreSQL server: `cargo xtask ci` starts one and
//! runs them with `KLIEO_POSTGRES_URL` set; each makes a database of its
//! own; the TLS tests need the CAs it makes (`KLIEO_POSTGRES_CA`,
//! `KLIEO_POSTGRES_OTHER_CA`).
mod claims;
mod golden;
mod store;
mod support;
mod tls;
