"""Hand-built SigV4 requests over http.client, for the forms the SDK clients
above do not send over plain HTTP: UNSIGNED-PAYLOAD, aws-chunked signed
streaming (STREAMING-AWS4-HMAC-SHA256-PAYLOAD[-TRAILER]) and unsigned
streaming with a checksum trailer (STREAMING-UNSIGNED-PAYLOAD-TRAILER), plus
the exact shape of error responses.

Formats follow the AWS docs "sigv4-streaming" and "sigv4-streaming-trailers".
Needs only the standard library (boto3 is used just to create/clean buckets).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import http.client
import urllib.parse
import xml.etree.ElementTree as ET

import pytest

from clientutil import ACCESS_KEY, REGION, SECRET_KEY, checksum_b64, random_bytes

EMPTY_SHA256 = hashlib.sha256(b"").hexdigest()
CHUNK = 64 * 1024


def _hmac(key: bytes, msg: str) -> bytes:
    return hmac.new(key, msg.encode(), hashlib.sha256).digest()


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def enc(s: str, slash: bool = True) -> str:
    return urllib.parse.quote(s, safe="-_.~" if slash else "-_.~/")


class Signer:
    def __init__(self, server=None, access_key=ACCESS_KEY, secret_key=SECRET_KEY, region=REGION, host=None):
        self.host = host or server.hostport
        self.access_key = access_key
        self.secret_key = secret_key
        self.region = region

    def key(self, date: str) -> bytes:
        k = _hmac(("AWS4" + self.secret_key).encode(), date)
        k = _hmac(k, self.region)
        k = _hmac(k, "s3")
        return _hmac(k, "aws4_request")

    def sign(self, method, path, query, headers, payload_hash, when=None):
        """Add x-amz-date/x-amz-content-sha256/host/Authorization to `headers`.

        Returns (request_target, headers, seed_signature, amz_date, scope, signing_key)."""
        when = when or dt.datetime.now(dt.timezone.utc)
        amz_date = when.strftime("%Y%m%dT%H%M%SZ")
        date = amz_date[:8]
        scope = f"{date}/{self.region}/s3/aws4_request"
        headers = {k.lower(): str(v) for k, v in headers.items()}
        headers["host"] = self.host
        headers["x-amz-date"] = amz_date
        headers["x-amz-content-sha256"] = payload_hash
        canon_uri = enc(path, slash=False)
        pairs = sorted((enc(k), enc(v)) for k, v in (query or []))
        canon_query = "&".join(f"{k}={v}" for k, v in pairs)
        names = sorted(headers)
        canon_headers = "".join(f"{n}:{' '.join(headers[n].strip().split())}\n" for n in names)
        signed = ";".join(names)
        creq = "\n".join([method, canon_uri, canon_query, canon_headers, signed, payload_hash])
        sts = "\n".join(["AWS4-HMAC-SHA256", amz_date, scope, sha256_hex(creq.encode())])
        skey = self.key(date)
        sig = hmac.new(skey, sts.encode(), hashlib.sha256).hexdigest()
        headers["authorization"] = (
            f"AWS4-HMAC-SHA256 Credential={self.access_key}/{scope}, SignedHeaders={signed}, Signature={sig}"
        )
        target = canon_uri + (f"?{canon_query}" if canon_query else "")
        return target, headers, sig, amz_date, scope, skey


class Resp:
    def __init__(self, status, headers, body):
        self.status = status
        self.headers = headers
        self.body = body

    def header(self, name):
        return self.headers.get(name.lower())

    def error(self) -> dict:
        root = ET.fromstring(self.body)
        assert root.tag.split("}")[-1] == "Error", self.body
        return {c.tag.split("}")[-1]: (c.text or "") for c in root}


def send(server, method, target, headers, body: bytes = b"") -> Resp:
    conn = http.client.HTTPConnection(server.host, server.port, timeout=60)
    try:
        conn.putrequest(method, target, skip_host=True, skip_accept_encoding=True)
        hdrs = dict(headers)
        if body or method in ("PUT", "POST"):
            hdrs.setdefault("content-length", str(len(body)))
        for k, v in hdrs.items():
            conn.putheader(k, v)
        conn.endheaders()
        if body:
            conn.send(body)
        r = conn.getresponse()
        data = r.read()
        return Resp(r.status, {k.lower(): v for k, v in r.getheaders()}, data)
    finally:
        conn.close()


def request(server, method, path, *, query=None, headers=None, body=b"", payload_hash=None, signer=None, when=None):
    signer = signer or Signer(server)
    ph = payload_hash if payload_hash is not None else sha256_hex(body)
    h = dict(headers or {})
    if method in ("PUT", "POST"):
        h["content-length"] = str(len(body))
    target, h, *_ = signer.sign(method, path, query, h, ph, when)
    return send(server, method, target, h, body)


def assert_error(resp: Resp, status: int, code: str) -> dict:
    assert resp.status == status, f"expected HTTP {status} {code}, got {resp.status}: {resp.body[:500]!r}"
    fields = resp.error()
    assert fields.get("Code") == code, f"expected {code}, got {fields}"
    assert fields.get("Message"), f"no Message in error: {resp.body!r}"
    assert fields.get("RequestId"), f"no RequestId in error XML: {resp.body!r}"
    assert resp.header("x-amz-request-id") == fields["RequestId"], (
        f"x-amz-request-id header {resp.header('x-amz-request-id')!r} != XML RequestId {fields['RequestId']!r}"
    )
    return fields


# --------------------------------------------------------------------------
# aws-chunked encoders
# --------------------------------------------------------------------------

def chunks_of(data: bytes, size: int = CHUNK):
    return [data[i : i + size] for i in range(0, len(data), size)]


def signed_chunked_body(data, seed_sig, amz_date, scope, skey, trailer=None, corrupt_chunk=None):
    """STREAMING-AWS4-HMAC-SHA256-PAYLOAD[-TRAILER] body."""
    out = bytearray()
    prev = seed_sig
    for i, chunk in enumerate(chunks_of(data) + [b""]):
        sts = "\n".join(["AWS4-HMAC-SHA256-PAYLOAD", amz_date, scope, prev, EMPTY_SHA256, sha256_hex(chunk)])
        sig = hmac.new(skey, sts.encode(), hashlib.sha256).hexdigest()
        prev = sig
        if corrupt_chunk == i:
            sig = "0" * 64
        out += f"{len(chunk):x};chunk-signature={sig}\r\n".encode()
        if chunk:
            out += chunk + b"\r\n"
    if trailer is None:
        out += b"\r\n"
    else:
        name, value = trailer
        canonical = f"{name}:{value}\n"
        sts = "\n".join(["AWS4-HMAC-SHA256-TRAILER", amz_date, scope, prev, sha256_hex(canonical.encode())])
        tsig = hmac.new(skey, sts.encode(), hashlib.sha256).hexdigest()
        out += f"{name}:{value}\r\n".encode()
        out += f"x-amz-trailer-signature:{tsig}\r\n".encode()
        out += b"\r\n"
    return bytes(out)


def unsigned_trailer_body(data, name, value):
    """STREAMING-UNSIGNED-PAYLOAD-TRAILER body (what botocore sends over TLS)."""
    out = bytearray()
    for chunk in chunks_of(data):
        out += f"{len(chunk):x}\r\n".encode() + chunk + b"\r\n"
    out += b"0\r\n"
    out += f"{name}:{value}\r\n".encode()
    out += b"\r\n"
    return bytes(out)


def put_signed_chunked(server, path, data, *, trailer_alg=None, trailer_value=None, corrupt_chunk=None,
                       content_encoding="aws-chunked"):
    signer = Signer(server)
    headers = {
        "content-encoding": content_encoding,
        "x-amz-decoded-content-length": str(len(data)),
    }
    mode = "STREAMING-AWS4-HMAC-SHA256-PAYLOAD"
    trailer = None
    if trailer_alg:
        mode += "-TRAILER"
        name = f"x-amz-checksum-{trailer_alg.lower()}"
        headers["x-amz-trailer"] = name
        trailer = (name, trailer_value or checksum_b64(trailer_alg, data))
    # The encoded length must be known before signing: build once with a dummy
    # seed to measure (signature lengths are fixed), then for real.
    probe = signed_chunked_body(data, "0" * 64, "20000101T000000Z", "x", b"k", trailer)
    headers["content-length"] = str(len(probe))
    target, h, seed, amz_date, scope, skey = signer.sign("PUT", path, None, headers, mode)
    body = signed_chunked_body(data, seed, amz_date, scope, skey, trailer, corrupt_chunk)
    assert len(body) == len(probe)
    return send(server, "PUT", target, h, body)


def put_unsigned_trailer(server, path, data, alg, value=None):
    name = f"x-amz-checksum-{alg.lower()}"
    body = unsigned_trailer_body(data, name, value or checksum_b64(alg, data))
    headers = {
        "content-encoding": "aws-chunked",
        "x-amz-decoded-content-length": str(len(data)),
        "x-amz-trailer": name,
        "content-length": str(len(body)),
    }
    target, h, *_ = Signer(server).sign("PUT", path, None, headers, "STREAMING-UNSIGNED-PAYLOAD-TRAILER")
    return send(server, "PUT", target, h, body)


def get(server, path, **headers) -> Resp:
    return request(server, "GET", path, headers=headers)


# --------------------------------------------------------------------------
# tests
# --------------------------------------------------------------------------

def test_signer_matches_aws_documented_vectors():
    """The signer/encoder in this file reproduces the AWS documentation
    examples (sigv4-streaming and sigv4-streaming-trailers), so a failure
    against Coffer below is the server's, not this file's."""
    doc = Signer(host="s3.amazonaws.com", access_key="AKIAIOSFODNN7EXAMPLE",
                 secret_key="wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY", region="us-east-1")
    when = dt.datetime(2013, 5, 24, tzinfo=dt.timezone.utc)
    data = b"a" * 66560
    _, _, seed, amz, scope, skey = doc.sign("PUT", "/examplebucket/chunkObject.txt", None, {
        "content-encoding": "aws-chunked", "content-length": "66824",
        "x-amz-decoded-content-length": "66560", "x-amz-storage-class": "REDUCED_REDUNDANCY",
    }, "STREAMING-AWS4-HMAC-SHA256-PAYLOAD", when)
    assert seed == "4f232c4386841ef735655705268965c44a0e4690baa4adea153f7db9fa80a0a9"
    body = signed_chunked_body(data, seed, amz, scope, skey)
    assert len(body) == 66824
    assert body.startswith(b"10000;chunk-signature=ad80c730a21e5b8d04586a2213dd63b9a0e99e0e2307b0ade35a65485a288648\r\n")
    assert b"\r\n400;chunk-signature=0055627c9e194cb4542bae2aa5492e3c1575bbb81b612b7d234b86a503ef5497\r\n" in body
    assert body.endswith(b"0;chunk-signature=b6c6ea8a5354eaf15b3cb7646744f4275b71ea724fed81ceb9323e279d449df9\r\n\r\n")

    _, _, seed, amz, scope, skey = doc.sign("PUT", "/examplebucket/chunkObject.txt", None, {
        "content-encoding": "aws-chunked", "x-amz-decoded-content-length": "66560",
        "x-amz-storage-class": "REDUCED_REDUNDANCY", "x-amz-trailer": "x-amz-checksum-crc32c",
    }, "STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER", when)
    assert seed == "106e2a8a18243abcf37539882f36619c00e2dfc72633413f02d3b74544bfeb8e"
    assert checksum_b64("CRC32C", data) == "sOO8/Q=="
    body = signed_chunked_body(data, seed, amz, scope, skey, ("x-amz-checksum-crc32c", "sOO8/Q=="))
    assert b"10000;chunk-signature=b474d8862b1487a5145d686f57f013e54db672cee1c953b3010fb58501ef5aa2\r\n" in body
    assert b"0;chunk-signature=2ca2aba2005185cf7159c6277faf83795951dd77a3a99e6e65d5c9f85863f992\r\n" in body
    assert body.endswith(b"x-amz-checksum-crc32c:sOO8/Q==\r\n"
                         b"x-amz-trailer-signature:d81f82fc3505edab99d459891051a732e8730629a2e4a59689829ca17fe2e435\r\n\r\n")


def test_header_auth_signed_payload(server, bucket):
    data = b"signed payload body"
    r = request(server, "PUT", f"/{bucket}/signed", body=data, headers={"content-type": "text/plain"})
    assert r.status == 200, r.body
    assert r.header("etag") == f'"{hashlib.md5(data).hexdigest()}"'
    assert r.header("x-amz-request-id"), "responses should carry x-amz-request-id"
    g = get(server, f"/{bucket}/signed")
    assert g.status == 200 and g.body == data
    assert g.header("content-type") == "text/plain"


def test_unsigned_payload(server, bucket):
    data = random_bytes(10_000, seed=51)
    r = request(server, "PUT", f"/{bucket}/unsigned", body=data, payload_hash="UNSIGNED-PAYLOAD")
    assert r.status == 200, r.body
    assert get(server, f"/{bucket}/unsigned").body == data


def test_content_sha256_mismatch(server, bucket):
    r = request(server, "PUT", f"/{bucket}/mismatch", body=b"actual body",
                payload_hash=sha256_hex(b"a different body"))
    assert_error(r, 400, "XAmzContentSHA256Mismatch")
    assert get(server, f"/{bucket}/mismatch").status == 404


def test_aws_chunked_signed(server, bucket):
    data = random_bytes(3 * CHUNK + 1234, seed=52)
    r = put_signed_chunked(server, f"/{bucket}/chunked", data)
    assert r.status == 200, r.body
    assert r.header("etag") == f'"{hashlib.md5(data).hexdigest()}"'
    g = get(server, f"/{bucket}/chunked")
    assert g.status == 200 and g.body == data
    assert g.header("content-length") == str(len(data))
    assert "aws-chunked" not in (g.header("content-encoding") or ""), "aws-chunked must not be stored"


def test_aws_chunked_bad_chunk_signature(server, bucket):
    data = random_bytes(2 * CHUNK + 10, seed=53)
    r = put_signed_chunked(server, f"/{bucket}/badchunk", data, corrupt_chunk=1)
    assert_error(r, 403, "SignatureDoesNotMatch")
    assert get(server, f"/{bucket}/badchunk").status == 404


def test_aws_chunked_keeps_other_content_encodings(server, bucket):
    """Content-Encoding: aws-chunked,gzip stores and returns just gzip."""
    data = random_bytes(CHUNK + 5, seed=58)
    r = put_signed_chunked(server, f"/{bucket}/gz", data, content_encoding="aws-chunked,gzip")
    assert r.status == 200, r.body
    g = get(server, f"/{bucket}/gz")
    assert g.body == data
    assert g.header("content-encoding") == "gzip", g.headers


def test_aws_chunked_empty_object(server, bucket):
    r = put_signed_chunked(server, f"/{bucket}/empty-chunked", b"")
    assert r.status == 200, r.body
    assert r.header("etag") == '"d41d8cd98f00b204e9800998ecf8427e"'
    g = get(server, f"/{bucket}/empty-chunked")
    assert g.status == 200 and g.body == b"" and g.header("content-length") == "0"


@pytest.mark.parametrize("alg", ["CRC32", "CRC32C", "CRC64NVME", "SHA1", "SHA256"])
def test_aws_chunked_signed_with_trailer(server, bucket, alg):
    data = random_bytes(2 * CHUNK + 99, seed=54)
    r = put_signed_chunked(server, f"/{bucket}/st-{alg}", data, trailer_alg=alg)
    assert r.status == 200, r.body
    g = get(server, f"/{bucket}/st-{alg}", **{"x-amz-checksum-mode": "ENABLED"})
    assert g.body == data
    assert "aws-chunked" not in (g.header("content-encoding") or ""), "aws-chunked must not be stored"
    assert g.header(f"x-amz-checksum-{alg.lower()}") == checksum_b64(alg, data), g.headers


@pytest.mark.parametrize("alg", ["CRC32", "CRC32C", "CRC64NVME", "SHA1", "SHA256"])
def test_unsigned_payload_with_trailer(server, bucket, alg):
    data = random_bytes(CHUNK + 4321, seed=55)
    r = put_unsigned_trailer(server, f"/{bucket}/ut-{alg}", data, alg)
    assert r.status == 200, r.body
    assert r.header(f"x-amz-checksum-{alg.lower()}") == checksum_b64(alg, data), r.headers
    g = get(server, f"/{bucket}/ut-{alg}", **{"x-amz-checksum-mode": "ENABLED"})
    assert g.body == data
    assert "aws-chunked" not in (g.header("content-encoding") or ""), "aws-chunked must not be stored"
    assert g.header(f"x-amz-checksum-{alg.lower()}") == checksum_b64(alg, data), g.headers
    h = request(server, "HEAD", f"/{bucket}/ut-{alg}", headers={"x-amz-checksum-mode": "ENABLED"})
    assert h.header(f"x-amz-checksum-{alg.lower()}") == checksum_b64(alg, data), h.headers


def test_unsigned_trailer_wrong_checksum(server, bucket):
    data = random_bytes(5000, seed=56)
    r = put_unsigned_trailer(server, f"/{bucket}/ut-bad", data, "CRC32", value=checksum_b64("CRC32", b"nope"))
    assert_error(r, 400, "BadDigest")
    assert get(server, f"/{bucket}/ut-bad").status == 404


def test_signed_trailer_wrong_checksum(server, bucket):
    data = random_bytes(5000, seed=57)
    r = put_signed_chunked(server, f"/{bucket}/st-bad", data, trailer_alg="SHA256",
                           trailer_value=checksum_b64("SHA256", b"nope"))
    assert_error(r, 400, "BadDigest")
    assert get(server, f"/{bucket}/st-bad").status == 404


def test_checksum_header_with_signed_payload(server, bucket):
    data = b"checksum in a plain header"
    value = checksum_b64("CRC64NVME", data)
    r = request(server, "PUT", f"/{bucket}/hdr", body=data, headers={"x-amz-checksum-crc64nvme": value})
    assert r.status == 200, r.body
    assert r.header("x-amz-checksum-crc64nvme") == value
    g = get(server, f"/{bucket}/hdr", **{"x-amz-checksum-mode": "ENABLED"})
    assert g.header("x-amz-checksum-crc64nvme") == value
    # Without checksum mode the checksum is not returned (S3 behaviour).
    assert get(server, f"/{bucket}/hdr").header("x-amz-checksum-crc64nvme") is None


def test_request_time_too_skewed(server, bucket):
    when = dt.datetime.now(dt.timezone.utc) - dt.timedelta(hours=1)
    r = request(server, "GET", f"/{bucket}", query=[("list-type", "2")], when=when)
    assert_error(r, 403, "RequestTimeTooSkewed")


def test_missing_authentication_is_access_denied(server, bucket):
    r = send(server, "GET", f"/{bucket}/anything", {"host": server.hostport})
    assert_error(r, 403, "AccessDenied")


def test_error_document_shape(server, bucket):
    r = get(server, f"/{bucket}/no/such/key")
    fields = assert_error(r, 404, "NoSuchKey")
    assert (r.header("content-type") or "").startswith("application/xml"), r.headers
    assert fields.get("Key") in (None, "no/such/key")
    assert r.body.lstrip().startswith(b"<?xml") or r.body.lstrip().startswith(b"<Error"), r.body[:100]


def test_query_string_auth_listing(server, bucket):
    """Header-signed request with a query string that needs encoding."""
    request(server, "PUT", f"/{bucket}/q dir/a+b", body=b"1")
    r = request(server, "GET", f"/{bucket}", query=[("list-type", "2"), ("prefix", "q dir/"), ("encoding-type", "url")])
    assert r.status == 200, r.body
    root = ET.fromstring(r.body)
    ns = root.tag.split("}")[0] + "}" if root.tag.startswith("{") else ""
    keys = [urllib.parse.unquote_plus(k.text) for k in root.iter(f"{ns}Key")]
    assert keys == ["q dir/a+b"], r.body


def test_wrong_region_in_credential_scope(server, bucket):
    """Clients (rclone, s3cmd, botocore's redirector) learn the region from this error."""
    signer = Signer(server, region="eu-west-1")
    r = request(server, "GET", f"/{bucket}", query=[("list-type", "2")], signer=signer)
    fields = assert_error(r, 400, "AuthorizationHeaderMalformed")
    assert fields.get("Region") in (None, REGION), fields


def test_invalid_list_arguments(server, bucket):
    r = request(server, "GET", f"/{bucket}", query=[("list-type", "2"), ("continuation-token", "garbage!!")])
    assert_error(r, 400, "InvalidArgument")
    r = request(server, "GET", f"/{bucket}", query=[("list-type", "2"), ("max-keys", "abc")])
    assert_error(r, 400, "InvalidArgument")
    r = request(server, "GET", f"/{bucket}", query=[("max-keys", "-1")])
    assert_error(r, 400, "InvalidArgument")


def test_delete_objects_malformed_xml(server, bucket):
    body = b"<Delete><Object><Key>a</Key></Object"
    r = request(server, "POST", f"/{bucket}", query=[("delete", "")], body=body,
                headers={"content-md5": __import__("clientutil").md5_b64(body)})
    assert_error(r, 400, "MalformedXML")
