"""Shared helpers for the Coffer client-compatibility suite.

Imported by conftest.py and by the test modules (pytest puts this directory on
sys.path because it has no __init__.py).
"""

from __future__ import annotations

import base64
import hashlib
import importlib
import os
import random
import shutil
import subprocess
import zlib
from pathlib import Path

import pytest

ACCESS_KEY = "coffertestkey"
SECRET_KEY = "coffertestsecret123"
REGION = "us-east-1"

MiB = 1024 * 1024

# Reason used for every multipart test so they are easy to find and enable.


# --------------------------------------------------------------------------
# "client must exist" policy: skip locally, fail under CI=true
# --------------------------------------------------------------------------

def in_ci() -> bool:
    return os.environ.get("CI") == "true"


def require_binary(name: str) -> str:
    """Return the path of `name`, or skip the calling module (fail under CI)."""
    path = shutil.which(name)
    if path:
        return path
    msg = f"{name!r} is not installed (not found on PATH)"
    if in_ci():
        pytest.fail(f"{msg}; CI=true so the client must be present (see .ci/run)", pytrace=False)
    pytest.skip(f"{msg}; install it to run these tests", allow_module_level=True)


def require_module(name: str):
    """Import and return module `name`, or skip the calling module (fail under CI)."""
    try:
        return importlib.import_module(name)
    except ImportError as exc:
        msg = f"python module {name!r} is not importable ({exc})"
        if in_ci():
            pytest.fail(f"{msg}; CI=true so it must be installed (see .ci/run)", pytrace=False)
        pytest.skip(f"{msg}; pip install it to run these tests", allow_module_level=True)


def have_module(name: str) -> bool:
    try:
        importlib.import_module(name)
        return True
    except ImportError:
        return False


# --------------------------------------------------------------------------
# data and trees
# --------------------------------------------------------------------------

def random_bytes(n: int, seed: int = 0) -> bytes:
    return random.Random(seed).randbytes(n)


def md5_hex(data: bytes) -> str:
    return hashlib.md5(data).hexdigest()


def md5_b64(data: bytes) -> str:
    return base64.b64encode(hashlib.md5(data).digest()).decode()


def b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode()


def _crc32c_table():
    poly = 0x82F63B78
    table = []
    for i in range(256):
        c = i
        for _ in range(8):
            c = (c >> 1) ^ poly if c & 1 else c >> 1
        table.append(c)
    return table


_CRC32C_TABLE = _crc32c_table()


def crc32c(data: bytes) -> int:
    crc = 0xFFFFFFFF
    t = _CRC32C_TABLE
    for b in data:
        crc = t[(crc ^ b) & 0xFF] ^ (crc >> 8)
    return crc ^ 0xFFFFFFFF


def _crc64nvme_table():
    poly = 0x9A6C9329AC4BC9B5
    table = []
    for i in range(256):
        c = i
        for _ in range(8):
            c = (c >> 1) ^ poly if c & 1 else c >> 1
        table.append(c)
    return table


_CRC64NVME_TABLE = _crc64nvme_table()


def crc64nvme(data: bytes) -> int:
    crc = 0xFFFFFFFFFFFFFFFF
    t = _CRC64NVME_TABLE
    for b in data:
        crc = t[(crc ^ b) & 0xFF] ^ (crc >> 8)
    return crc ^ 0xFFFFFFFFFFFFFFFF


def checksum_b64(algorithm: str, data: bytes) -> str:
    """S3's base64 form of x-amz-checksum-<algorithm> for `data`."""
    algorithm = algorithm.upper()
    if algorithm == "CRC32":
        return b64((zlib.crc32(data) & 0xFFFFFFFF).to_bytes(4, "big"))
    if algorithm == "CRC32C":
        return b64(crc32c(data).to_bytes(4, "big"))
    if algorithm == "CRC64NVME":
        return b64(crc64nvme(data).to_bytes(8, "big"))
    if algorithm == "SHA1":
        return b64(hashlib.sha1(data).digest())
    if algorithm == "SHA256":
        return b64(hashlib.sha256(data).digest())
    raise ValueError(algorithm)


# A small tree with awkward-but-legal names, an empty file, nesting and a
# few hundred KiB of binary data.  Relative paths use "/".
TREE_SPEC = {
    "a.txt": b"hello from coffer\n",
    "empty.bin": b"",
    "dir one/b.txt": b"file in a directory with a space\n" * 10,
    "dir one/nested/c.bin": None,  # random, filled in below
    "dir one/nested/deeper/d.json": b'{"k": [1, 2, 3]}\n',
    "unicode-\u00fcn\u00efc\u00f6d\u00e9/\u540d\u524d.txt": "\u3053\u3093\u306b\u3061\u306f\n".encode(),
    "plus+and=equals.txt": b"plus sign must not become a space\n",
    "z/last.log": b"x" * 4097,
}


def tree_contents(seed: int = 1) -> dict[str, bytes]:
    out = {}
    for rel, data in TREE_SPEC.items():
        out[rel] = random_bytes(300 * 1024 + 7, seed) if data is None else data
    return out


def write_tree(root: Path, contents: dict[str, bytes]) -> None:
    for rel, data in contents.items():
        p = root / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_bytes(data)


def read_tree(root: Path) -> dict[str, bytes]:
    out = {}
    root = Path(root)
    for p in sorted(root.rglob("*")):
        if p.is_file():
            out[p.relative_to(root).as_posix()] = p.read_bytes()
    return out


def assert_trees_equal(actual: dict[str, bytes], expected: dict[str, bytes]) -> None:
    missing = sorted(set(expected) - set(actual))
    extra = sorted(set(actual) - set(expected))
    differing = sorted(k for k in set(actual) & set(expected) if actual[k] != expected[k])
    assert not (missing or extra or differing), (
        f"trees differ: missing={missing} extra={extra} differing={differing}"
    )


# --------------------------------------------------------------------------
# subprocess
# --------------------------------------------------------------------------

def run(cmd, env=None, timeout=180, check=True, input=None, cwd=None):
    """Run a client command; on failure show exactly what it printed."""
    proc = subprocess.run(
        cmd,
        env=env,
        cwd=cwd,
        input=input,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        timeout=timeout,
    )
    if check and proc.returncode != 0:
        pytest.fail(
            f"command failed (exit {proc.returncode}): {' '.join(map(str, cmd))}\n"
            f"--- stdout ---\n{proc.stdout.decode(errors='replace')}\n"
            f"--- stderr ---\n{proc.stderr.decode(errors='replace')}",
            pytrace=False,
        )
    return proc


def out(proc) -> str:
    return proc.stdout.decode(errors="replace")


def err(proc) -> str:
    return proc.stderr.decode(errors="replace")


# --------------------------------------------------------------------------
# boto3
# --------------------------------------------------------------------------

def make_s3_client(endpoint: str, access_key: str = ACCESS_KEY, secret_key: str = SECRET_KEY, **config_kwargs):
    import boto3
    from botocore.config import Config

    cfg = dict(
        signature_version="s3v4",
        s3={"addressing_style": "path"},
        retries={"mode": "standard", "total_max_attempts": 1},
        connect_timeout=10,
        read_timeout=60,
    )
    cfg.update(config_kwargs)
    session = boto3.session.Session()
    return session.client(
        "s3",
        endpoint_url=endpoint,
        region_name=REGION,
        aws_access_key_id=access_key,
        aws_secret_access_key=secret_key,
        config=Config(**cfg),
    )


def error_request_id(exc) -> str:
    md = exc.response.get("ResponseMetadata", {})
    rid = md.get("RequestId") or md.get("HTTPHeaders", {}).get("x-amz-request-id", "")
    return rid


def empty_and_delete_bucket(s3, bucket: str) -> None:
    """Best-effort cleanup; never raises."""
    from botocore.exceptions import ClientError

    try:
        for _ in range(100):
            resp = s3.list_object_versions(Bucket=bucket)
            keys = [
                {"Key": v["Key"], "VersionId": v["VersionId"]}
                for v in resp.get("Versions", []) + resp.get("DeleteMarkers", [])
            ]
            if not keys:
                break
            s3.delete_objects(Bucket=bucket, Delete={"Objects": keys, "Quiet": True})
        s3.delete_bucket(Bucket=bucket)
    except ClientError:
        pass
    except Exception:
        pass
