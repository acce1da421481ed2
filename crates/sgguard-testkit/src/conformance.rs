//! Conformance suites for the ports: every store runs the same assertions.
