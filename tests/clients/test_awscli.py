"""The aws CLI (`aws s3 ...` and `aws s3api ...`) against a real Coffer server.

The CLI runs with its own AWS_CONFIG_FILE / AWS_SHARED_CREDENTIALS_FILE in a
temp dir (written with `aws configure set`), so ~/.aws is never read.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import pytest

from clientutil import (
    ACCESS_KEY,
    MiB,
    REGION,
    SECRET_KEY,
    assert_trees_equal,
    checksum_b64,
    err,
    md5_hex,
    out,
    random_bytes,
    read_tree,
    require_binary,
    run,
    tree_contents,
    write_tree,
)

AWS = require_binary("aws")


def _configure(env: dict, settings: dict) -> None:
    for key, value in settings.items():
        run([AWS, "configure", "set", key, value], env=env, timeout=60)


def _cli_env(base: Path, threshold: str) -> dict:
    base.mkdir(parents=True, exist_ok=True)
    env = dict(os.environ)
    env["AWS_CONFIG_FILE"] = str(base / "config")
    env["AWS_SHARED_CREDENTIALS_FILE"] = str(base / "credentials")
    env["AWS_EC2_METADATA_DISABLED"] = "true"
    env["AWS_PAGER"] = ""
    env["AWS_DEFAULT_OUTPUT"] = "json"
    for var in ("AWS_PROFILE", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"):
        env.pop(var, None)
    _configure(env, {
        "aws_access_key_id": ACCESS_KEY,
        "aws_secret_access_key": SECRET_KEY,
        "default.region": REGION,
        "default.output": "json",
        "default.s3.multipart_threshold": threshold,
        "default.s3.multipart_chunksize": threshold,
        "default.s3.addressing_style": "path",
        # One request at a time on one pooled connection: keeps outcomes
        # deterministic (connection reuse otherwise depends on scheduling).
        "default.s3.max_concurrent_requests": "1",
        # No silent retries: a stalled request must fail the test, not hide
        # behind a 60 s timeout and a second attempt.
        "default.retry_mode": "standard",
        "default.max_attempts": "1",
    })
    return env


@pytest.fixture(scope="module")
def aws_env(tmp_path_factory) -> dict:
    return _cli_env(tmp_path_factory.mktemp("awscli"), "64MB")


@pytest.fixture
def aws(server, aws_env):
    """aws(*args) -> CompletedProcess, against the test server."""

    def call(*args, check=True, input=None, env=None, timeout=300):
        cmd = [AWS, "--endpoint-url", server.endpoint, "--cli-read-timeout", "20", *map(str, args)]
        return run(cmd, env=env or aws_env, check=check, input=input, timeout=timeout)

    return call


def api_json(proc) -> dict:
    text = out(proc).strip()
    return json.loads(text) if text else {}


def ls_entries(proc) -> dict[str, int]:
    """Parse `aws s3 ls` object lines: 'DATE TIME SIZE KEY' -> {key: size}."""
    entries = {}
    for line in out(proc).splitlines():
        parts = line.split(None, 3)
        if len(parts) == 4 and parts[2].isdigit():
            entries[parts[3]] = int(parts[2])
    return entries


def test_mb_ls_rb(aws, bucket_name):
    p = aws("s3", "mb", f"s3://{bucket_name}")
    assert f"make_bucket: {bucket_name}" in out(p)
    assert bucket_name in out(aws("s3", "ls")).split()
    aws("s3api", "head-bucket", "--bucket", bucket_name)
    loc = api_json(aws("s3api", "get-bucket-location", "--bucket", bucket_name))
    assert loc.get("LocationConstraint") in (None, ""), loc

    again = aws("s3", "mb", f"s3://{bucket_name}", check=False)
    assert again.returncode != 0
    assert "BucketAlreadyOwnedByYou" in err(again)

    p = aws("s3", "rb", f"s3://{bucket_name}")
    assert f"remove_bucket: {bucket_name}" in out(p)
    assert bucket_name not in out(aws("s3", "ls")).split()


def test_cp_roundtrip_and_listing(aws, bucket_name, tmp_path):
    aws("s3", "mb", f"s3://{bucket_name}")
    data = random_bytes(2 * MiB + 333, seed=21)
    src = tmp_path / "payload.bin"
    src.write_bytes(data)

    p = aws("s3", "cp", "--no-progress", src, f"s3://{bucket_name}/dir/payload.bin",
            "--content-type", "application/x-coffer", "--cache-control", "max-age=9",
            "--metadata", "origin=awscli,n=1")
    assert "upload: " in out(p) and f" to s3://{bucket_name}/dir/payload.bin" in out(p), out(p)

    head = api_json(aws("s3api", "head-object", "--bucket", bucket_name, "--key", "dir/payload.bin"))
    assert head["ContentLength"] == len(data)
    assert head["ETag"] == f'"{md5_hex(data)}"'
    assert head["ContentType"] == "application/x-coffer"
    assert head["CacheControl"] == "max-age=9"
    assert head["Metadata"] == {"origin": "awscli", "n": "1"}

    dst = tmp_path / "back.bin"
    p = aws("s3", "cp", "--no-progress", f"s3://{bucket_name}/dir/payload.bin", dst)
    assert "download:" in out(p)
    assert dst.read_bytes() == data

    # stdin -> object -> stdout
    aws("s3", "cp", "-", f"s3://{bucket_name}/stdin.txt", input=b"from stdin\n")
    assert aws("s3", "cp", f"s3://{bucket_name}/stdin.txt", "-").stdout == b"from stdin\n"

    # server-side copy and move
    p = aws("s3", "cp", "--no-progress", f"s3://{bucket_name}/dir/payload.bin", f"s3://{bucket_name}/copy/payload.bin")
    assert "copy:" in out(p)
    p = aws("s3", "mv", "--no-progress", f"s3://{bucket_name}/stdin.txt", f"s3://{bucket_name}/moved/stdin.txt")
    assert "move:" in out(p)
    copied = aws("s3", "cp", f"s3://{bucket_name}/copy/payload.bin", "-").stdout
    assert copied == data
    head = api_json(aws("s3api", "head-object", "--bucket", bucket_name, "--key", "copy/payload.bin"))
    assert head["Metadata"] == {"origin": "awscli", "n": "1"}, "aws s3 cp s3->s3 keeps metadata"

    top = aws("s3", "ls", f"s3://{bucket_name}/")
    assert "PRE dir/" in out(top) and "PRE copy/" in out(top) and "PRE moved/" in out(top)
    assert ls_entries(top) == {}
    rec = ls_entries(aws("s3", "ls", "--recursive", f"s3://{bucket_name}"))
    assert rec == {"dir/payload.bin": len(data), "copy/payload.bin": len(data), "moved/stdin.txt": 11}
    sub = ls_entries(aws("s3", "ls", f"s3://{bucket_name}/dir/"))
    assert sub == {"payload.bin": len(data)}

    p = aws("s3", "rm", f"s3://{bucket_name}/dir/payload.bin")
    assert f"delete: s3://{bucket_name}/dir/payload.bin" in out(p)
    assert "dir/payload.bin" not in ls_entries(aws("s3", "ls", "--recursive", f"s3://{bucket_name}"))

    nonempty = aws("s3", "rb", f"s3://{bucket_name}", check=False)
    assert nonempty.returncode != 0 and "BucketNotEmpty" in err(nonempty)
    p = aws("s3", "rb", "--force", f"s3://{bucket_name}")
    assert f"remove_bucket: {bucket_name}" in out(p)


def test_sync_tree_up_and_down(aws, bucket_name, tmp_path):
    """The tree holds an empty file: s3transfer uploads it with
    `Expect: 100-continue` on a pooled connection, so this also covers
    boto/botocore#3755 (see test_boto3.py::test_empty_put_then_put_same_connection)."""
    aws("s3", "mb", f"s3://{bucket_name}")
    local = tmp_path / "local"
    contents = tree_contents()
    write_tree(local, contents)
    # S3 LastModified has 1 s resolution; make local files clearly older than
    # the upload so the "nothing changed" sync below is deterministic.
    old = time.time() - 3600
    for f in local.rglob("*"):
        os.utime(f, (old, old))
    dest = f"s3://{bucket_name}/tree"

    p = aws("s3", "sync", "--no-progress", local, dest)
    assert out(p).count("upload:") == len(contents), out(p)

    listing = api_json(aws("s3api", "list-objects-v2", "--bucket", bucket_name, "--prefix", "tree/"))
    assert {o["Key"]: o["Size"] for o in listing["Contents"]} == {f"tree/{k}": len(v) for k, v in contents.items()}

    down = tmp_path / "down"
    p = aws("s3", "sync", "--no-progress", dest, down)
    assert out(p).count("download:") == len(contents), out(p)
    assert_trees_equal(read_tree(down), contents)

    # Nothing changed: a second sync transfers nothing.
    p = aws("s3", "sync", "--no-progress", local, dest)
    assert "upload:" not in out(p), out(p)

    # Change one file (size changes), add one, remove one, then sync --delete.
    changed = dict(contents)
    changed["a.txt"] = b"changed content, longer than before\n"
    changed["new dir/new file.txt"] = b"brand new\n"
    del changed["z/last.log"]
    (local / "a.txt").write_bytes(changed["a.txt"])
    (local / "new dir").mkdir()
    (local / "new dir" / "new file.txt").write_bytes(changed["new dir/new file.txt"])
    (local / "z" / "last.log").unlink()
    p = aws("s3", "sync", "--no-progress", "--delete", local, dest)
    assert out(p).count("upload:") == 2, out(p)
    assert out(p).count("delete:") == 1, out(p)

    down2 = tmp_path / "down2"
    aws("s3", "sync", "--no-progress", dest, down2)
    assert_trees_equal(read_tree(down2), changed)

    # Download side --delete removes local extras.
    p = aws("s3", "sync", "--no-progress", "--delete", dest, down)
    assert_trees_equal(read_tree(down), changed)

    aws("s3", "rm", "--recursive", dest)
    assert api_json(aws("s3api", "list-objects-v2", "--bucket", bucket_name)).get("Contents") in (None, [])
    aws("s3", "rb", f"s3://{bucket_name}")


def test_s3api_object_operations(aws, bucket_name, tmp_path):
    aws("s3api", "create-bucket", "--bucket", bucket_name)
    data = random_bytes(100_000, seed=22)
    src = tmp_path / "src.bin"
    src.write_bytes(data)

    put = api_json(aws("s3api", "put-object", "--bucket", bucket_name, "--key", "a/one.bin", "--body", src,
                       "--content-type", "application/octet-stream", "--metadata", "k1=v1,k2=v2"))
    assert put["ETag"] == f'"{md5_hex(data)}"'
    for k in ["a/two.txt", "a/sub/three.txt", "b/four.txt", "top.txt"]:
        aws("s3api", "put-object", "--bucket", bucket_name, "--key", k, "--body", src)

    outfile = tmp_path / "got.bin"
    get = api_json(aws("s3api", "get-object", "--bucket", bucket_name, "--key", "a/one.bin", outfile))
    assert outfile.read_bytes() == data
    assert get["ContentLength"] == len(data)
    assert get["Metadata"] == {"k1": "v1", "k2": "v2"}
    assert get["ContentType"] == "application/octet-stream"

    part = tmp_path / "part.bin"
    get = api_json(aws("s3api", "get-object", "--bucket", bucket_name, "--key", "a/one.bin",
                       "--range", "bytes=10-19", part))
    assert part.read_bytes() == data[10:20]
    assert get["ContentRange"] == f"bytes 10-19/{len(data)}"

    head = api_json(aws("s3api", "head-object", "--bucket", bucket_name, "--key", "a/one.bin"))
    assert head["ContentLength"] == len(data) and head["ETag"] == put["ETag"]

    lst = api_json(aws("s3api", "list-objects-v2", "--bucket", bucket_name, "--prefix", "a/", "--delimiter", "/"))
    assert [o["Key"] for o in lst["Contents"]] == ["a/one.bin", "a/two.txt"]
    assert [p["Prefix"] for p in lst["CommonPrefixes"]] == ["a/sub/"]

    paged = api_json(aws("s3api", "list-objects-v2", "--bucket", bucket_name, "--page-size", "2"))
    assert [o["Key"] for o in paged["Contents"]] == ["a/one.bin", "a/sub/three.txt", "a/two.txt", "b/four.txt", "top.txt"]

    v1 = api_json(aws("s3api", "list-objects", "--bucket", bucket_name, "--page-size", "2"))
    assert len(v1["Contents"]) == 5

    versions = api_json(aws("s3api", "list-object-versions", "--bucket", bucket_name, "--prefix", "b/"))
    assert [(v["Key"], v["VersionId"]) for v in versions["Versions"]] == [("b/four.txt", "null")]

    copy = api_json(aws("s3api", "copy-object", "--bucket", bucket_name, "--key", "c/copy.bin",
                        "--copy-source", f"{bucket_name}/a/one.bin"))
    assert copy["CopyObjectResult"]["ETag"] == put["ETag"]

    delete = json.dumps({"Objects": [{"Key": "a/one.bin"}, {"Key": "a/two.txt"}, {"Key": "nope"}]})
    res = api_json(aws("s3api", "delete-objects", "--bucket", bucket_name, "--delete", delete))
    assert sorted(d["Key"] for d in res["Deleted"]) == ["a/one.bin", "a/two.txt", "nope"]
    left = api_json(aws("s3api", "list-objects-v2", "--bucket", bucket_name))
    assert [o["Key"] for o in left["Contents"]] == ["a/sub/three.txt", "b/four.txt", "c/copy.bin", "top.txt"]

    aws("s3api", "delete-object", "--bucket", bucket_name, "--key", "top.txt")
    aws("s3", "rb", "--force", f"s3://{bucket_name}")


def test_s3api_checksum(aws, bucket_name, tmp_path):
    aws("s3api", "create-bucket", "--bucket", bucket_name)
    data = random_bytes(70_001, seed=23)
    src = tmp_path / "ck.bin"
    src.write_bytes(data)
    for algorithm in ["SHA256", "CRC32"]:
        key = f"ck-{algorithm}"
        put = api_json(aws("s3api", "put-object", "--bucket", bucket_name, "--key", key, "--body", src,
                           "--checksum-algorithm", algorithm))
        assert put.get(f"Checksum{algorithm}") == checksum_b64(algorithm, data), put
        outfile = tmp_path / f"{key}.out"
        get = api_json(aws("s3api", "get-object", "--bucket", bucket_name, "--key", key,
                           "--checksum-mode", "ENABLED", outfile))
        assert outfile.read_bytes() == data
        assert get.get(f"Checksum{algorithm}") == checksum_b64(algorithm, data), get
    aws("s3", "rb", "--force", f"s3://{bucket_name}")


def test_cli_errors(aws, bucket_name, tmp_path):
    p = aws("s3", "ls", f"s3://{bucket_name}", check=False)
    assert p.returncode != 0 and "NoSuchBucket" in err(p), err(p)
    aws("s3", "mb", f"s3://{bucket_name}")
    p = aws("s3api", "get-object", "--bucket", bucket_name, "--key", "missing", tmp_path / "x", check=False)
    assert p.returncode != 0 and "NoSuchKey" in err(p), err(p)
    p = aws("s3api", "head-object", "--bucket", bucket_name, "--key", "missing", check=False)
    assert p.returncode != 0 and "404" in err(p), err(p)
    p = aws("s3", "cp", f"s3://{bucket_name}/missing", tmp_path / "y", check=False)
    assert p.returncode != 0
    aws("s3", "rb", f"s3://{bucket_name}")


def test_wrong_credentials(aws, aws_env, bucket_name):
    env = dict(aws_env, AWS_ACCESS_KEY_ID=ACCESS_KEY, AWS_SECRET_ACCESS_KEY="wrong-secret")
    p = aws("s3", "ls", env=env, check=False)
    assert p.returncode != 0 and "SignatureDoesNotMatch" in err(p), err(p)
    env = dict(aws_env, AWS_ACCESS_KEY_ID="AKIAUNKNOWNKEY000000", AWS_SECRET_ACCESS_KEY=SECRET_KEY)
    p = aws("s3", "ls", env=env, check=False)
    assert p.returncode != 0 and "InvalidAccessKeyId" in err(p), err(p)


def test_cp_multipart(server, tmp_path, bucket_name):
    """`aws s3 cp` of a 200 MiB file up and down: the CLI splits it into
    8 MiB parts, and the object's ETag says how many."""
    env = _cli_env(tmp_path / "mpcli", "8MB")

    def aws(*args, check=True):
        return run([AWS, "--endpoint-url", server.endpoint, *map(str, args)], env=env, check=check, timeout=600)

    aws("s3", "mb", f"s3://{bucket_name}")
    size = 200 * MiB + 1
    src = tmp_path / "mp.bin"
    src.write_bytes(random_bytes(size, seed=24))
    aws("s3", "cp", "--no-progress", src, f"s3://{bucket_name}/mp.bin")
    head = json.loads(out(aws("s3api", "head-object", "--bucket", bucket_name, "--key", "mp.bin")))
    parts = -(-size // (8 * MiB))
    assert head["ContentLength"] == size and head["ETag"].endswith(f'-{parts}"')
    dst = tmp_path / "mp-back.bin"
    aws("s3", "cp", "--no-progress", f"s3://{bucket_name}/mp.bin", dst)
    assert md5_hex(dst.read_bytes()) == md5_hex(src.read_bytes())
    aws("s3", "rb", "--force", f"s3://{bucket_name}")


def test_sse_c_round_trip_and_versions(aws, bucket_name, tmp_path):
    """`aws s3 cp --sse-c` (multipart above 8 MB is not needed: 6 MB) and
    list-object-versions after overwrites in a versioned bucket."""
    aws("s3", "mb", f"s3://{bucket_name}")
    key_file = tmp_path / "key.bin"
    key_file.write_bytes(random_bytes(32, seed=9))
    src = tmp_path / "src.bin"
    src.write_bytes(random_bytes(6 * MiB + 3, seed=10))
    sse_c = ["--sse-c", "AES256", "--sse-c-key", f"fileb://{key_file}"]
    aws("s3", "cp", "--no-progress", *sse_c, src, f"s3://{bucket_name}/enc.bin")
    back = tmp_path / "back.bin"
    aws("s3", "cp", "--no-progress", *sse_c, f"s3://{bucket_name}/enc.bin", back)
    assert back.read_bytes() == src.read_bytes()
    denied = aws("s3", "cp", "--no-progress", f"s3://{bucket_name}/enc.bin", tmp_path / "no-key.bin", check=False)
    assert denied.returncode != 0

    aws("s3api", "put-bucket-versioning", "--bucket", bucket_name, "--versioning-configuration", "Status=Enabled")
    for _ in range(2):
        aws("s3", "cp", "--no-progress", src, f"s3://{bucket_name}/plain.bin")
    listing = api_json(aws("s3api", "list-object-versions", "--bucket", bucket_name, "--prefix", "plain.bin"))
    assert len(listing["Versions"]) == 2
    assert [v["IsLatest"] for v in listing["Versions"]] == [True, False]
