//! Integration tests of klieo-provider, one binary.
mod sse;
mod sse_bounds;
mod sse_stream;
mod support;
