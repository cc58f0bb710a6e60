//! Integration tests of klieo-anthropic, one binary, against loopback servers.
