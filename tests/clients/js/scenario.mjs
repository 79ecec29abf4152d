// The AWS SDK for JavaScript v3 against a running Coffer server: the calls a
// Node application makes, each checked on the bytes or keys that come back.
//
//   node scenario.mjs --endpoint http://127.0.0.1:9000 --bucket NAME \
//       [--access-key KEY] [--secret-key SECRET]
//
// Every option falls back to an environment variable (COFFER_ENDPOINT,
// COFFER_BUCKET, COFFER_ACCESS_KEY, COFFER_SECRET_KEY), so keys need not show
// up in a process listing.  The bucket must not exist yet; the scenario
// creates it and removes it again.  Prints one "ok" line per step; on the
// first failure prints "FAIL <step>: <why>" to stderr and exits 1.

import { createHash, randomBytes } from "node:crypto";
import { parseArgs } from "node:util";

import {
  CreateBucketCommand,
  DeleteBucketCommand,
  DeleteObjectsCommand,
  GetObjectCommand,
  HeadObjectCommand,
  ListObjectsV2Command,
  PutObjectCommand,
  S3Client,
} from "@aws-sdk/client-s3";
import { Upload } from "@aws-sdk/lib-storage";
import { getSignedUrl } from "@aws-sdk/s3-request-presigner";

const MiB = 1024 * 1024;

class Mismatch extends Error {}

function check(cond, why) {
  if (!cond) throw new Mismatch(why);
}

function sha256(bytes) {
  return createHash("sha256").update(bytes).digest("hex");
}

function md5(bytes) {
  return createHash("md5").update(bytes).digest("hex");
}

function sameBytes(got, want, what) {
  check(got.length === want.length, `${what}: got ${got.length} bytes, expected ${want.length}`);
  check(sha256(got) === sha256(want), `${what}: sha256 ${sha256(got)} differs from the uploaded ${sha256(want)}`);
}

function config() {
  const { values } = parseArgs({
    options: {
      endpoint: { type: "string" },
      bucket: { type: "string" },
      "access-key": { type: "string" },
      "secret-key": { type: "string" },
    },
  });
  const cfg = {
    endpoint: values.endpoint ?? process.env.COFFER_ENDPOINT,
    bucket: values.bucket ?? process.env.COFFER_BUCKET,
    accessKey: values["access-key"] ?? process.env.COFFER_ACCESS_KEY,
    secretKey: values["secret-key"] ?? process.env.COFFER_SECRET_KEY,
  };
  const missing = Object.entries(cfg).filter(([, v]) => !v).map(([k]) => k);
  if (missing.length) {
    console.error(`usage: node scenario.mjs --endpoint URL --bucket NAME [--access-key K] [--secret-key S]; missing: ${missing.join(", ")}`);
    process.exit(2);
  }
  return cfg;
}

async function getBytes(s3, Bucket, Key) {
  const resp = await s3.send(new GetObjectCommand({ Bucket, Key }));
  return Buffer.from(await resp.Body.transformToByteArray());
}

async function listAll(s3, Bucket, Prefix, MaxKeys) {
  const pages = [];
  let ContinuationToken;
  do {
    const page = await s3.send(new ListObjectsV2Command({ Bucket, Prefix, MaxKeys, ContinuationToken }));
    pages.push(page);
    ContinuationToken = page.NextContinuationToken;
    check(pages.length <= 100, "ListObjectsV2 never stopped returning continuation tokens");
  } while (ContinuationToken);
  return pages;
}

const steps = [];
function step(name, fn) {
  steps.push([name, fn]);
}

const cfg = config();
const Bucket = cfg.bucket;
const s3 = new S3Client({
  endpoint: cfg.endpoint,
  region: "us-east-1",
  forcePathStyle: true,
  credentials: { accessKeyId: cfg.accessKey, secretAccessKey: cfg.secretKey },
  // A failure must surface here, not be retried into a pass or a hang.
  maxAttempts: 1,
  requestHandler: { connectionTimeout: 10_000, requestTimeout: 60_000 },
});

const small = randomBytes(100_003);
const big = randomBytes(12 * MiB + 7);
const pageKeys = Array.from({ length: 7 }, (_, i) => `page/key-${String(i).padStart(2, "0")}`);

step("CreateBucket", async () => {
  await s3.send(new CreateBucketCommand({ Bucket }));
});

step("PutObject/GetObject", async () => {
  const put = await s3.send(new PutObjectCommand({
    Bucket, Key: "small.bin", Body: small, ContentType: "application/x-js-sdk", Metadata: { origin: "js-sdk-v3" },
  }));
  check(put.ETag === `"${md5(small)}"`, `PutObject ETag ${put.ETag}, expected "${md5(small)}"`);
  const got = await s3.send(new GetObjectCommand({ Bucket, Key: "small.bin" }));
  check(got.ContentType === "application/x-js-sdk", `GetObject ContentType ${got.ContentType}`);
  check(got.Metadata?.origin === "js-sdk-v3", `GetObject Metadata ${JSON.stringify(got.Metadata)}`);
  sameBytes(Buffer.from(await got.Body.transformToByteArray()), small, "GetObject small.bin");
});

step("lib-storage Upload (multipart)", async () => {
  const upload = new Upload({
    client: s3,
    params: { Bucket, Key: "big.bin", Body: big },
    partSize: 5 * MiB,
    queueSize: 2,
    leavePartsOnError: false,
  });
  await upload.done();
  const head = await s3.send(new HeadObjectCommand({ Bucket, Key: "big.bin" }));
  check(head.ContentLength === big.length, `HeadObject ContentLength ${head.ContentLength}, expected ${big.length}`);
  // Three parts (5 + 5 + 2 MiB): a multipart ETag ends in -3.
  check(/-3"$/.test(head.ETag ?? ""), `HeadObject ETag ${head.ETag} is not a 3-part multipart ETag`);
  sameBytes(await getBytes(s3, Bucket, "big.bin"), big, "GetObject big.bin");
});

step("ListObjectsV2 pagination", async () => {
  for (const Key of pageKeys) {
    await s3.send(new PutObjectCommand({ Bucket, Key, Body: Key }));
  }
  const pages = await listAll(s3, Bucket, "page/", 3);
  const sizes = pages.map((p) => p.KeyCount);
  check(JSON.stringify(sizes) === "[3,3,1]", `page KeyCounts ${JSON.stringify(sizes)}, expected [3,3,1]`);
  const truncated = pages.map((p) => p.IsTruncated);
  check(JSON.stringify(truncated) === "[true,true,false]", `IsTruncated per page ${JSON.stringify(truncated)}`);
  const keys = pages.flatMap((p) => (p.Contents ?? []).map((o) => o.Key));
  check(JSON.stringify(keys) === JSON.stringify(pageKeys), `listed ${JSON.stringify(keys)}, expected ${JSON.stringify(pageKeys)}`);
  const first = pages[0].Contents[0];
  check(first.Size === pageKeys[0].length, `listed Size ${first.Size} for ${first.Key}`);
});

step("presigned GET via fetch", async () => {
  const url = await getSignedUrl(s3, new GetObjectCommand({ Bucket, Key: "big.bin" }), { expiresIn: 300 });
  check(url.includes("X-Amz-Signature="), `presigned URL carries no signature: ${url}`);
  const resp = await fetch(url);
  const body = Buffer.from(await resp.arrayBuffer());
  check(resp.status === 200, `fetch of the presigned URL answered ${resp.status}: ${body.toString().slice(0, 500)}`);
  sameBytes(body, big, "presigned GET big.bin");
});

step("GetObject of a missing key", async () => {
  try {
    await s3.send(new GetObjectCommand({ Bucket, Key: "no/such/key" }));
  } catch (e) {
    check(e.name === "NoSuchKey", `missing key raised ${e.name} (${e.message}), expected NoSuchKey`);
    check(e.$metadata?.httpStatusCode === 404, `missing key answered HTTP ${e.$metadata?.httpStatusCode}`);
    return;
  }
  throw new Mismatch("GetObject of a missing key succeeded");
});

step("DeleteObjects", async () => {
  const all = ["small.bin", "big.bin", ...pageKeys];
  const res = await s3.send(new DeleteObjectsCommand({ Bucket, Delete: { Objects: all.map((Key) => ({ Key })) } }));
  check(!res.Errors?.length, `DeleteObjects errors: ${JSON.stringify(res.Errors)}`);
  const deleted = (res.Deleted ?? []).map((d) => d.Key).sort();
  check(JSON.stringify(deleted) === JSON.stringify([...all].sort()), `DeleteObjects deleted ${JSON.stringify(deleted)}`);
  const left = await s3.send(new ListObjectsV2Command({ Bucket }));
  check(left.KeyCount === 0, `bucket still lists ${left.KeyCount} keys after DeleteObjects`);
  await s3.send(new DeleteBucketCommand({ Bucket }));
});

for (const [name, fn] of steps) {
  try {
    await fn();
  } catch (e) {
    const why = e instanceof Mismatch ? e.message : `${e.name}: ${e.message}${e.$metadata ? ` (HTTP ${e.$metadata.httpStatusCode})` : ""}`;
    console.error(`FAIL ${name}: ${why}`);
    process.exit(1);
  }
  console.log(`ok ${name}`);
}
console.log(`all ${steps.length} steps passed`);
