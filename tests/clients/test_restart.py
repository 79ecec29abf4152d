"""Data written through the S3 API survives a clean restart (SIGTERM, exit 0,
start again on the same --data-dir), as seen by a client: bytes, metadata,
checksums, listings, deletions."""

from __future__ import annotations

import tempfile
from pathlib import Path

from clientutil import checksum_b64, empty_and_delete_bucket, make_s3_client, md5_hex, random_bytes, require_module
from conftest import sandbox, start_server, stop_server

require_module("boto3")


def test_objects_survive_restart():
    root = sandbox()
    data_dir = Path(tempfile.mkdtemp(prefix="restart-data-", dir=root))
    log = root / "restart-server.log"
    data = random_bytes(2 * 1024 * 1024 + 3, seed=71)

    first = start_server(data_dir, log)
    try:
        s3 = make_s3_client(first.endpoint)
        s3.create_bucket(Bucket="restart-bucket")
        s3.put_object(Bucket="restart-bucket", Key="keep/big.bin", Body=data, ContentType="application/x-keep",
                      Metadata={"survives": "yes"}, ChecksumAlgorithm="SHA256")
        s3.put_object(Bucket="restart-bucket", Key="keep/unicode-\u00e9\u00e8.txt", Body=b"accents")
        s3.put_object(Bucket="restart-bucket", Key="gone.txt", Body=b"deleted before restart")
        s3.delete_object(Bucket="restart-bucket", Key="gone.txt")
        s3.create_bucket(Bucket="restart-deleted-bucket")
        s3.delete_bucket(Bucket="restart-deleted-bucket")
    finally:
        stop_server(first)

    second = start_server(data_dir, log)
    try:
        s3 = make_s3_client(second.endpoint)
        names = [b["Name"] for b in s3.list_buckets()["Buckets"]]
        assert "restart-bucket" in names and "restart-deleted-bucket" not in names
        get = s3.get_object(Bucket="restart-bucket", Key="keep/big.bin", ChecksumMode="ENABLED")
        assert get["Body"].read() == data
        assert get["ETag"] == f'"{md5_hex(data)}"'
        assert get["ContentType"] == "application/x-keep"
        assert get["Metadata"] == {"survives": "yes"}
        assert get.get("ChecksumSHA256") == checksum_b64("SHA256", data)
        keys = [o["Key"] for o in s3.list_objects_v2(Bucket="restart-bucket")["Contents"]]
        assert keys == ["keep/big.bin", "keep/unicode-\u00e9\u00e8.txt"]
        empty_and_delete_bucket(s3, "restart-bucket")
    finally:
        stop_server(second)
