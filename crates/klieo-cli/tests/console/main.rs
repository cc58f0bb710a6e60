//! `klieo console` as a browser and a script meet it: over HTTP, the
//! token, the pages, their escaping and the forms ([`pages`],
//! [`actions`]); in Chromium driven by Playwright, a person's path
//! through it ([`browser`], run by `cargo xtask ci`'s console step).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
#![allow(
    clippy::print_stdout,
    reason = "the browser test shows what its script checked"
)]

mod actions;
mod browser;
mod pages;
mod support;
