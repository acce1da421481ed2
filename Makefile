# Developer tasks. `make test` is the README's test command (what CI runs); the others are
# quicker loops for a change in progress. See docs/DEVELOPMENT.md.

.PHONY: check test-fast test bench doc

# Format and lint, as CI checks them.
check:
	cargo fmt --all -- --check
	cargo clippy --workspace --all-targets --locked -- -D warnings

# The unit, doc and SQLite tests: no emulator, no Python venv, no browser. Under a minute
# once built. Tests that need the emulator are left out, or skip (`SGGUARD_TEST_AWS_ENDPOINT`
# unset); the headless-browser test is left out.
test-fast:
	cargo build --workspace --all-targets --locked
	cargo test --workspace --doc --locked
	SGGUARD_TEST_AWS_ENDPOINT= cargo nextest run --workspace --locked \
		-E 'not (package(sgguard-aws) | package(sgguard-system-tests) | test(/chromium/))'

# Everything, exactly as CI runs it (installs the emulator, checkov and Chromium if missing).
test:
	scripts/test

# The criterion benches and the request-cost figures (see docs/DEVELOPMENT.md).
bench:
	cargo bench --workspace --locked

doc:
	cargo doc --workspace --no-deps --locked
