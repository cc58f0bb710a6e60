//! Integration tests of klieo-stream, one binary.
mod pump;
