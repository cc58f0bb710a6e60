//! Integration tests of klieo-stream, one binary.
mod pump;
mod sse;
mod sse_bounds;
mod sse_stream;
mod support;
