//! Integration tests of klieo-openai, one binary.
#![allow(clippy::unwrap_used, clippy::panic)]

mod config;
mod conformance;
mod discovery;
mod embeddings;
mod errors;
mod faults;
mod llama_cpp;
mod raw_tcp;
mod reply;
mod request_body;
mod secrets;
mod streaming;
mod support;
