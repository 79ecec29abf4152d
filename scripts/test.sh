#!/usr/bin/env bash
# The one test command: Rust unit/integration tests, then the client
# compatibility suite (boto3, aws CLI, rclone, s3cmd, MinIO Python SDK, AWS SDK
# for JavaScript v3, raw SigV4) against the real binary.  Stops at the first failure.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

# The failpoints feature compiles crash points into the test server; the
# binary the client tests use below is built without them.
echo "==> cargo test --workspace --features failpoints"
cargo test --workspace --features failpoints

echo "==> cargo build"
cargo build

export COFFER_BIN="${COFFER_BIN:-$PWD/target/debug/coffer}"
echo "==> python3 -m pytest -q tests/clients   (COFFER_BIN=$COFFER_BIN)"
python3 -m pytest -q tests/clients
