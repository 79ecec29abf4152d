"""s3cmd against a real Coffer server, configured with a config file of our
own (path-style host_bucket, plain HTTP, SigV4, us-east-1)."""

from __future__ import annotations

import os

import pytest

from clientutil import (
    ACCESS_KEY,
    MiB,
    REGION,
    SECRET_KEY,
    assert_trees_equal,
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

S3CMD = require_binary("s3cmd")


def write_config(path, server, *, multipart: bool = False, chunk_mb: int = 64) -> None:
    path.write_text(
        "[default]\n"
        f"access_key = {ACCESS_KEY}\n"
        f"secret_key = {SECRET_KEY}\n"
        f"host_base = {server.hostport}\n"
        f"host_bucket = {server.hostport}\n"
        f"bucket_location = {REGION}\n"
        "use_https = False\n"
        "signature_v2 = False\n"
        "check_ssl_certificate = False\n"
        "check_ssl_hostname = False\n"
        "guess_mime_type = True\n"
        f"enable_multipart = {multipart}\n"
        f"multipart_chunk_size_mb = {chunk_mb}\n"
        "progress_meter = False\n"
        "socket_timeout = 60\n"
        "max_retries = 1\n"
    )


@pytest.fixture
def s3cmd(server, tmp_path):
    cfg = tmp_path / "s3cmd.cfg"
    write_config(cfg, server)
    env = dict(os.environ, HOME=str(tmp_path), TZ="UTC")

    def call(*args, check=True, config=cfg, timeout=300):
        return run([S3CMD, "-c", str(config), *map(str, args)], env=env, check=check, timeout=timeout)

    return call


def ls_objects(proc) -> dict[str, int]:
    """Parse `s3cmd ls`/`la` object lines: 'DATE TIME SIZE s3://bucket/key' -> {url: size}."""
    found = {}
    for line in out(proc).splitlines():
        parts = line.split(None, 3)
        if len(parts) == 4 and parts[2].isdigit() and parts[3].startswith("s3://"):
            found[parts[3]] = int(parts[2])
    return found


def test_mb_put_get_ls_la_del_rb(s3cmd, bucket_name, tmp_path, s3):
    p = s3cmd("mb", f"s3://{bucket_name}")
    assert f"Bucket 's3://{bucket_name}/' created" in out(p), out(p)
    assert f"s3://{bucket_name}" in out(s3cmd("ls")).split()

    data = random_bytes(3 * MiB + 77, seed=41)
    src = tmp_path / "up load.bin"
    src.write_bytes(data)
    s3cmd("put", src, f"s3://{bucket_name}/dir/up load.bin", "--mime-type=application/x-s3cmd",
          "--add-header=x-amz-meta-origin:s3cmd", "--add-header=Cache-Control:max-age=3")
    head = s3.head_object(Bucket=bucket_name, Key="dir/up load.bin")
    assert head["ContentLength"] == len(data)
    assert head["ETag"] == f'"{md5_hex(data)}"'
    assert head["ContentType"] == "application/x-s3cmd"
    assert head["CacheControl"] == "max-age=3"
    assert head["Metadata"].get("origin") == "s3cmd", head["Metadata"]

    small = tmp_path / "small.txt"
    small.write_bytes(b"small s3cmd object\n")
    s3cmd("put", small, f"s3://{bucket_name}/small.txt")

    dst = tmp_path / "got.bin"
    s3cmd("get", f"s3://{bucket_name}/dir/up load.bin", dst)
    assert dst.read_bytes() == data
    s3cmd("get", "--force", f"s3://{bucket_name}/small.txt", dst)
    assert dst.read_bytes() == b"small s3cmd object\n"

    top = s3cmd("ls", f"s3://{bucket_name}")
    assert f"DIR  s3://{bucket_name}/dir/" in " ".join(out(top).split()) or f"s3://{bucket_name}/dir/" in out(top)
    assert ls_objects(top) == {f"s3://{bucket_name}/small.txt": 19}
    rec = ls_objects(s3cmd("ls", "--recursive", f"s3://{bucket_name}"))
    assert rec == {f"s3://{bucket_name}/small.txt": 19, f"s3://{bucket_name}/dir/up load.bin": len(data)}
    la_top = s3cmd("la")
    assert f"s3://{bucket_name}/small.txt" in out(la_top), out(la_top)
    la = ls_objects(s3cmd("la", "--recursive"))
    assert la.get(f"s3://{bucket_name}/dir/up load.bin") == len(data)
    assert la.get(f"s3://{bucket_name}/small.txt") == 19

    # Server-side copy and move.
    s3cmd("cp", f"s3://{bucket_name}/small.txt", f"s3://{bucket_name}/copy/small.txt")
    s3cmd("mv", f"s3://{bucket_name}/copy/small.txt", f"s3://{bucket_name}/moved/small.txt")
    rec = ls_objects(s3cmd("ls", "--recursive", f"s3://{bucket_name}"))
    assert f"s3://{bucket_name}/moved/small.txt" in rec and f"s3://{bucket_name}/copy/small.txt" not in rec
    s3cmd("get", "--force", f"s3://{bucket_name}/moved/small.txt", dst)
    assert dst.read_bytes() == b"small s3cmd object\n"

    nonempty = s3cmd("rb", f"s3://{bucket_name}", check=False)
    assert nonempty.returncode != 0 and "BucketNotEmpty" in (out(nonempty) + err(nonempty))

    p = s3cmd("del", f"s3://{bucket_name}/small.txt")
    assert f"delete: 's3://{bucket_name}/small.txt'" in out(p), out(p)
    s3cmd("del", "--recursive", "--force", f"s3://{bucket_name}/")
    assert ls_objects(s3cmd("ls", "--recursive", f"s3://{bucket_name}")) == {}
    p = s3cmd("rb", f"s3://{bucket_name}")
    assert f"Bucket 's3://{bucket_name}/' removed" in out(p), out(p)
    assert f"s3://{bucket_name}" not in out(s3cmd("ls")).split()


def test_sync_up_and_down(s3cmd, bucket_name, tmp_path):
    s3cmd("mb", f"s3://{bucket_name}")
    local = tmp_path / "local"
    contents = tree_contents(seed=42)
    write_tree(local, contents)
    remote = f"s3://{bucket_name}/tree/"

    s3cmd("sync", f"{local}/", remote)
    rec = ls_objects(s3cmd("ls", "--recursive", f"s3://{bucket_name}"))
    assert rec == {f"{remote}{k}": len(v) for k, v in contents.items()}

    down = tmp_path / "down"
    down.mkdir()
    s3cmd("sync", remote, f"{down}/")
    assert_trees_equal(read_tree(down), contents)

    # No changes: nothing uploaded the second time (s3cmd compares size+md5).
    p = s3cmd("sync", f"{local}/", remote)
    assert "upload:" not in out(p), out(p)

    changed = dict(contents)
    changed["a.txt"] = b"changed for s3cmd\n"
    changed["fresh/new.txt"] = b"fresh\n"
    del changed["z/last.log"]
    (local / "a.txt").write_bytes(changed["a.txt"])
    (local / "fresh").mkdir()
    (local / "fresh" / "new.txt").write_bytes(changed["fresh/new.txt"])
    (local / "z" / "last.log").unlink()
    s3cmd("sync", "--delete-removed", f"{local}/", remote)
    rec = ls_objects(s3cmd("ls", "--recursive", f"s3://{bucket_name}"))
    assert rec == {f"{remote}{k}": len(v) for k, v in changed.items()}

    down2 = tmp_path / "down2"
    down2.mkdir()
    s3cmd("sync", remote, f"{down2}/")
    assert_trees_equal(read_tree(down2), changed)

    s3cmd("del", "--recursive", "--force", remote)
    s3cmd("rb", f"s3://{bucket_name}")


def test_errors(s3cmd, bucket_name, tmp_path):
    p = s3cmd("ls", f"s3://{bucket_name}", check=False)
    assert p.returncode != 0 and "NoSuchBucket" in (out(p) + err(p)), out(p) + err(p)
    s3cmd("mb", f"s3://{bucket_name}")
    p = s3cmd("get", f"s3://{bucket_name}/missing", tmp_path / "m", check=False)
    text = out(p) + err(p)
    assert p.returncode != 0 and any(s in text for s in ("404", "NoSuchKey", "does not exist")), text
    s3cmd("rb", f"s3://{bucket_name}")


def test_multipart_put(server, s3cmd, bucket_name, tmp_path):
    cfg = tmp_path / "mp.cfg"
    write_config(cfg, server, multipart=True, chunk_mb=5)
    s3cmd("mb", f"s3://{bucket_name}")
    data = random_bytes(12 * MiB + 11, seed=43)
    src = tmp_path / "mp.bin"
    src.write_bytes(data)
    s3cmd("put", src, f"s3://{bucket_name}/mp.bin", config=cfg)
    dst = tmp_path / "mp-back.bin"
    s3cmd("get", f"s3://{bucket_name}/mp.bin", dst)
    assert dst.read_bytes() == data
    s3cmd("del", f"s3://{bucket_name}/mp.bin")
    s3cmd("rb", f"s3://{bucket_name}")
