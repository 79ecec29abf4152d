"""The AWS SDK for JavaScript v3 against a real Coffer server.

The scenario itself is tests/clients/js/scenario.mjs (CreateBucket,
Put/GetObject, a lib-storage multipart Upload, ListObjectsV2 pagination, a
presigned GET fetched with fetch(), DeleteObjects); it checks what comes back
and exits non-zero on the first mismatch.  Its packages come from
tests/clients/js/package-lock.json: `npm ci` there (.ci/run does it).
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from clientutil import empty_and_delete_bucket, err, in_ci, out, require_binary, run

JS_DIR = Path(__file__).resolve().parent / "js"
NODE = require_binary("node")


def require_node_modules() -> None:
    if (JS_DIR / "node_modules" / "@aws-sdk" / "client-s3").is_dir():
        return
    msg = f"the AWS SDK for JavaScript is not installed in {JS_DIR} (run `npm ci` there)"
    if in_ci():
        pytest.fail(f"{msg}; CI=true so it must be installed (see .ci/run)", pytrace=False)
    pytest.skip(msg)


def test_js_sdk_v3_scenario(server, s3, bucket_name):
    require_node_modules()
    env = dict(os.environ, COFFER_ACCESS_KEY=server.access_key, COFFER_SECRET_KEY=server.secret_key)
    try:
        proc = run([NODE, "scenario.mjs", "--endpoint", server.endpoint, "--bucket", bucket_name],
                   env=env, cwd=JS_DIR, timeout=300, check=False)
    finally:
        # The scenario removes its bucket itself unless it failed half-way.
        empty_and_delete_bucket(s3, bucket_name)
    assert proc.returncode == 0, f"scenario.mjs exited {proc.returncode}\n{out(proc)}{err(proc)}"
    assert "ok DeleteObjects" in out(proc), out(proc)
