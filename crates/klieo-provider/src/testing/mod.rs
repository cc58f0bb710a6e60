//! For provider tests (feature `testing`): [`RawServer`], a loopback
//! HTTP/1.1 server that plays a script, and [`conformance`], the
//! scenarios every provider must pass.

pub mod conformance;
mod server;

pub use server::{
    chunk, full_response, last_chunk, response, sse_head, sse_in_pieces, Act, RawServer,
};
