"""Fixtures for the Coffer client-compatibility suite.

* `coffer_server` (session): starts the real `coffer serve` binary on port 0
  with a fresh data dir and fixed root keys, waits for the
  `coffer listening on http://HOST:PORT` line, and on teardown sends SIGTERM
  and asserts exit code 0.
* `server` (function): the same object, checked to be still running before and
  after each test (a crash is reported against the test that caused it).
* `bucket_name` (function): a fresh, unique, valid bucket name (not created).
* `s3` / `bucket` (function): a fresh boto3 client, and a created bucket that
  is emptied and deleted after the test.

Environment knobs: COFFER_BIN (binary, default target/debug/coffer),
COFFER_SERVER_LOG (copy the server's stdout/stderr log there at the end).

The whole run is isolated from the user's AWS / rclone / s3cmd config: see
`pytest_configure`.
"""

from __future__ import annotations

import os
import queue
import re
import shutil
import signal
import subprocess
import tempfile
import threading
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

import pytest

from clientutil import (
    ACCESS_KEY,
    REGION,
    SECRET_KEY,
    empty_and_delete_bucket,
    make_s3_client,
    require_module,
)

REPO_ROOT = Path(__file__).resolve().parents[2]
STARTUP_TIMEOUT = 30.0
SHUTDOWN_TIMEOUT = 30.0
LISTEN_RE = re.compile(r"^coffer listening on (http://(\[[0-9a-fA-F:]+\]|[^\s:/]+):(\d+))/?\s*$")

_SANDBOX: Path | None = None


def sandbox() -> Path:
    assert _SANDBOX is not None
    return _SANDBOX


# --------------------------------------------------------------------------
# environment isolation
# --------------------------------------------------------------------------

def pytest_configure(config):
    global _SANDBOX
    _SANDBOX = Path(tempfile.mkdtemp(prefix="coffer-clients-"))

    # Never read ~/.aws: point config/credentials at empty files of our own.
    aws_config = _SANDBOX / "aws-config"
    aws_config.write_text(f"[default]\nregion = {REGION}\n")
    aws_creds = _SANDBOX / "aws-credentials"
    aws_creds.write_text("")
    os.environ["AWS_CONFIG_FILE"] = str(aws_config)
    os.environ["AWS_SHARED_CREDENTIALS_FILE"] = str(aws_creds)
    os.environ["AWS_EC2_METADATA_DISABLED"] = "true"
    os.environ["AWS_DEFAULT_REGION"] = REGION
    os.environ["AWS_REGION"] = REGION
    for var in (
        "AWS_PROFILE",
        "AWS_DEFAULT_PROFILE",
        "AWS_ACCESS_KEY_ID",
        "AWS_SECRET_ACCESS_KEY",
        "AWS_SESSION_TOKEN",
        "AWS_SECURITY_TOKEN",
        "AWS_ENDPOINT_URL",
        "AWS_ENDPOINT_URL_S3",
        "AWS_S3_US_EAST_1_REGIONAL_ENDPOINT",
        "AWS_USE_FIPS_ENDPOINT",
        "AWS_USE_DUALSTACK_ENDPOINT",
        "AWS_REQUEST_CHECKSUM_CALCULATION",
        "AWS_RESPONSE_CHECKSUM_VALIDATION",
    ):
        os.environ.pop(var, None)
    # rclone: no config file of the user's; remotes come from env vars only.
    os.environ["RCLONE_CONFIG"] = str(_SANDBOX / "rclone.conf")
    # Loopback must never go through a proxy (botocore and urllib honour *_PROXY).
    for var in ("NO_PROXY", "no_proxy"):
        cur = os.environ.get(var, "")
        extra = "127.0.0.1,localhost,::1"
        os.environ[var] = f"{cur},{extra}" if cur else extra


def pytest_unconfigure(config):
    if _SANDBOX is not None:
        shutil.rmtree(_SANDBOX, ignore_errors=True)


# --------------------------------------------------------------------------
# the server
# --------------------------------------------------------------------------

@dataclass
class CofferServer:
    endpoint: str  # http://127.0.0.1:PORT
    host: str
    port: int
    access_key: str
    secret_key: str
    region: str
    data_dir: Path
    log_path: Path
    proc: subprocess.Popen

    @property
    def hostport(self) -> str:
        return f"{self.host}:{self.port}"

    def log_tail(self, n: int = 60) -> str:
        return _tail(self.log_path, n)

    def assert_running(self, when: str) -> None:
        rc = self.proc.poll()
        if rc is not None:
            pytest.fail(
                f"coffer server is no longer running {when} (exit code {rc}); log tail:\n{self.log_tail()}",
                pytrace=False,
            )


def _tail(path: Path, n: int = 60) -> str:
    try:
        lines = path.read_text(errors="replace").splitlines()
    except OSError:
        return "(no server log)"
    return "\n".join(lines[-n:])


def coffer_binary() -> Path:
    return Path(os.environ.get("COFFER_BIN") or REPO_ROOT / "target" / "debug" / "coffer")


def _pump(stream, log_file, lines: queue.Queue):
    """Copy the server's stdout to the log and hand each line to the starter."""
    for raw in iter(stream.readline, b""):
        line = raw.decode(errors="replace")
        log_file.write(f"[stdout] {line}")
        log_file.flush()
        lines.put(line)
    lines.put(None)


def start_server(data_dir: Path, log_path: Path) -> CofferServer:
    """Start `coffer serve` on 127.0.0.1:0 and wait for its listening line."""
    binary = coffer_binary()
    if not binary.is_file() or not os.access(binary, os.X_OK):
        pytest.fail(
            f"coffer binary not found at {binary} (build it with `cargo build`, or set COFFER_BIN)",
            pytrace=False,
        )
    log_file = open(log_path, "a", buffering=1)
    env = dict(os.environ)
    env["COFFER_ACCESS_KEY"] = ACCESS_KEY
    env["COFFER_SECRET_KEY"] = SECRET_KEY
    env.setdefault("RUST_BACKTRACE", "1")
    cmd = [str(binary), "serve", "--listen", "127.0.0.1:0", "--admin-listen", "127.0.0.1:0", "--data-dir", str(data_dir), "--region", REGION]
    # Own session: a Ctrl-C in the terminal must not reach the server before
    # the suite's own SIGTERM does.
    proc = subprocess.Popen(
        cmd, stdout=subprocess.PIPE, stderr=log_file, stdin=subprocess.DEVNULL, env=env, start_new_session=True
    )
    lines: queue.Queue = queue.Queue()
    pump = threading.Thread(target=_pump, args=(proc.stdout, log_file, lines), daemon=True)
    pump.start()

    def fail_start(why: str):
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)
        log_file.flush()
        pytest.fail(
            f"coffer server failed to start: {why}\ncommand: {' '.join(cmd)}\nlog:\n{_tail(log_path)}",
            pytrace=False,
        )

    match = None
    deadline = time.monotonic() + STARTUP_TIMEOUT
    while match is None:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            fail_start(f"no 'coffer listening on ...' line within {STARTUP_TIMEOUT:.0f}s")
        try:
            line = lines.get(timeout=min(remaining, 0.5))
        except queue.Empty:
            if proc.poll() is not None and lines.empty():
                fail_start(f"process exited with code {proc.returncode} before listening")
            continue
        if line is None:
            fail_start(f"stdout closed before listening line (exit code {proc.poll()})")
        match = LISTEN_RE.match(line.strip())

    server = CofferServer(
        endpoint=match.group(1).rstrip("/"),
        host=match.group(2).strip("[]"),
        port=int(match.group(3)),
        access_key=ACCESS_KEY,
        secret_key=SECRET_KEY,
        region=REGION,
        data_dir=data_dir,
        log_path=log_path,
        proc=proc,
    )
    server._pump = pump
    server._log_file = log_file
    return server


def stop_server(server: CofferServer) -> None:
    """SIGTERM the server and require a clean exit (code 0) within the timeout."""
    proc = server.proc
    try:
        if proc.poll() is not None:
            pytest.fail(
                f"coffer server had already exited (code {proc.returncode}); log:\n{server.log_tail()}",
                pytrace=False,
            )
        proc.send_signal(signal.SIGTERM)
        try:
            rc = proc.wait(SHUTDOWN_TIMEOUT)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(10)
            pytest.fail(
                f"coffer server did not exit within {SHUTDOWN_TIMEOUT:.0f}s of SIGTERM; log:\n{server.log_tail()}",
                pytrace=False,
            )
        server._pump.join(5)
    finally:
        server._log_file.close()
    assert rc == 0, f"coffer server exited with code {rc} after SIGTERM (expected 0); log:\n{server.log_tail()}"


@pytest.fixture(scope="session")
def coffer_server():
    root = sandbox()
    data_dir = Path(tempfile.mkdtemp(prefix="data-", dir=root))
    log_path = root / "coffer-server.log"
    server = start_server(data_dir, log_path)
    try:
        yield server
    finally:
        try:
            stop_server(server)
        finally:
            keep = os.environ.get("COFFER_SERVER_LOG")
            if keep:  # keep the server's log for inspection after the run
                shutil.copyfile(log_path, keep)


@pytest.fixture
def server(coffer_server):
    coffer_server.assert_running("before the test")
    yield coffer_server
    coffer_server.assert_running("after the test")


# --------------------------------------------------------------------------
# names, boto3 client, buckets
# --------------------------------------------------------------------------

_counter = 0


@pytest.fixture
def bucket_name(request) -> str:
    """A fresh, valid, unique bucket name (3-63 chars, lowercase, digits, '-')."""
    global _counter
    _counter += 1
    slug = re.sub(r"[^a-z0-9]+", "-", request.node.name.lower()).strip("-")
    slug = slug.replace("test-", "", 1)[:30].strip("-") or "t"
    return f"ct{_counter:03d}-{slug}-{uuid.uuid4().hex[:8]}"


@pytest.fixture
def make_bucket_name():
    """Factory for additional unique bucket names within one test."""

    def make(tag: str = "x") -> str:
        global _counter
        _counter += 1
        return f"ct{_counter:03d}-{tag}-{uuid.uuid4().hex[:8]}"

    return make


@pytest.fixture
def s3(server):
    """A fresh boto3 client per test, so a connection-pool problem left behind
    by one test (see test_boto3.py::test_empty_put_then_put_same_connection)
    cannot surface as a timeout in an unrelated test."""
    require_module("boto3")
    return make_s3_client(server.endpoint)


@pytest.fixture
def bucket(server, s3, bucket_name):
    s3.create_bucket(Bucket=bucket_name)
    yield bucket_name
    empty_and_delete_bucket(s3, bucket_name)
