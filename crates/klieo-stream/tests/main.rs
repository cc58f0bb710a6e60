//! Integration tests of klieo-stream, one binary.
mod sse;
mod sse_stream;
