//! Integration tests of klieo-stream, one binary.
mod sse;
mod sse_bounds;
mod sse_stream;
mod support;
