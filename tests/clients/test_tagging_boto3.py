"""boto3 against a real Coffer server: object tagging and GetObjectAttributes,
as botocore serializes and parses them.
"""

from __future__ import annotations

import hashlib

import pytest

from clientutil import MiB, checksum_b64, random_bytes, require_module

require_module("boto3")
from botocore.exceptions import ClientError  # noqa: E402


def test_object_tagging_round_trip(server, s3, bucket):
    s3.put_object(Bucket=bucket, Key="k", Body=b"tagged", Tagging="team=storage&tier=hot")
    assert s3.get_object_tagging(Bucket=bucket, Key="k")["TagSet"] == [
        {"Key": "team", "Value": "storage"},
        {"Key": "tier", "Value": "hot"},
    ]
    assert s3.get_object(Bucket=bucket, Key="k")["TagCount"] == 2

    tags = [{"Key": str(i), "Value": str(i)} for i in range(10)]
    s3.put_object_tagging(Bucket=bucket, Key="k", Tagging={"TagSet": tags})
    assert s3.get_object_tagging(Bucket=bucket, Key="k")["TagSet"] == tags

    with pytest.raises(ClientError) as err:
        s3.put_object_tagging(
            Bucket=bucket, Key="k", Tagging={"TagSet": tags + [{"Key": "10", "Value": "10"}]}
        )
    assert err.value.response["Error"]["Code"] == "BadRequest"
    assert err.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400

    resp = s3.delete_object_tagging(Bucket=bucket, Key="k")
    assert resp["ResponseMetadata"]["HTTPStatusCode"] == 204
    assert s3.get_object_tagging(Bucket=bucket, Key="k")["TagSet"] == []


def test_get_object_attributes(server, s3, bucket):
    body = random_bytes(1000)
    s3.put_object(Bucket=bucket, Key="single", Body=body, ChecksumAlgorithm="SHA256")
    attrs = s3.get_object_attributes(
        Bucket=bucket, Key="single", ObjectAttributes=["ETag", "Checksum", "ObjectSize", "StorageClass"]
    )
    assert attrs["ETag"] == hashlib.md5(body).hexdigest()
    assert attrs["ObjectSize"] == len(body)
    assert attrs["StorageClass"] == "STANDARD"
    assert attrs["Checksum"]["ChecksumSHA256"] == checksum_b64("sha256", body)
    assert "ObjectParts" not in attrs
    assert attrs["LastModified"] == s3.head_object(Bucket=bucket, Key="single")["LastModified"]

    parts = [random_bytes(5 * MiB, seed=1), random_bytes(5 * MiB, seed=2), random_bytes(100, seed=3)]
    upload = s3.create_multipart_upload(Bucket=bucket, Key="multi", ChecksumAlgorithm="SHA256")
    completed = []
    for number, part in enumerate(parts, start=1):
        resp = s3.upload_part(
            Bucket=bucket,
            Key="multi",
            UploadId=upload["UploadId"],
            PartNumber=number,
            Body=part,
            ChecksumAlgorithm="SHA256",
        )
        completed.append(
            {"PartNumber": number, "ETag": resp["ETag"], "ChecksumSHA256": resp["ChecksumSHA256"]}
        )
    s3.complete_multipart_upload(
        Bucket=bucket, Key="multi", UploadId=upload["UploadId"], MultipartUpload={"Parts": completed}
    )
    attrs = s3.get_object_attributes(
        Bucket=bucket, Key="multi", ObjectAttributes=["ObjectParts", "ObjectSize"], MaxParts=2
    )
    assert attrs["ObjectSize"] == sum(len(p) for p in parts)
    object_parts = attrs["ObjectParts"]
    assert object_parts["TotalPartsCount"] == 3
    assert object_parts["IsTruncated"] is True
    assert [(p["PartNumber"], p["Size"], p["ChecksumSHA256"]) for p in object_parts["Parts"]] == [
        (1, 5 * MiB, checksum_b64("sha256", parts[0])),
        (2, 5 * MiB, checksum_b64("sha256", parts[1])),
    ]
    rest = s3.get_object_attributes(
        Bucket=bucket,
        Key="multi",
        ObjectAttributes=["ObjectParts"],
        PartNumberMarker=int(object_parts["NextPartNumberMarker"]),
    )["ObjectParts"]
    assert [p["PartNumber"] for p in rest["Parts"]] == [3]
    assert rest["IsTruncated"] is False
