//! Integration tests of klieo-types, one binary.
#![allow(clippy::unwrap_used, clippy::panic)]

mod episode_json;
mod tool_set;
