"""rclone against a real Coffer server.

The remote "coffer:" is configured purely through RCLONE_CONFIG_COFFER_* env
vars, and rclone always runs as `env -u AWS_CA_BUNDLE rclone ...` (rclone's
AWS SDK otherwise tries to load that CA bundle into its plain-HTTP transport).
"""

from __future__ import annotations

import os

import pytest

from clientutil import (
    MiB,
    REGION,
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

RCLONE = require_binary("rclone")


def _rclone_env(server, tmp_dir) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith("RCLONE_")}
    env.pop("AWS_CA_BUNDLE", None)
    env.update({
        "RCLONE_CONFIG": str(tmp_dir / "rclone.conf"),  # does not exist: env vars only
        "RCLONE_CONFIG_COFFER_TYPE": "s3",
        "RCLONE_CONFIG_COFFER_PROVIDER": "Other",
        "RCLONE_CONFIG_COFFER_ENV_AUTH": "false",
        "RCLONE_CONFIG_COFFER_ACCESS_KEY_ID": server.access_key,
        "RCLONE_CONFIG_COFFER_SECRET_ACCESS_KEY": server.secret_key,
        "RCLONE_CONFIG_COFFER_ENDPOINT": server.endpoint,
        "RCLONE_CONFIG_COFFER_REGION": REGION,
        "RCLONE_CONFIG_COFFER_FORCE_PATH_STYLE": "true",
        "TZ": "UTC",
    })
    return env


@pytest.fixture
def rclone(server, tmp_path):
    env = _rclone_env(server, tmp_path)

    def call(*args, check=True, input=None, cutoff="64M", timeout=300):
        cmd = [
            "env", "-u", "AWS_CA_BUNDLE", RCLONE,
            "--retries", "1", "--low-level-retries", "1",
            "--s3-upload-cutoff", cutoff, "--s3-chunk-size", cutoff,
            *map(str, args),
        ]
        return run(cmd, env=env, check=check, input=input, timeout=timeout)

    return call


def lsf(rclone, path) -> list[str]:
    return sorted(line for line in out(rclone("lsf", "-R", "--files-only", path)).splitlines() if line)


def test_mkdir_copy_cat_and_lsf(rclone, bucket_name, tmp_path):
    rclone("mkdir", f"coffer:{bucket_name}")
    assert bucket_name in out(rclone("lsd", "coffer:"))
    # mkdir on an existing bucket is fine.
    rclone("mkdir", f"coffer:{bucket_name}")

    data = random_bytes(6 * MiB + 9, seed=31)
    src = tmp_path / "six-mib.bin"
    src.write_bytes(data)
    rclone("copy", src, f"coffer:{bucket_name}/dir/")
    assert lsf(rclone, f"coffer:{bucket_name}") == ["dir/six-mib.bin"]
    assert rclone("cat", f"coffer:{bucket_name}/dir/six-mib.bin").stdout == data

    md5 = out(rclone("md5sum", f"coffer:{bucket_name}/dir")).split()
    assert md5 == [md5_hex(data), "six-mib.bin"]
    size = out(rclone("size", f"coffer:{bucket_name}"))
    assert "Total objects: 1" in size and f"({len(data)} Byte" in size, size

    rclone("rcat", f"coffer:{bucket_name}/stdin.txt", input=b"piped into rclone rcat\n")
    assert rclone("cat", f"coffer:{bucket_name}/stdin.txt").stdout == b"piped into rclone rcat\n"

    back = tmp_path / "back"
    rclone("copy", f"coffer:{bucket_name}/dir", back)
    assert (back / "six-mib.bin").read_bytes() == data

    rclone("purge", f"coffer:{bucket_name}")
    assert bucket_name not in out(rclone("lsd", "coffer:"))


def test_sync_check_and_download(rclone, bucket_name, tmp_path):
    rclone("mkdir", f"coffer:{bucket_name}")
    local = tmp_path / "local"
    contents = tree_contents(seed=32)
    write_tree(local, contents)
    remote = f"coffer:{bucket_name}/tree"

    rclone("sync", local, remote)
    assert lsf(rclone, remote) == sorted(contents)
    chk = rclone("check", local, remote)
    assert "0 differences found" in err(chk), err(chk)
    assert f"{len(contents)} matching files" in err(chk), err(chk)

    down = tmp_path / "down"
    rclone("copy", remote, down)
    assert_trees_equal(read_tree(down), contents)

    # Modify, add, delete locally; sync must converge and check must be clean.
    changed = dict(contents)
    changed["a.txt"] = b"changed by the rclone test\n"
    changed["added/new one.txt"] = b"new\n"
    del changed["dir one/b.txt"]
    (local / "a.txt").write_bytes(changed["a.txt"])
    (local / "added").mkdir()
    (local / "added" / "new one.txt").write_bytes(changed["added/new one.txt"])
    (local / "dir one" / "b.txt").unlink()
    rclone("sync", local, remote)
    assert lsf(rclone, remote) == sorted(changed)
    chk = rclone("check", "--download", local, remote)
    assert "0 differences found" in err(chk), err(chk)

    # check must notice a difference too (sanity of the check itself).
    (local / "a.txt").write_bytes(b"locally different\n")
    bad = rclone("check", local, remote, check=False)
    assert bad.returncode != 0 and "1 differences found" in err(bad), err(bad)

    rclone("purge", f"coffer:{bucket_name}")


def test_server_side_copy_move_touch_delete_purge(rclone, bucket_name, tmp_path, s3):
    rclone("mkdir", f"coffer:{bucket_name}")
    local = tmp_path / "local"
    contents = tree_contents(seed=33)
    write_tree(local, contents)
    rclone("copy", local, f"coffer:{bucket_name}/tree")

    p = rclone("copyto", "-v", f"coffer:{bucket_name}/tree/dir one/nested/c.bin",
               f"coffer:{bucket_name}/copied/c.bin")
    assert "server-side copy" in err(p).lower(), err(p)
    assert rclone("cat", f"coffer:{bucket_name}/copied/c.bin").stdout == contents["dir one/nested/c.bin"]
    # Cross-check with boto3: same bytes, rclone's mtime metadata carried over by COPY.
    src_head = s3.head_object(Bucket=bucket_name, Key="tree/dir one/nested/c.bin")
    dst_head = s3.head_object(Bucket=bucket_name, Key="copied/c.bin")
    assert dst_head["ETag"] == src_head["ETag"] == f'"{md5_hex(contents["dir one/nested/c.bin"])}"'
    assert "mtime" in src_head["Metadata"], src_head["Metadata"]
    assert dst_head["Metadata"].get("mtime") == src_head["Metadata"]["mtime"]

    p = rclone("moveto", "-v", f"coffer:{bucket_name}/tree/plus+and=equals.txt",
               f"coffer:{bucket_name}/moved/plus+and=equals.txt")
    files = lsf(rclone, f"coffer:{bucket_name}")
    assert "moved/plus+and=equals.txt" in files and "tree/plus+and=equals.txt" not in files
    assert rclone("cat", f"coffer:{bucket_name}/moved/plus+and=equals.txt").stdout == contents["plus+and=equals.txt"]

    # touch on an existing object rewrites its metadata (CopyObject onto itself, REPLACE).
    rclone("touch", "-t", "2020-01-02T03:04:05", f"coffer:{bucket_name}/tree/a.txt")
    lsl = out(rclone("lsl", f"coffer:{bucket_name}/tree/a.txt"))
    assert "2020-01-02 03:04:05" in lsl, lsl
    assert rclone("cat", f"coffer:{bucket_name}/tree/a.txt").stdout == contents["a.txt"]

    rclone("delete", f"coffer:{bucket_name}/tree", "--include", "*.txt")
    left = lsf(rclone, f"coffer:{bucket_name}/tree")
    assert left == sorted(k for k in contents if not k.endswith(".txt") and k != "plus+and=equals.txt"), left

    rclone("deletefile", f"coffer:{bucket_name}/copied/c.bin")
    assert "copied/c.bin" not in lsf(rclone, f"coffer:{bucket_name}")

    rclone("purge", f"coffer:{bucket_name}")
    assert bucket_name not in out(rclone("lsd", "coffer:"))
    gone = rclone("lsf", f"coffer:{bucket_name}", check=False)
    assert gone.returncode != 0


def test_multipart_upload(rclone, bucket_name, tmp_path):
    rclone("mkdir", f"coffer:{bucket_name}")
    data = random_bytes(12 * MiB + 5, seed=34)
    src = tmp_path / "mp.bin"
    src.write_bytes(data)
    rclone("copy", src, f"coffer:{bucket_name}/", cutoff="5M")
    assert rclone("cat", f"coffer:{bucket_name}/mp.bin").stdout == data
    chk = rclone("check", "--download", tmp_path, f"coffer:{bucket_name}", "--include", "mp.bin")
    assert "0 differences found" in err(chk)
    rclone("purge", f"coffer:{bucket_name}")
