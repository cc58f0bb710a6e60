//! Integration tests of klieo-sqlite, one binary: each opens real files in
//! a temporary directory.
mod journal;
mod memories;
mod queue;
mod schema;
