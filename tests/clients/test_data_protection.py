"""boto3 and the aws CLI against versioning, object lock and encryption at
rest: what those clients send for them must work, and what comes back must
parse as they expect."""

from __future__ import annotations

import datetime as dt

import pytest

from clientutil import md5_b64, random_bytes, require_module

boto3 = require_module("boto3")
from botocore.exceptions import ClientError  # noqa: E402


def error_code(excinfo) -> str:
    return excinfo.value.response["Error"]["Code"]


def test_versions_markers_and_listing(s3, bucket):
    s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
    assert s3.get_bucket_versioning(Bucket=bucket)["Status"] == "Enabled"
    first = s3.put_object(Bucket=bucket, Key="k", Body=b"one")["VersionId"]
    second = s3.put_object(Bucket=bucket, Key="k", Body=b"two")["VersionId"]
    assert first != second
    assert s3.get_object(Bucket=bucket, Key="k", VersionId=first)["Body"].read() == b"one"

    marker = s3.delete_object(Bucket=bucket, Key="k")
    assert marker["DeleteMarker"] is True
    with pytest.raises(ClientError) as excinfo:
        s3.get_object(Bucket=bucket, Key="k")
    assert error_code(excinfo) == "NoSuchKey"
    assert excinfo.value.response["ResponseMetadata"]["HTTPHeaders"]["x-amz-delete-marker"] == "true"

    listing = s3.list_object_versions(Bucket=bucket)
    assert [v["VersionId"] for v in listing["Versions"]] == [second, first]
    assert [v["IsLatest"] for v in listing["Versions"]] == [False, False]
    assert listing["DeleteMarkers"][0]["VersionId"] == marker["VersionId"]
    assert listing["DeleteMarkers"][0]["IsLatest"] is True

    paginator = s3.get_paginator("list_object_versions")
    seen = []
    for page in paginator.paginate(Bucket=bucket, PaginationConfig={"PageSize": 1}):
        seen += [v["VersionId"] for v in page.get("Versions", []) + page.get("DeleteMarkers", [])]
    assert sorted(seen) == sorted([marker["VersionId"], second, first])

    s3.delete_object(Bucket=bucket, Key="k", VersionId=marker["VersionId"])
    assert s3.get_object(Bucket=bucket, Key="k")["Body"].read() == b"two"


def test_object_lock_refuses_removal(s3, bucket_name):
    s3.create_bucket(Bucket=bucket_name, ObjectLockEnabledForBucket=True)
    s3.put_object_lock_configuration(
        Bucket=bucket_name,
        ObjectLockConfiguration={
            "ObjectLockEnabled": "Enabled",
            "Rule": {"DefaultRetention": {"Mode": "GOVERNANCE", "Days": 1}},
        },
    )
    version = s3.put_object(Bucket=bucket_name, Key="k", Body=b"kept")["VersionId"]
    retention = s3.get_object_retention(Bucket=bucket_name, Key="k")["Retention"]
    assert retention["Mode"] == "GOVERNANCE"
    assert retention["RetainUntilDate"] > dt.datetime.now(dt.timezone.utc)
    with pytest.raises(ClientError) as excinfo:
        s3.delete_object(Bucket=bucket_name, Key="k", VersionId=version)
    assert error_code(excinfo) == "AccessDenied"
    s3.put_object_legal_hold(Bucket=bucket_name, Key="k", LegalHold={"Status": "ON"})
    assert s3.get_object_legal_hold(Bucket=bucket_name, Key="k")["LegalHold"]["Status"] == "ON"
    with pytest.raises(ClientError):
        s3.delete_object(Bucket=bucket_name, Key="k", VersionId=version, BypassGovernanceRetention=True)
    s3.put_object_legal_hold(Bucket=bucket_name, Key="k", LegalHold={"Status": "OFF"})
    s3.delete_object(Bucket=bucket_name, Key="k", VersionId=version, BypassGovernanceRetention=True)


def test_sse_c_and_sse_s3(s3, bucket):
    key = random_bytes(32, seed=5)
    body = random_bytes(200_000, seed=6)
    # boto3 base64-encodes the key and adds its MD5 itself.
    s3.put_object(Bucket=bucket, Key="c", Body=body, SSECustomerAlgorithm="AES256", SSECustomerKey=key)
    got = s3.get_object(Bucket=bucket, Key="c", SSECustomerAlgorithm="AES256", SSECustomerKey=key, Range="bytes=5-99999")
    assert got["Body"].read() == body[5:100000]
    assert got["SSECustomerKeyMD5"] == md5_b64(key)
    with pytest.raises(ClientError) as excinfo:
        s3.get_object(Bucket=bucket, Key="c", SSECustomerAlgorithm="AES256", SSECustomerKey=random_bytes(32, seed=7))
    assert excinfo.value.response["ResponseMetadata"]["HTTPStatusCode"] == 403

    put = s3.put_object(Bucket=bucket, Key="s", Body=body, ServerSideEncryption="AES256")
    assert put["ServerSideEncryption"] == "AES256"
    head = s3.head_object(Bucket=bucket, Key="s")
    assert head["ServerSideEncryption"] == "AES256"
    assert s3.get_object(Bucket=bucket, Key="s")["Body"].read() == body
