"""boto3 against a real Coffer server: buckets, objects, ranges, conditionals,
copies, listings, versions, transfers, presigned URLs, checksums, errors and
awkward keys.  Every assertion is on what actually comes back over the wire.
"""

from __future__ import annotations

import datetime as dt
import email.utils
import gzip
import hashlib
import time
import urllib.error
import urllib.request
import xml.etree.ElementTree as ET

import pytest

from clientutil import (
    MiB,
    REGION,
    checksum_b64,
    error_request_id,
    have_module,
    make_s3_client,
    md5_b64,
    md5_hex,
    random_bytes,
    require_module,
)

boto3 = require_module("boto3")
from boto3.s3.transfer import TransferConfig  # noqa: E402
from botocore.exceptions import ClientError  # noqa: E402

HAVE_CRT = have_module("awscrt")
NO_PROXY_OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))


# --------------------------------------------------------------------------
# helpers
# --------------------------------------------------------------------------

def expect_error(fn, code: str, status: int, *, has_body: bool = True, **kwargs) -> ClientError:
    """Call fn(**kwargs), require a ClientError with this S3 code and HTTP
    status, a non-empty RequestId, and (for responses with a body) a message."""
    with pytest.raises(ClientError) as ei:
        fn(**kwargs)
    e = ei.value
    got_code = e.response.get("Error", {}).get("Code")
    got_status = e.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
    assert (got_code, got_status) == (code, status), (
        f"expected {code}/{status}, got {got_code}/{got_status}: {e.response.get('Error')}"
    )
    assert error_request_id(e), f"error response {code} carries no RequestId: {e.response}"
    if has_body:
        assert e.response["Error"].get("Message"), f"error {code} has an empty Message: {e.response}"
    return e


def headers(resp) -> dict:
    return resp["ResponseMetadata"]["HTTPHeaders"]


def status(resp) -> int:
    return resp["ResponseMetadata"]["HTTPStatusCode"]


def get_bytes(s3, bucket, key, **kw) -> bytes:
    return s3.get_object(Bucket=bucket, Key=key, **kw)["Body"].read()


def quoted_md5(data: bytes) -> str:
    return f'"{md5_hex(data)}"'


def urlopen(req, timeout=30):
    return NO_PROXY_OPENER.open(req, timeout=timeout)


def xml_error(body: bytes) -> dict:
    root = ET.fromstring(body)
    return {child.tag.split("}")[-1]: (child.text or "") for child in root}


def transfer_config(**kw) -> TransferConfig:
    try:
        return TransferConfig(preferred_transfer_client="classic", **kw)
    except TypeError:  # older boto3
        return TransferConfig(**kw)


# --------------------------------------------------------------------------
# buckets
# --------------------------------------------------------------------------

def test_bucket_lifecycle(server, s3, bucket_name):
    resp = s3.create_bucket(Bucket=bucket_name)
    assert status(resp) == 200
    assert resp["ResponseMetadata"]["RequestId"], "success responses should carry x-amz-request-id too"

    names = [b["Name"] for b in s3.list_buckets()["Buckets"]]
    assert bucket_name in names
    listed = next(b for b in s3.list_buckets()["Buckets"] if b["Name"] == bucket_name)
    assert isinstance(listed["CreationDate"], dt.datetime)

    assert status(s3.head_bucket(Bucket=bucket_name)) == 200

    loc = s3.get_bucket_location(Bucket=bucket_name)
    # S3 returns an empty LocationConstraint for us-east-1.
    assert loc.get("LocationConstraint") is None, loc

    versioning = s3.get_bucket_versioning(Bucket=bucket_name)
    assert "Status" not in versioning, versioning

    resp = s3.delete_bucket(Bucket=bucket_name)
    assert status(resp) == 204
    assert bucket_name not in [b["Name"] for b in s3.list_buckets()["Buckets"]]
    expect_error(s3.head_bucket, "404", 404, has_body=False, Bucket=bucket_name)


def test_head_bucket_reports_region(server, s3, bucket):
    resp = s3.head_bucket(Bucket=bucket)
    assert headers(resp).get("x-amz-bucket-region") == REGION, headers(resp)


def test_list_buckets_sorted_and_owner(server, s3, make_bucket_name):
    names = [make_bucket_name("zz"), make_bucket_name("aa"), make_bucket_name("mm")]
    try:
        for n in names:
            s3.create_bucket(Bucket=n)
        resp = s3.list_buckets()
        listed = [b["Name"] for b in resp["Buckets"]]
        ours = [n for n in listed if n in names]
        assert ours == sorted(names), "ListBuckets must return buckets in name order"
        assert "Owner" in resp and resp["Owner"].get("ID"), resp.get("Owner")
    finally:
        for n in names:
            try:
                s3.delete_bucket(Bucket=n)
            except ClientError:
                pass


def test_create_existing_bucket_is_already_owned(server, s3, bucket):
    expect_error(s3.create_bucket, "BucketAlreadyOwnedByYou", 409, Bucket=bucket)


@pytest.mark.parametrize(
    "name",
    ["ab", "UpperCase", "under_score", "-leading-hyphen", "trailing-hyphen-", "a" * 64, "192.168.5.4", "double..dot"],
)
def test_invalid_bucket_names(server, s3, name):
    expect_error(s3.create_bucket, "InvalidBucketName", 400, Bucket=name)


def test_delete_nonempty_bucket(server, s3, bucket):
    s3.put_object(Bucket=bucket, Key="keep", Body=b"x")
    expect_error(s3.delete_bucket, "BucketNotEmpty", 409, Bucket=bucket)
    assert status(s3.head_bucket(Bucket=bucket)) == 200


def test_missing_bucket_errors(server, s3, bucket_name):
    expect_error(s3.get_object, "NoSuchBucket", 404, Bucket=bucket_name, Key="k")
    expect_error(s3.put_object, "NoSuchBucket", 404, Bucket=bucket_name, Key="k", Body=b"x")
    expect_error(s3.list_objects_v2, "NoSuchBucket", 404, Bucket=bucket_name)
    expect_error(s3.list_objects, "NoSuchBucket", 404, Bucket=bucket_name)
    expect_error(s3.delete_bucket, "NoSuchBucket", 404, Bucket=bucket_name)
    expect_error(s3.get_bucket_location, "NoSuchBucket", 404, Bucket=bucket_name)
    expect_error(s3.head_bucket, "404", 404, has_body=False, Bucket=bucket_name)
    expect_error(s3.head_object, "404", 404, has_body=False, Bucket=bucket_name, Key="k")


# --------------------------------------------------------------------------
# objects
# --------------------------------------------------------------------------

def test_put_get_head_with_metadata_and_headers(server, s3, bucket):
    raw = b"The quick brown fox jumps over the lazy dog\n" * 200
    body = gzip.compress(raw, mtime=0)
    expires = dt.datetime(2037, 1, 2, 3, 4, 5, tzinfo=dt.timezone.utc)
    put = s3.put_object(
        Bucket=bucket,
        Key="docs/fox.txt",
        Body=body,
        ContentType="text/plain; charset=utf-8",
        ContentEncoding="gzip",
        ContentDisposition='attachment; filename="fox.txt"',
        ContentLanguage="en-US",
        CacheControl="max-age=60, public",
        Expires=expires,
        Metadata={"color": "blue", "Mixed-Case": "Value With Spaces"},
    )
    assert put["ETag"] == quoted_md5(body)

    before = dt.datetime.now(dt.timezone.utc)
    get = s3.get_object(Bucket=bucket, Key="docs/fox.txt")
    got = get["Body"].read()
    assert got == body, "GetObject must return the exact bytes (no transparent decoding)"
    assert gzip.decompress(got) == raw
    assert status(get) == 200
    assert get["ContentLength"] == len(body)
    assert get["ETag"] == quoted_md5(body)
    assert get["ContentType"] == "text/plain; charset=utf-8"
    assert get["ContentEncoding"] == "gzip"
    assert get["ContentDisposition"] == 'attachment; filename="fox.txt"'
    assert get["ContentLanguage"] == "en-US"
    assert get["CacheControl"] == "max-age=60, public"
    assert email.utils.parsedate_to_datetime(headers(get)["expires"]) == expires
    assert get["Metadata"] == {"color": "blue", "mixed-case": "Value With Spaces"}
    assert abs((get["LastModified"] - before).total_seconds()) < 300
    assert headers(get).get("accept-ranges") == "bytes"

    head = s3.head_object(Bucket=bucket, Key="docs/fox.txt")
    assert status(head) == 200
    assert head["ContentLength"] == len(body)
    assert head["ETag"] == quoted_md5(body)
    assert head["ContentType"] == "text/plain; charset=utf-8"
    assert head["ContentEncoding"] == "gzip"
    assert head["ContentDisposition"] == 'attachment; filename="fox.txt"'
    assert head["CacheControl"] == "max-age=60, public"
    assert head["Metadata"] == {"color": "blue", "mixed-case": "Value With Spaces"}
    assert head["LastModified"] == get["LastModified"]


def test_binary_empty_and_overwrite(server, s3, bucket):
    data = random_bytes(3 * MiB + 17, seed=42)
    assert s3.put_object(Bucket=bucket, Key="bin", Body=data)["ETag"] == quoted_md5(data)
    assert get_bytes(s3, bucket, "bin") == data

    put = s3.put_object(Bucket=bucket, Key="empty", Body=b"")
    assert put["ETag"] == '"d41d8cd98f00b204e9800998ecf8427e"'
    get = s3.get_object(Bucket=bucket, Key="empty")
    assert get["ContentLength"] == 0
    assert get["Body"].read() == b""

    s3.put_object(Bucket=bucket, Key="bin", Body=b"second version", ContentType="text/plain")
    get = s3.get_object(Bucket=bucket, Key="bin")
    assert get["Body"].read() == b"second version"
    assert get["ContentType"] == "text/plain"
    assert get["ContentLength"] == len(b"second version")


def test_largest_single_put(server, s3, bucket):
    data = random_bytes(7 * MiB + 123, seed=7)  # below the 8 MiB multipart cut
    s3.put_object(Bucket=bucket, Key="big/seven-mib", Body=data)
    head = s3.head_object(Bucket=bucket, Key="big/seven-mib")
    assert head["ContentLength"] == len(data)
    got = get_bytes(s3, bucket, "big/seven-mib")
    assert hashlib.sha256(got).hexdigest() == hashlib.sha256(data).hexdigest()


def test_delete_object(server, s3, bucket):
    s3.put_object(Bucket=bucket, Key="gone", Body=b"bye")
    resp = s3.delete_object(Bucket=bucket, Key="gone")
    assert status(resp) == 204
    expect_error(s3.get_object, "NoSuchKey", 404, Bucket=bucket, Key="gone")
    expect_error(s3.head_object, "404", 404, has_body=False, Bucket=bucket, Key="gone")
    # Deleting a missing key is not an error in S3.
    assert status(s3.delete_object(Bucket=bucket, Key="never-existed")) == 204


def test_no_such_key(server, s3, bucket):
    e = expect_error(s3.get_object, "NoSuchKey", 404, Bucket=bucket, Key="missing/key.txt")
    assert e.response["Error"].get("Key") in (None, "missing/key.txt")


# --------------------------------------------------------------------------
# ranges
# --------------------------------------------------------------------------

RANGE_DATA = bytes(range(256)) * 4 + b"tail-end"  # 1032 bytes
N = len(RANGE_DATA)


@pytest.mark.parametrize(
    "rng,start,end",
    [
        ("bytes=0-9", 0, 9),
        ("bytes=100-199", 100, 199),
        ("bytes=1000-", 1000, N - 1),
        ("bytes=-8", N - 8, N - 1),
        ("bytes=500-99999", 500, N - 1),
        ("bytes=0-0", 0, 0),
        (f"bytes={N - 1}-", N - 1, N - 1),
        (f"bytes=-{N + 50}", 0, N - 1),
    ],
)
def test_range_get(server, s3, bucket, rng, start, end):
    s3.put_object(Bucket=bucket, Key="r", Body=RANGE_DATA)
    resp = s3.get_object(Bucket=bucket, Key="r", Range=rng)
    assert status(resp) == 206
    body = resp["Body"].read()
    assert body == RANGE_DATA[start : end + 1]
    assert resp["ContentLength"] == end - start + 1
    assert resp["ContentRange"] == f"bytes {start}-{end}/{N}"


@pytest.mark.parametrize("rng", [f"bytes={N}-", f"bytes={N + 10}-{N + 20}", "bytes=5000-6000"])
def test_range_unsatisfiable(server, s3, bucket, rng):
    s3.put_object(Bucket=bucket, Key="r", Body=RANGE_DATA)
    expect_error(s3.get_object, "InvalidRange", 416, Bucket=bucket, Key="r", Range=rng)


# --------------------------------------------------------------------------
# conditionals
# --------------------------------------------------------------------------

def test_conditional_get(server, s3, bucket):
    data = b"conditional body"
    etag = s3.put_object(Bucket=bucket, Key="c", Body=data)["ETag"]
    past = dt.datetime(2000, 1, 1, tzinfo=dt.timezone.utc)
    future = dt.datetime.now(dt.timezone.utc) + dt.timedelta(days=1)

    assert get_bytes(s3, bucket, "c", IfMatch=etag) == data
    assert get_bytes(s3, bucket, "c", IfNoneMatch='"0123456789abcdef0123456789abcdef"') == data
    assert get_bytes(s3, bucket, "c", IfModifiedSince=past) == data
    assert get_bytes(s3, bucket, "c", IfUnmodifiedSince=future) == data

    expect_error(s3.get_object, "PreconditionFailed", 412, Bucket=bucket, Key="c",
                 IfMatch='"0123456789abcdef0123456789abcdef"')
    expect_error(s3.get_object, "PreconditionFailed", 412, Bucket=bucket, Key="c", IfUnmodifiedSince=past)
    expect_error(s3.get_object, "304", 304, has_body=False, Bucket=bucket, Key="c", IfNoneMatch=etag)
    expect_error(s3.get_object, "304", 304, has_body=False, Bucket=bucket, Key="c", IfModifiedSince=future)
    # If-Match wins over If-Unmodified-Since; If-None-Match wins over If-Modified-Since (RFC 7232 / S3 docs).
    assert get_bytes(s3, bucket, "c", IfMatch=etag, IfUnmodifiedSince=past) == data
    expect_error(s3.get_object, "304", 304, has_body=False, Bucket=bucket, Key="c",
                 IfNoneMatch=etag, IfModifiedSince=past)


def test_conditional_head(server, s3, bucket):
    etag = s3.put_object(Bucket=bucket, Key="c", Body=b"abc")["ETag"]
    assert s3.head_object(Bucket=bucket, Key="c", IfMatch=etag)["ETag"] == etag
    expect_error(s3.head_object, "412", 412, has_body=False, Bucket=bucket, Key="c", IfMatch='"nope"')
    expect_error(s3.head_object, "304", 304, has_body=False, Bucket=bucket, Key="c", IfNoneMatch=etag)


def test_response_header_overrides(server, s3, bucket):
    s3.put_object(Bucket=bucket, Key="o", Body=b"override me", ContentType="text/plain")
    resp = s3.get_object(
        Bucket=bucket,
        Key="o",
        ResponseContentType="application/x-coffer-test",
        ResponseContentDisposition='attachment; filename="renamed.bin"',
        ResponseCacheControl="no-cache",
        ResponseContentLanguage="fr-FR",
        ResponseContentEncoding="identity",
        ResponseExpires=dt.datetime(2030, 5, 6, 7, 8, 9, tzinfo=dt.timezone.utc),
    )
    assert resp["Body"].read() == b"override me"
    assert resp["ContentType"] == "application/x-coffer-test"
    assert resp["ContentDisposition"] == 'attachment; filename="renamed.bin"'
    assert resp["CacheControl"] == "no-cache"
    assert resp["ContentLanguage"] == "fr-FR"
    assert resp["ContentEncoding"] == "identity"
    assert email.utils.parsedate_to_datetime(headers(resp)["expires"]) == dt.datetime(
        2030, 5, 6, 7, 8, 9, tzinfo=dt.timezone.utc
    )
    # The stored object is unchanged.
    assert s3.head_object(Bucket=bucket, Key="o")["ContentType"] == "text/plain"


# --------------------------------------------------------------------------
# copy
# --------------------------------------------------------------------------

def test_copy_object_copy_directive(server, s3, bucket, make_bucket_name):
    data = random_bytes(200_000, seed=3)
    s3.put_object(Bucket=bucket, Key="src/obj", Body=data, ContentType="image/png",
                  CacheControl="max-age=5", Metadata={"origin": "source", "n": "1"})
    resp = s3.copy_object(Bucket=bucket, Key="dst/obj", CopySource={"Bucket": bucket, "Key": "src/obj"})
    assert resp["CopyObjectResult"]["ETag"] == quoted_md5(data)
    assert isinstance(resp["CopyObjectResult"]["LastModified"], dt.datetime)
    got = s3.get_object(Bucket=bucket, Key="dst/obj")
    assert got["Body"].read() == data
    assert got["ContentType"] == "image/png"
    assert got["CacheControl"] == "max-age=5"
    assert got["Metadata"] == {"origin": "source", "n": "1"}
    assert got["ETag"] == quoted_md5(data)

    other = make_bucket_name("copydst")
    s3.create_bucket(Bucket=other)
    try:
        s3.copy_object(Bucket=other, Key="x", CopySource=f"{bucket}/src/obj", MetadataDirective="COPY")
        assert get_bytes(s3, other, "x") == data
        # The source is untouched.
        assert get_bytes(s3, bucket, "src/obj") == data
    finally:
        s3.delete_object(Bucket=other, Key="x")
        s3.delete_bucket(Bucket=other)


def test_copy_object_replace_directive(server, s3, bucket):
    s3.put_object(Bucket=bucket, Key="src", Body=b"payload", ContentType="text/plain",
                  Metadata={"old": "yes"})
    s3.copy_object(Bucket=bucket, Key="dst", CopySource={"Bucket": bucket, "Key": "src"},
                   MetadataDirective="REPLACE", ContentType="application/json",
                   Metadata={"new": "value"})
    head = s3.head_object(Bucket=bucket, Key="dst")
    assert head["Metadata"] == {"new": "value"}
    assert head["ContentType"] == "application/json"
    assert get_bytes(s3, bucket, "dst") == b"payload"
    assert s3.head_object(Bucket=bucket, Key="src")["Metadata"] == {"old": "yes"}


def test_copy_onto_itself(server, s3, bucket):
    s3.put_object(Bucket=bucket, Key="self", Body=b"me", Metadata={"a": "1"})
    expect_error(s3.copy_object, "InvalidRequest", 400, Bucket=bucket, Key="self",
                 CopySource={"Bucket": bucket, "Key": "self"})
    # With REPLACE it is the documented way to change metadata in place.
    s3.copy_object(Bucket=bucket, Key="self", CopySource={"Bucket": bucket, "Key": "self"},
                   MetadataDirective="REPLACE", Metadata={"a": "2", "b": "3"}, ContentType="text/x-self")
    head = s3.head_object(Bucket=bucket, Key="self")
    assert head["Metadata"] == {"a": "2", "b": "3"}
    assert head["ContentType"] == "text/x-self"
    assert get_bytes(s3, bucket, "self") == b"me"


def test_copy_errors(server, s3, bucket, make_bucket_name):
    expect_error(s3.copy_object, "NoSuchKey", 404, Bucket=bucket, Key="d",
                 CopySource={"Bucket": bucket, "Key": "does-not-exist"})
    expect_error(s3.copy_object, "NoSuchBucket", 404, Bucket=bucket, Key="d",
                 CopySource={"Bucket": make_bucket_name("nosrc"), "Key": "k"})
    s3.put_object(Bucket=bucket, Key="s", Body=b"data")
    expect_error(s3.copy_object, "PreconditionFailed", 412, Bucket=bucket, Key="d",
                 CopySource={"Bucket": bucket, "Key": "s"}, CopySourceIfMatch='"0000"')
    etag = s3.head_object(Bucket=bucket, Key="s")["ETag"]
    s3.copy_object(Bucket=bucket, Key="d", CopySource={"Bucket": bucket, "Key": "s"}, CopySourceIfMatch=etag)
    assert get_bytes(s3, bucket, "d") == b"data"


# --------------------------------------------------------------------------
# listings
# --------------------------------------------------------------------------

def test_list_objects_v2_pagination(server, s3, bucket):
    keys = [f"page/key-{i:02d}" for i in range(25)]
    for k in keys:
        s3.put_object(Bucket=bucket, Key=k, Body=k.encode())
    s3.put_object(Bucket=bucket, Key="other", Body=b"o")

    pages = list(s3.get_paginator("list_objects_v2").paginate(
        Bucket=bucket, Prefix="page/", PaginationConfig={"PageSize": 10}))
    assert [len(p.get("Contents", [])) for p in pages] == [10, 10, 5]
    assert [p["IsTruncated"] for p in pages] == [True, True, False]
    assert [p["KeyCount"] for p in pages] == [10, 10, 5]
    assert all(p["MaxKeys"] == 10 for p in pages)
    assert "NextContinuationToken" in pages[0] and "NextContinuationToken" not in pages[2]
    listed = [o["Key"] for p in pages for o in p["Contents"]]
    assert listed == keys
    first = pages[0]["Contents"][0]
    assert first["Size"] == len(keys[0])
    assert first["ETag"] == quoted_md5(keys[0].encode())
    assert first.get("StorageClass", "STANDARD") == "STANDARD"
    assert isinstance(first["LastModified"], dt.datetime)

    after = s3.list_objects_v2(Bucket=bucket, StartAfter="page/key-20")
    assert [o["Key"] for o in after["Contents"]] == keys[21:]

    full = s3.list_objects_v2(Bucket=bucket)
    assert full["KeyCount"] == 26 and not full["IsTruncated"]
    assert [o["Key"] for o in full["Contents"]] == sorted(keys + ["other"])


def test_list_objects_v2_prefix_delimiter(server, s3, bucket):
    keys = ["a/1", "a/2", "a/b/3", "a/b/c/4", "b/5", "c", "d/", "e.txt"]
    for k in keys:
        s3.put_object(Bucket=bucket, Key=k, Body=b"x")

    top = s3.list_objects_v2(Bucket=bucket, Delimiter="/")
    assert [o["Key"] for o in top.get("Contents", [])] == ["c", "e.txt"]
    assert [p["Prefix"] for p in top["CommonPrefixes"]] == ["a/", "b/", "d/"]
    assert top["KeyCount"] == 5
    assert top["Delimiter"] == "/"

    sub = s3.list_objects_v2(Bucket=bucket, Prefix="a/", Delimiter="/")
    assert [o["Key"] for o in sub["Contents"]] == ["a/1", "a/2"]
    assert [p["Prefix"] for p in sub["CommonPrefixes"]] == ["a/b/"]
    assert sub["Prefix"] == "a/"

    none = s3.list_objects_v2(Bucket=bucket, Prefix="zzz")
    assert none["KeyCount"] == 0 and "Contents" not in none

    # Paging one entry at a time must still visit every key and prefix exactly once.
    seen_keys, seen_prefixes = [], []
    for page in s3.get_paginator("list_objects_v2").paginate(
            Bucket=bucket, Delimiter="/", PaginationConfig={"PageSize": 1}):
        seen_keys += [o["Key"] for o in page.get("Contents", [])]
        seen_prefixes += [p["Prefix"] for p in page.get("CommonPrefixes", [])]
    assert seen_keys == ["c", "e.txt"]
    assert seen_prefixes == ["a/", "b/", "d/"]

    # A delimiter other than "/".
    dash = s3.list_objects_v2(Bucket=bucket, Delimiter=".")
    assert [p["Prefix"] for p in dash.get("CommonPrefixes", [])] == ["e."]


def test_list_objects_v1_marker(server, s3, bucket):
    keys = [f"k{i:02d}" for i in range(15)]
    for k in keys:
        s3.put_object(Bucket=bucket, Key=k, Body=b"v1")

    first = s3.list_objects(Bucket=bucket, MaxKeys=5)
    assert [o["Key"] for o in first["Contents"]] == keys[:5]
    assert first["IsTruncated"] is True
    second = s3.list_objects(Bucket=bucket, MaxKeys=5, Marker=keys[4])
    assert [o["Key"] for o in second["Contents"]] == keys[5:10]
    assert second["Marker"] == keys[4]
    rest = s3.list_objects(Bucket=bucket, Marker="k09")
    assert [o["Key"] for o in rest["Contents"]] == keys[10:]
    assert rest["IsTruncated"] is False

    pages = list(s3.get_paginator("list_objects").paginate(Bucket=bucket, PaginationConfig={"PageSize": 4}))
    assert [o["Key"] for p in pages for o in p["Contents"]] == keys
    assert len(pages) == 4

    # With a delimiter, a truncated v1 listing must return NextMarker.
    for k in ["p1/a", "p2/a", "p3/a"]:
        s3.put_object(Bucket=bucket, Key=k, Body=b"x")
    d = s3.list_objects(Bucket=bucket, Delimiter="/", Prefix="p", MaxKeys=2)
    assert [p["Prefix"] for p in d["CommonPrefixes"]] == ["p1/", "p2/"]
    assert d["IsTruncated"] is True
    assert d.get("NextMarker") in ("p2/",), d.get("NextMarker")
    d2 = s3.list_objects(Bucket=bucket, Delimiter="/", Prefix="p", Marker=d["NextMarker"])
    assert [p["Prefix"] for p in d2["CommonPrefixes"]] == ["p3/"]


# --------------------------------------------------------------------------
# delete_objects and versions
# --------------------------------------------------------------------------

def test_delete_objects_verbose_and_quiet(server, s3, bucket):
    for k in ["d1", "d2", "d3", "q1", "q2"]:
        s3.put_object(Bucket=bucket, Key=k, Body=b"x")

    resp = s3.delete_objects(Bucket=bucket, Delete={"Objects": [{"Key": "d1"}, {"Key": "d2"}, {"Key": "missing"}]})
    assert sorted(d["Key"] for d in resp["Deleted"]) == ["d1", "d2", "missing"]
    assert not resp.get("Errors")

    resp = s3.delete_objects(Bucket=bucket, Delete={"Objects": [{"Key": "q1"}, {"Key": "q2"}], "Quiet": True})
    assert not resp.get("Deleted"), "Quiet mode must not list successful deletes"
    assert not resp.get("Errors")

    left = [o["Key"] for o in s3.list_objects_v2(Bucket=bucket).get("Contents", [])]
    assert left == ["d3"]


def test_list_object_versions_null_and_delete_by_version(server, s3, bucket):
    data = b"unversioned"
    s3.put_object(Bucket=bucket, Key="v/one", Body=data)
    s3.put_object(Bucket=bucket, Key="v/two", Body=b"2")
    resp = s3.list_object_versions(Bucket=bucket, Prefix="v/")
    versions = resp["Versions"]
    assert [v["Key"] for v in versions] == ["v/one", "v/two"]
    for v in versions:
        assert v["VersionId"] == "null"
        assert v["IsLatest"] is True
    assert versions[0]["Size"] == len(data)
    assert versions[0]["ETag"] == quoted_md5(data)
    assert not resp.get("DeleteMarkers")

    # On an unversioned bucket, versionId=null addresses the only version.
    assert get_bytes(s3, bucket, "v/one", VersionId="null") == data

    resp = s3.delete_objects(Bucket=bucket, Delete={"Objects": [{"Key": "v/one", "VersionId": "null"}]})
    assert [(d["Key"], d.get("VersionId")) for d in resp["Deleted"]] == [("v/one", "null")]
    expect_error(s3.get_object, "NoSuchKey", 404, Bucket=bucket, Key="v/one")

    s3.delete_object(Bucket=bucket, Key="v/two", VersionId="null")
    assert not s3.list_object_versions(Bucket=bucket).get("Versions")


# --------------------------------------------------------------------------
# transfer manager
# --------------------------------------------------------------------------

def test_upload_download_file_single_part(server, s3, bucket, tmp_path):
    data = random_bytes(6 * MiB + 5, seed=11)
    src = tmp_path / "up.bin"
    src.write_bytes(data)
    cfg = transfer_config(multipart_threshold=64 * MiB, multipart_chunksize=64 * MiB)
    s3.upload_file(str(src), bucket, "tm/up.bin", Config=cfg, ExtraArgs={"ContentType": "application/x-test",
                                                                           "Metadata": {"via": "upload_file"}})
    head = s3.head_object(Bucket=bucket, Key="tm/up.bin")
    assert head["ContentLength"] == len(data)
    assert head["ETag"] == quoted_md5(data), "single-part upload must have an MD5 ETag"
    assert head["Metadata"] == {"via": "upload_file"}

    dst = tmp_path / "down.bin"
    s3.download_file(bucket, "tm/up.bin", str(dst), Config=cfg)
    assert dst.read_bytes() == data

    import io

    s3.upload_fileobj(io.BytesIO(data[:1000]), bucket, "tm/fileobj", Config=cfg)
    buf = io.BytesIO()
    s3.download_fileobj(bucket, "tm/fileobj", buf, Config=cfg)
    assert buf.getvalue() == data[:1000]


def test_download_file_ranged_parts(server, s3, bucket, tmp_path):
    """The transfer manager downloads large objects with parallel ranged GETs."""
    data = random_bytes(7 * MiB, seed=12)
    s3.put_object(Bucket=bucket, Key="ranged", Body=data)
    cfg = transfer_config(multipart_threshold=5 * MiB, multipart_chunksize=1 * MiB, max_concurrency=4)
    dst = tmp_path / "ranged.bin"
    s3.download_file(bucket, "ranged", str(dst), Config=cfg)
    assert dst.read_bytes() == data


def test_upload_file_multipart(server, s3, bucket, tmp_path):
    data = random_bytes(12 * MiB + 3, seed=13)
    src = tmp_path / "mp.bin"
    src.write_bytes(data)
    cfg = transfer_config(multipart_threshold=5 * MiB, multipart_chunksize=5 * MiB)
    s3.upload_file(str(src), bucket, "mp.bin", Config=cfg)
    head = s3.head_object(Bucket=bucket, Key="mp.bin")
    assert head["ContentLength"] == len(data)
    assert head["ETag"].endswith('-3"'), head["ETag"]
    dst = tmp_path / "mp-down.bin"
    s3.download_file(bucket, "mp.bin", str(dst), Config=cfg)
    assert dst.read_bytes() == data


# --------------------------------------------------------------------------
# presigned URLs
# --------------------------------------------------------------------------

def test_presigned_get_and_put(server, s3, bucket):
    data = random_bytes(50_000, seed=5)
    s3.put_object(Bucket=bucket, Key="pre/get me.bin", Body=data)
    url = s3.generate_presigned_url("get_object", Params={"Bucket": bucket, "Key": "pre/get me.bin"}, ExpiresIn=300)
    assert "X-Amz-Signature=" in url
    with urlopen(url) as r:
        assert r.status == 200
        assert r.read() == data

    # Presigned GET with a response override baked into the signature.
    url = s3.generate_presigned_url("get_object", ExpiresIn=300, Params={
        "Bucket": bucket, "Key": "pre/get me.bin", "ResponseContentType": "application/x-presigned"})
    with urlopen(url) as r:
        assert r.headers["Content-Type"] == "application/x-presigned"
        assert r.read() == data

    put_data = b"uploaded through a presigned PUT\n"
    url = s3.generate_presigned_url("put_object", ExpiresIn=300, Params={
        "Bucket": bucket, "Key": "pre/put+it.txt", "ContentType": "text/plain"})
    req = urllib.request.Request(url, data=put_data, method="PUT", headers={"Content-Type": "text/plain"})
    with urlopen(req) as r:
        assert r.status == 200
        assert r.headers["ETag"] == quoted_md5(put_data)
    got = s3.get_object(Bucket=bucket, Key="pre/put+it.txt")
    assert got["Body"].read() == put_data
    assert got["ContentType"] == "text/plain"


def multipart_form(fields: dict, filename: str, data: bytes) -> tuple[bytes, str]:
    """A multipart/form-data body as a browser builds it: the fields in order,
    then the file last; returns the body and its Content-Type."""
    boundary = "----CofferBoto3FormBoundary"
    parts = [
        f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n{value}\r\n'.encode()
        for name, value in fields.items()
    ]
    parts.append(
        f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="{filename}"\r\n'
        "Content-Type: application/octet-stream\r\n\r\n".encode()
        + data
        + f"\r\n--{boundary}--\r\n".encode()
    )
    return b"".join(parts), f"multipart/form-data; boundary={boundary}"


def test_presigned_post_form_upload(server, s3, bucket):
    """generate_presigned_post, then the form a browser would submit."""
    data = random_bytes(5000, seed=9)
    post = s3.generate_presigned_post(
        bucket,
        "uploads/${filename}",
        Fields={"Content-Type": "image/png", "x-amz-meta-origin": "browser", "success_action_status": "201"},
        Conditions=[
            ["starts-with", "$Content-Type", "image/"],
            {"x-amz-meta-origin": "browser"},
            {"success_action_status": "201"},
            ["content-length-range", 1, 10_000],
        ],
        ExpiresIn=600,
    )
    body, content_type = multipart_form(post["fields"], "photo.png", data)
    req = urllib.request.Request(post["url"], data=body, method="POST", headers={"Content-Type": content_type})
    with urlopen(req) as r:
        assert r.status == 201
        assert r.headers["ETag"] == quoted_md5(data)
        doc = {child.tag.split("}")[-1]: child.text for child in ET.fromstring(r.read())}
    assert doc["Bucket"] == bucket
    assert doc["Key"] == "uploads/photo.png"
    assert doc["ETag"] == quoted_md5(data)
    got = s3.head_object(Bucket=bucket, Key="uploads/photo.png")
    assert got["ContentType"] == "image/png"
    assert got["Metadata"] == {"origin": "browser"}
    assert get_bytes(s3, bucket, "uploads/photo.png") == data

    # A file outside the policy's content-length-range is refused.
    post = s3.generate_presigned_post(bucket, "small", Conditions=[["content-length-range", 1, 10]])
    body, content_type = multipart_form(post["fields"], "big.bin", b"x" * 11)
    req = urllib.request.Request(post["url"], data=body, method="POST", headers={"Content-Type": content_type})
    with pytest.raises(urllib.error.HTTPError) as refused:
        urlopen(req)
    assert refused.value.code == 400
    assert xml_error(refused.value.read())["Code"] == "EntityTooLarge"
    expect_error(s3.head_object, "404", 404, has_body=False, Bucket=bucket, Key="small")


def test_presigned_url_expired(server, s3, bucket):
    s3.put_object(Bucket=bucket, Key="exp", Body=b"x")
    url = s3.generate_presigned_url("get_object", Params={"Bucket": bucket, "Key": "exp"}, ExpiresIn=1)
    time.sleep(2.5)
    with pytest.raises(urllib.error.HTTPError) as ei:
        urlopen(url)
    assert ei.value.code == 403
    body = ei.value.read()
    fields = xml_error(body)
    assert fields.get("Code") == "AccessDenied", body
    assert fields.get("RequestId"), f"error XML has no RequestId: {body!r}"


def test_presigned_url_tampered(server, s3, bucket):
    s3.put_object(Bucket=bucket, Key="tamper", Body=b"x")
    url = s3.generate_presigned_url("get_object", Params={"Bucket": bucket, "Key": "tamper"}, ExpiresIn=300)
    bad = url.replace("/tamper?", "/tamper2?")
    with pytest.raises(urllib.error.HTTPError) as ei:
        urlopen(bad)
    assert ei.value.code == 403
    assert xml_error(ei.value.read()).get("Code") == "SignatureDoesNotMatch"


# --------------------------------------------------------------------------
# checksums
# --------------------------------------------------------------------------

# botocore computes CRC32C and CRC64NVME only with awscrt (boto3[crt]).
ALGORITHMS = ["CRC32", "SHA1", "SHA256"] + (["CRC32C", "CRC64NVME"] if HAVE_CRT else [])


@pytest.mark.parametrize("algorithm", ALGORITHMS)
def test_checksum_roundtrip(server, s3, bucket, algorithm):
    data = random_bytes(123_457, seed=len(algorithm))
    expected = checksum_b64(algorithm, data)
    field = f"Checksum{algorithm}"
    put = s3.put_object(Bucket=bucket, Key=f"ck/{algorithm}", Body=data, ChecksumAlgorithm=algorithm)
    assert put.get(field) == expected, f"PutObject response {field}={put.get(field)!r}, expected {expected!r}"

    get = s3.get_object(Bucket=bucket, Key=f"ck/{algorithm}", ChecksumMode="ENABLED")
    assert get["Body"].read() == data
    assert get.get(field) == expected, f"GetObject {field}={get.get(field)!r}, expected {expected!r}"

    head = s3.head_object(Bucket=bucket, Key=f"ck/{algorithm}", ChecksumMode="ENABLED")
    assert head.get(field) == expected, f"HeadObject {field}={head.get(field)!r}, expected {expected!r}"


def test_explicit_checksum_value_sent(server, s3, bucket):
    data = b"explicit checksum value"
    value = checksum_b64("SHA1", data)
    s3.put_object(Bucket=bucket, Key="ex", Body=data, ChecksumSHA1=value)
    get = s3.get_object(Bucket=bucket, Key="ex", ChecksumMode="ENABLED")
    assert get["ChecksumSHA1"] == value
    assert get["Body"].read() == data


def test_wrong_checksum_is_bad_digest(server, s3, bucket):
    data = b"this data does not match the checksum"
    wrong = checksum_b64("CRC32", b"something else")
    expect_error(s3.put_object, "BadDigest", 400, Bucket=bucket, Key="bad-crc", Body=data, ChecksumCRC32=wrong)
    wrong_sha = checksum_b64("SHA256", b"something else")
    expect_error(s3.put_object, "BadDigest", 400, Bucket=bucket, Key="bad-sha", Body=data, ChecksumSHA256=wrong_sha)
    expect_error(s3.head_object, "404", 404, has_body=False, Bucket=bucket, Key="bad-crc")
    expect_error(s3.head_object, "404", 404, has_body=False, Bucket=bucket, Key="bad-sha")


def test_content_md5(server, s3, bucket):
    data = b"md5 protected body"
    s3.put_object(Bucket=bucket, Key="md5-ok", Body=data, ContentMD5=md5_b64(data))
    assert get_bytes(s3, bucket, "md5-ok") == data
    expect_error(s3.put_object, "BadDigest", 400, Bucket=bucket, Key="md5-bad", Body=data,
                 ContentMD5=md5_b64(b"different"))
    expect_error(s3.get_object, "NoSuchKey", 404, Bucket=bucket, Key="md5-bad")
    expect_error(s3.put_object, "InvalidDigest", 400, Bucket=bucket, Key="md5-malformed", Body=data,
                 ContentMD5="not-base64-md5")


# --------------------------------------------------------------------------
# authentication errors
# --------------------------------------------------------------------------

def test_wrong_secret_key(server, bucket):
    bad = make_s3_client(server.endpoint, secret_key="definitely-not-the-secret")
    expect_error(bad.list_buckets, "SignatureDoesNotMatch", 403)
    expect_error(bad.put_object, "SignatureDoesNotMatch", 403, Bucket=bucket, Key="k", Body=b"x")
    expect_error(bad.get_object, "SignatureDoesNotMatch", 403, Bucket=bucket, Key="k")


def test_unknown_access_key(server, bucket):
    bad = make_s3_client(server.endpoint, access_key="AKIDOESNOTEXIST00000")
    expect_error(bad.list_buckets, "InvalidAccessKeyId", 403)
    expect_error(bad.get_object, "InvalidAccessKeyId", 403, Bucket=bucket, Key="k")


def test_anonymous_request_denied(server, bucket):
    from botocore import UNSIGNED

    anon = make_s3_client(server.endpoint, signature_version=UNSIGNED)
    expect_error(anon.list_objects_v2, "AccessDenied", 403, Bucket=bucket)


# --------------------------------------------------------------------------
# awkward keys
# --------------------------------------------------------------------------

SPECIAL_KEYS = [
    "spaces in the name.txt",
    "plus+sign+key",
    "percent%20literal%2F",
    "question?mark",
    "hash#tag",
    "ampersand&equals=sign",
    "unicode/\u65e5\u672c\u8a9e/\u30d5\u30a1\u30a4\u30eb.txt",
    "accents/\u00f1and\u00fa-\u00fcber",
    "emoji-\U0001F600-\U0001F680",
    "dir/sub dir/file (1).txt",
    "quotes'single\"double",
    "semi;colon,comma:colon",
    "tilde~star*bang!at@dollar$",
    "brackets[x]{y}<z>",
    "back\\slash",
    "a/b//double-slash",
    "trailing space ",
    "caret^pipe|backtick`",
]


def test_special_character_keys_roundtrip(server, s3, bucket):
    for key in SPECIAL_KEYS:
        body = ("body of " + key).encode()
        put = s3.put_object(Bucket=bucket, Key=key, Body=body, Metadata={"k": "v"})
        assert put["ETag"] == quoted_md5(body), key
    for key in SPECIAL_KEYS:
        body = ("body of " + key).encode()
        assert get_bytes(s3, bucket, key) == body, f"GET returned wrong bytes for key {key!r}"
        assert s3.head_object(Bucket=bucket, Key=key)["ContentLength"] == len(body), key

    v2 = [o["Key"] for p in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket) for o in p.get("Contents", [])]
    assert sorted(v2) == sorted(SPECIAL_KEYS)
    assert v2 == sorted(SPECIAL_KEYS, key=lambda k: k.encode("utf-8")), "listing must be in UTF-8 byte order"
    v1 = [o["Key"] for p in s3.get_paginator("list_objects").paginate(Bucket=bucket) for o in p.get("Contents", [])]
    assert sorted(v1) == sorted(SPECIAL_KEYS)
    versions = [v["Key"] for v in s3.list_object_versions(Bucket=bucket).get("Versions", [])]
    assert sorted(versions) == sorted(SPECIAL_KEYS)

    # Copy between awkward names (x-amz-copy-source is URL-encoded by boto3).
    for i, key in enumerate(SPECIAL_KEYS[:8]):
        s3.copy_object(Bucket=bucket, Key=f"copies/{i}/{key}", CopySource={"Bucket": bucket, "Key": key})
        assert get_bytes(s3, bucket, f"copies/{i}/{key}") == ("body of " + key).encode()

    # Presigned GET of an awkward key.
    url = s3.generate_presigned_url("get_object", Params={"Bucket": bucket, "Key": SPECIAL_KEYS[6]}, ExpiresIn=60)
    with urlopen(url) as r:
        assert r.read() == ("body of " + SPECIAL_KEYS[6]).encode()

    resp = s3.delete_objects(Bucket=bucket, Delete={"Objects": [{"Key": k} for k in SPECIAL_KEYS]})
    assert sorted(d["Key"] for d in resp["Deleted"]) == sorted(SPECIAL_KEYS)
    assert not resp.get("Errors")
    remaining = [o["Key"] for o in s3.list_objects_v2(Bucket=bucket).get("Contents", [])]
    assert all(k.startswith("copies/") for k in remaining), remaining


def test_prefix_listing_with_special_characters(server, s3, bucket):
    keys = ["p q/1", "p q/2", "p+q/3", "p%q/4", "p\u00e9/5"]
    for k in keys:
        s3.put_object(Bucket=bucket, Key=k, Body=b"x")
    for prefix in ["p q/", "p+q/", "p%q/", "p\u00e9/"]:
        got = [o["Key"] for o in s3.list_objects_v2(Bucket=bucket, Prefix=prefix)["Contents"]]
        assert got == [k for k in keys if k.startswith(prefix)], prefix
    top = s3.list_objects_v2(Bucket=bucket, Delimiter="/")
    assert sorted(p["Prefix"] for p in top["CommonPrefixes"]) == sorted(["p q/", "p+q/", "p%q/", "p\u00e9/"])


# --------------------------------------------------------------------------
# limits, concurrency and other S3 behaviours clients rely on
# --------------------------------------------------------------------------

def test_listing_caps_at_1000_keys(server, s3, bucket):
    from concurrent.futures import ThreadPoolExecutor

    keys = [f"many/{i:04d}" for i in range(1005)]
    with ThreadPoolExecutor(8) as pool:
        list(pool.map(lambda k: s3.put_object(Bucket=bucket, Key=k, Body=b""), keys))
    v2 = s3.list_objects_v2(Bucket=bucket)
    assert v2["KeyCount"] == 1000 and v2["IsTruncated"] is True and v2["MaxKeys"] == 1000
    rest = s3.list_objects_v2(Bucket=bucket, ContinuationToken=v2["NextContinuationToken"])
    assert [o["Key"] for o in rest["Contents"]] == keys[1000:]
    big = s3.list_objects_v2(Bucket=bucket, MaxKeys=5000)
    assert big["KeyCount"] == 1000 and big["IsTruncated"] is True
    v1 = s3.list_objects(Bucket=bucket)
    assert len(v1["Contents"]) == 1000 and v1["IsTruncated"] is True
    versions = s3.list_object_versions(Bucket=bucket)
    assert len(versions["Versions"]) == 1000 and versions["IsTruncated"] is True
    everything = [o["Key"] for p in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket) for o in p["Contents"]]
    assert everything == keys


def test_list_object_versions_pagination(server, s3, bucket):
    keys = [f"ver/{i}" for i in range(7)]
    for k in keys:
        s3.put_object(Bucket=bucket, Key=k, Body=k.encode())
    pages = list(s3.get_paginator("list_object_versions").paginate(
        Bucket=bucket, PaginationConfig={"PageSize": 3}))
    seen = [(v["Key"], v["VersionId"]) for p in pages for v in p.get("Versions", [])]
    assert seen == [(k, "null") for k in keys]
    assert len(pages) == 3


def test_head_object_with_range(server, s3, bucket):
    s3.put_object(Bucket=bucket, Key="hr", Body=RANGE_DATA)
    head = s3.head_object(Bucket=bucket, Key="hr", Range="bytes=0-9")
    assert status(head) == 206
    assert head["ContentLength"] == 10
    assert head["ContentRange"] == f"bytes 0-9/{N}"


def test_listing_lastmodified_matches_head(server, s3, bucket):
    s3.put_object(Bucket=bucket, Key="lm", Body=b"x")
    listed = s3.list_objects_v2(Bucket=bucket)["Contents"][0]["LastModified"]
    head = s3.head_object(Bucket=bucket, Key="lm")["LastModified"]
    assert listed.replace(microsecond=0) == head, (listed, head)


def test_key_length_limit(server, s3, bucket):
    ok = "k" * 1024
    s3.put_object(Bucket=bucket, Key=ok, Body=b"1024-byte key")
    assert get_bytes(s3, bucket, ok) == b"1024-byte key"
    expect_error(s3.put_object, "KeyTooLongError", 400, Bucket=bucket, Key="k" * 1025, Body=b"x")


def test_user_metadata_size_limit(server, s3, bucket):
    s3.put_object(Bucket=bucket, Key="meta-ok", Body=b"x", Metadata={"a": "v" * 1500})
    assert s3.head_object(Bucket=bucket, Key="meta-ok")["Metadata"] == {"a": "v" * 1500}
    expect_error(s3.put_object, "MetadataTooLarge", 400, Bucket=bucket, Key="meta-big", Body=b"x",
                 Metadata={"a": "v" * 1500, "b": "w" * 1500})


def test_concurrent_puts_same_key(server, s3, bucket):
    from concurrent.futures import ThreadPoolExecutor

    bodies = [random_bytes(256 * 1024 + i, seed=100 + i) for i in range(8)]
    with ThreadPoolExecutor(8) as pool:
        list(pool.map(lambda b: s3.put_object(Bucket=bucket, Key="race", Body=b), bodies))
    get = s3.get_object(Bucket=bucket, Key="race")
    body = get["Body"].read()
    assert body in bodies, "concurrent PUTs must leave exactly one complete body"
    assert get["ETag"] == quoted_md5(body)
    assert get["ContentLength"] == len(body)


def test_recreate_deleted_bucket(server, s3, bucket_name):
    s3.create_bucket(Bucket=bucket_name)
    s3.put_object(Bucket=bucket_name, Key="old", Body=b"old")
    s3.delete_object(Bucket=bucket_name, Key="old")
    s3.delete_bucket(Bucket=bucket_name)
    s3.create_bucket(Bucket=bucket_name)
    try:
        assert s3.list_objects_v2(Bucket=bucket_name)["KeyCount"] == 0
        expect_error(s3.get_object, "NoSuchKey", 404, Bucket=bucket_name, Key="old")
    finally:
        s3.delete_bucket(Bucket=bucket_name)


def test_empty_put_then_put_same_connection(server, s3, bucket):
    """put_object(Body=b"") followed by another put_object on the same client.

    botocore sends `Expect: 100-continue` on every PutObject, even with an
    empty body.  If the server answers such a request with its final response
    and no interim `100 Continue` (legal per RFC 9110, and what hyper does for
    Content-Length: 0), botocore keeps that status line cached on the pooled
    keep-alive connection and the *next* Expect request on it never completes
    (boto/botocore#3755: a 60 s stall, then a silent retry).  AWS S3 does not
    trigger this, so an S3-compatible server has to avoid it too, e.g. by
    sending `Connection: close` on responses to Expect requests whose body it
    did not read, or by always sending `100 Continue`.
    """
    quick = make_s3_client(server.endpoint, read_timeout=10, max_pool_connections=1)
    quick.put_object(Bucket=bucket, Key="folder-marker/", Body=b"")
    quick.put_object(Bucket=bucket, Key="after-empty", Body=b"x" * 1000)
    assert get_bytes(quick, bucket, "after-empty") == b"x" * 1000


def test_file_and_directory_like_keys_coexist(server, s3, bucket):
    """'dir', 'dir/' and 'dir/x' are three independent keys in S3."""
    s3.put_object(Bucket=bucket, Key="dir", Body=b"file called dir")
    s3.put_object(Bucket=bucket, Key="dir/", Body=b"marker")
    s3.put_object(Bucket=bucket, Key="dir/x", Body=b"inside")
    s3.put_object(Bucket=bucket, Key="dir/x/y", Body=b"deeper")
    assert get_bytes(s3, bucket, "dir") == b"file called dir"
    assert get_bytes(s3, bucket, "dir/") == b"marker"
    assert get_bytes(s3, bucket, "dir/x") == b"inside"
    assert get_bytes(s3, bucket, "dir/x/y") == b"deeper"
    top = s3.list_objects_v2(Bucket=bucket, Delimiter="/")
    assert [o["Key"] for o in top["Contents"]] == ["dir"]
    assert [p["Prefix"] for p in top["CommonPrefixes"]] == ["dir/"]
    inner = s3.list_objects_v2(Bucket=bucket, Prefix="dir/", Delimiter="/")
    assert [o["Key"] for o in inner["Contents"]] == ["dir/", "dir/x"]
    assert [p["Prefix"] for p in inner["CommonPrefixes"]] == ["dir/x/"]
    s3.delete_object(Bucket=bucket, Key="dir/x")
    assert get_bytes(s3, bucket, "dir/x/y") == b"deeper"
    assert get_bytes(s3, bucket, "dir") == b"file called dir"


def test_readers_never_see_partial_overwrites(server, s3, bucket):
    from concurrent.futures import ThreadPoolExecutor

    a = random_bytes(1024 * 1024, seed=201)
    b = random_bytes(1024 * 1024 + 1, seed=202)
    s3.put_object(Bucket=bucket, Key="flip", Body=a)
    etags = {quoted_md5(a): a, quoted_md5(b): b}

    def writer():
        for i in range(12):
            s3.put_object(Bucket=bucket, Key="flip", Body=b if i % 2 == 0 else a)

    def reader(_):
        bad = []
        for _ in range(12):
            got = s3.get_object(Bucket=bucket, Key="flip")
            body = got["Body"].read()
            if etags.get(got["ETag"]) != body or got["ContentLength"] != len(body):
                bad.append((got["ETag"], len(body)))
        return bad

    with ThreadPoolExecutor(5) as pool:
        w = pool.submit(writer)
        results = list(pool.map(reader, range(4)))
        w.result()
    problems = [p for r in results for p in r]
    assert not problems, f"GET returned a body that does not match its ETag/length: {problems[:5]}"


def test_expected_bucket_owner_is_honored(server, s3, bucket):
    """x-amz-expected-bucket-owner: a request naming another account as the
    bucket's owner is refused before it touches anything."""
    owner = s3.list_buckets()["Owner"]["ID"]
    upload = s3.create_multipart_upload(Bucket=bucket, Key="k")["UploadId"]
    with pytest.raises(ClientError) as refused:
        s3.abort_multipart_upload(Bucket=bucket, Key="k", UploadId=upload, ExpectedBucketOwner="111122223333")
    assert refused.value.response["Error"]["Code"] == "AccessDenied"
    assert refused.value.response["ResponseMetadata"]["HTTPStatusCode"] == 403
    assert s3.list_parts(Bucket=bucket, Key="k", UploadId=upload)["UploadId"] == upload
    s3.abort_multipart_upload(Bucket=bucket, Key="k", UploadId=upload, ExpectedBucketOwner=owner)
    with pytest.raises(ClientError) as gone:
        s3.abort_multipart_upload(Bucket=bucket, Key="k", UploadId=upload)
    assert gone.value.response["Error"]["Code"] == "NoSuchUpload"
    assert gone.value.response["ResponseMetadata"]["HTTPStatusCode"] == 404
