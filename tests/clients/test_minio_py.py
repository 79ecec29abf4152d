"""The MinIO Python SDK (`pip install minio`) against a real Coffer server.

The client is built the way its users build it: host:port, keys, secure=False
and no region, so the SDK looks the bucket's region up itself (GetBucketLocation)
before signing.
"""

from __future__ import annotations

import io
import urllib.request
from datetime import timedelta

import pytest

from clientutil import (
    MiB,
    empty_and_delete_bucket,
    md5_hex,
    random_bytes,
    require_module,
)

minio = require_module("minio")
from minio.commonconfig import CopySource  # noqa: E402
from minio.deleteobjects import DeleteObject  # noqa: E402
from minio.error import S3Error  # noqa: E402

NO_PROXY_OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))


@pytest.fixture
def mc(server):
    return minio.Minio(server.hostport, access_key=server.access_key, secret_key=server.secret_key, secure=False)


@pytest.fixture
def mbucket(mc, s3, bucket_name):
    """A bucket made by the SDK's own make_bucket; boto3 removes whatever a
    failing test left behind."""
    mc.make_bucket(bucket_name)
    yield bucket_name
    empty_and_delete_bucket(s3, bucket_name)


def get_bytes(mc, bucket: str, key: str) -> bytes:
    resp = mc.get_object(bucket, key)
    try:
        return resp.read()
    finally:
        resp.close()
        resp.release_conn()


def put_bytes(mc, bucket: str, key: str, data: bytes, **kw):
    return mc.put_object(bucket, key, io.BytesIO(data), len(data), **kw)


def test_objects_listing_copy_presign_and_remove(mc, mbucket):
    assert mc.bucket_exists(mbucket)
    assert mbucket in [b.name for b in mc.list_buckets()]

    data = random_bytes(300_001, seed=51)
    put = put_bytes(mc, mbucket, "docs/a.bin", data, content_type="application/x-minio",
                    metadata={"origin": "minio-py"})
    assert put.etag == md5_hex(data)
    assert get_bytes(mc, mbucket, "docs/a.bin") == data

    st = mc.stat_object(mbucket, "docs/a.bin")
    assert (st.size, st.etag, st.content_type) == (len(data), md5_hex(data), "application/x-minio")
    assert st.metadata.get("x-amz-meta-origin") == "minio-py", dict(st.metadata)

    others = {"docs/sub/b.txt": b"bee\n", "docs/sub/deeper/c.txt": b"sea\n", "outside.txt": b"not under docs/\n"}
    for key, body in others.items():
        put_bytes(mc, mbucket, key, body)
    rec = {o.object_name: o.size for o in mc.list_objects(mbucket, prefix="docs/", recursive=True)}
    assert rec == {"docs/a.bin": len(data), "docs/sub/b.txt": 4, "docs/sub/deeper/c.txt": 4}
    # Without recursive the SDK sends delimiter=/ and shows docs/sub/ as a directory.
    top = [(o.object_name, o.is_dir) for o in mc.list_objects(mbucket, prefix="docs/")]
    assert top == [("docs/a.bin", False), ("docs/sub/", True)]

    copied = mc.copy_object(mbucket, "copies/a.bin", CopySource(mbucket, "docs/a.bin"))
    assert copied.etag == md5_hex(data)
    assert get_bytes(mc, mbucket, "copies/a.bin") == data
    assert mc.stat_object(mbucket, "copies/a.bin").metadata.get("x-amz-meta-origin") == "minio-py"

    url = mc.presigned_get_object(mbucket, "docs/a.bin", expires=timedelta(minutes=5))
    assert "X-Amz-Signature=" in url
    with NO_PROXY_OPENER.open(url, timeout=30) as r:
        assert r.status == 200
        assert r.read() == data

    mc.remove_object(mbucket, "outside.txt")
    remaining = sorted(o.object_name for o in mc.list_objects(mbucket, recursive=True))
    assert remaining == ["copies/a.bin", "docs/a.bin", "docs/sub/b.txt", "docs/sub/deeper/c.txt"]
    # remove_objects is lazy: the DeleteObjects request goes out while the
    # errors it returns are iterated.
    errors = list(mc.remove_objects(mbucket, [DeleteObject(k) for k in remaining]))
    assert errors == []
    assert list(mc.list_objects(mbucket, recursive=True)) == []

    mc.remove_bucket(mbucket)
    assert not mc.bucket_exists(mbucket)


def test_fput_fget_multipart(mc, mbucket, tmp_path):
    """20 MiB with part_size 5 MiB: the SDK uploads five parts in parallel,
    and the ETag says how many the server assembled."""
    data = random_bytes(20 * MiB + 3, seed=52)
    src = tmp_path / "big.bin"
    src.write_bytes(data)
    put = mc.fput_object(mbucket, "big.bin", str(src), part_size=5 * MiB)
    assert put.etag.endswith("-5"), put.etag

    st = mc.stat_object(mbucket, "big.bin")
    assert st.size == len(data)
    dst = tmp_path / "big-back.bin"
    mc.fget_object(mbucket, "big.bin", str(dst))
    assert md5_hex(dst.read_bytes()) == md5_hex(data)


def test_missing_key_is_no_such_key(mc, mbucket):
    with pytest.raises(S3Error) as ei:
        mc.get_object(mbucket, "no/such/key")
    assert ei.value.code == "NoSuchKey", ei.value
    with pytest.raises(S3Error) as ei:
        mc.stat_object(mbucket, "no/such/key")
    # HEAD has no body, so the SDK names the error from the status code.
    assert ei.value.code == "NoSuchKey", ei.value
