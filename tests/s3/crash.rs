//! Crash consistency under load: workers run a random mix of writes (PUT,
//! overwrite, DELETE, DeleteObjects, CopyObject, multipart complete and
//! abort, versioned writes and version removals) while the server is killed
//! with SIGKILL at random instants, again and again. After every restart the
//! store must hold exactly what was acknowledged, give or take the one
//! operation each worker had in flight: no lost or torn object, no
//! resurrected version, no listing entry without its data, no data file
//! without a record.
//!
//! `COFFER_CRASH_ROUNDS` sets the number of crashes (200 by default;
//! thousands for a long run) and `COFFER_CRASH_SEED` replays one run.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use aws_sdk_s3::Client;
use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{Delete, ObjectIdentifier};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use crate::common::*;
use crate::versioning::{all_versions, set_versioning};

const WORKERS: usize = 3;
const KEYS_PER_WORKER: usize = 2;
const BODY_BYTES_MAX: usize = 48 << 10;
/// Bodies up to this size are kept in the database, larger ones in files:
/// the workload writes both.
const INLINE_MAX_BYTES: usize = 16 << 10;

/// What a key of the unversioned bucket holds: the MD5 of its bytes, or
/// nothing.
type Content = Option<String>;

/// The model of what was acknowledged, kept by the workers as they go.
#[derive(Default)]
struct Model {
    /// Per key of the unversioned bucket, its acknowledged content.
    plain: BTreeMap<String, Content>,
    /// Per key of the unversioned bucket, content an unacknowledged write
    /// may have left.
    plain_maybe: BTreeMap<String, Vec<Content>>,
    /// Acknowledged versions of the versioned bucket: (key, version id) →
    /// MD5, or `None` for a delete marker.
    versions: BTreeMap<(String, String), Option<String>>,
    /// Versions whose removal was sent but not acknowledged.
    removing: BTreeSet<(String, String)>,
    /// Keys of the versioned bucket where an unacknowledged write may have
    /// added one version of unknown id.
    versions_maybe: BTreeSet<String>,
    /// Operations acknowledged over the whole run.
    acknowledged: u64,
}

fn key_of(worker: usize, index: usize) -> String {
    format!("w{worker}/k{index}")
}

fn body(rng: &mut StdRng) -> (Vec<u8>, String) {
    let len = if rng.random_bool(0.1) {
        0
    } else {
        rng.random_range(1..BODY_BYTES_MAX)
    };
    let body = pseudo_random_bytes(rng.random(), len);
    let md5 = md5_hex(&body);
    (body, md5)
}

/// One random operation of `worker` on its own keys; returns false once the
/// server is gone.
async fn step(
    client: &Client,
    plain: &str,
    versioned: &str,
    worker: usize,
    rng: &mut StdRng,
    model: &Mutex<Model>,
) -> bool {
    let done = operation(client, plain, versioned, worker, rng, model).await;
    if done {
        model.lock().unwrap().acknowledged += 1;
    }
    done
}

async fn operation(
    client: &Client,
    plain: &str,
    versioned: &str,
    worker: usize,
    rng: &mut StdRng,
    model: &Mutex<Model>,
) -> bool {
    let key = key_of(worker, rng.random_range(0..KEYS_PER_WORKER));
    let other = key_of(worker, rng.random_range(0..KEYS_PER_WORKER));
    match rng.random_range(0..9) {
        0..=2 => {
            let (bytes, md5) = body(rng);
            model
                .lock()
                .unwrap()
                .plain_maybe
                .entry(key.clone())
                .or_default()
                .push(Some(md5.clone()));
            let put = client
                .put_object()
                .bucket(plain)
                .key(&key)
                .body(ByteStream::from(bytes))
                .send()
                .await;
            let Ok(_) = put else { return false };
            settle_plain(model, &key, Some(md5));
        }
        3 => {
            model
                .lock()
                .unwrap()
                .plain_maybe
                .entry(key.clone())
                .or_default()
                .push(None);
            let Ok(_) = client.delete_object().bucket(plain).key(&key).send().await else {
                return false;
            };
            settle_plain(model, &key, None);
        }
        4 => {
            {
                let mut model = model.lock().unwrap();
                model.plain_maybe.entry(key.clone()).or_default().push(None);
                model.plain_maybe.entry(other.clone()).or_default().push(None);
            }
            let delete = Delete::builder()
                .objects(ObjectIdentifier::builder().key(&key).build().unwrap())
                .objects(ObjectIdentifier::builder().key(&other).build().unwrap())
                .build()
                .unwrap();
            let Ok(_) = client.delete_objects().bucket(plain).delete(delete).send().await else {
                return false;
            };
            settle_plain(model, &key, None);
            settle_plain(model, &other, None);
        }
        5 if key != other => {
            let source = model.lock().unwrap().plain.get(&other).cloned().flatten();
            let Some(source) = source else { return true };
            model
                .lock()
                .unwrap()
                .plain_maybe
                .entry(key.clone())
                .or_default()
                .push(Some(source.clone()));
            let copied = client
                .copy_object()
                .bucket(plain)
                .key(&key)
                .copy_source(format!("{plain}/{other}"))
                .send()
                .await;
            let Ok(_) = copied else { return false };
            settle_plain(model, &key, Some(source));
        }
        6 => {
            let (bytes, md5) = body(rng);
            let complete = rng.random_bool(0.7);
            if complete {
                model
                    .lock()
                    .unwrap()
                    .plain_maybe
                    .entry(key.clone())
                    .or_default()
                    .push(Some(md5.clone()));
            }
            if !multipart(client, plain, &key, bytes, complete).await {
                return false;
            }
            if complete {
                settle_plain(model, &key, Some(md5));
            }
        }
        7 => {
            let (bytes, md5) = body(rng);
            model.lock().unwrap().versions_maybe.insert(key.clone());
            let put = client
                .put_object()
                .bucket(versioned)
                .key(&key)
                .body(ByteStream::from(bytes))
                .send()
                .await;
            let Ok(put) = put else { return false };
            let mut model = model.lock().unwrap();
            model.versions.insert((key.clone(), put.version_id.unwrap()), Some(md5));
            model.versions_maybe.remove(&key);
        }
        _ => {
            let target = {
                let model = model.lock().unwrap();
                let mine: Vec<_> = model.versions.keys().filter(|(k, _)| *k == key).cloned().collect();
                (!mine.is_empty()).then(|| mine[rng.random_range(0..mine.len())].clone())
            };
            match target {
                Some(version) if rng.random_bool(0.6) => {
                    model.lock().unwrap().removing.insert(version.clone());
                    let removal = client
                        .delete_object()
                        .bucket(versioned)
                        .key(&version.0)
                        .version_id(&version.1)
                        .send()
                        .await;
                    let Ok(_) = removal else { return false };
                    let mut model = model.lock().unwrap();
                    model.removing.remove(&version);
                    model.versions.remove(&version);
                }
                _ => {
                    model.lock().unwrap().versions_maybe.insert(key.clone());
                    let Ok(marker) = client.delete_object().bucket(versioned).key(&key).send().await else {
                        return false;
                    };
                    let mut model = model.lock().unwrap();
                    model.versions.insert((key.clone(), marker.version_id.unwrap()), None);
                    model.versions_maybe.remove(&key);
                }
            }
        }
    }
    true
}

/// Records an acknowledged write to a key of the unversioned bucket.
fn settle_plain(model: &Mutex<Model>, key: &str, content: Content) {
    let mut model = model.lock().unwrap();
    model.plain.insert(key.to_owned(), content);
    model.plain_maybe.remove(key);
}

/// A one-part multipart upload, completed or aborted; false once the server
/// is gone.
async fn multipart(client: &Client, bucket: &str, key: &str, bytes: Vec<u8>, complete: bool) -> bool {
    let Ok(upload) = client.create_multipart_upload().bucket(bucket).key(key).send().await else {
        return false;
    };
    let upload_id = upload.upload_id().unwrap();
    let part = client
        .upload_part()
        .bucket(bucket)
        .key(key)
        .upload_id(upload_id)
        .part_number(1)
        .body(ByteStream::from(bytes))
        .send()
        .await;
    let Ok(part) = part else { return false };
    if !complete {
        return client
            .abort_multipart_upload()
            .bucket(bucket)
            .key(key)
            .upload_id(upload_id)
            .send()
            .await
            .is_ok();
    }
    client
        .complete_multipart_upload()
        .bucket(bucket)
        .key(key)
        .upload_id(upload_id)
        .multipart_upload(one_part(part.e_tag().unwrap()))
        .send()
        .await
        .is_ok()
}

/// What a key (or one of its versions) holds, and whether that has data files:
/// objects over the inline limit do, and so do completed multipart uploads,
/// whatever their size (their parts were files).
async fn stored(s: &Server, bucket: &str, key: &str, version_id: Option<&str>) -> Result<(Content, usize), String> {
    let got = s
        .client
        .get_object()
        .bucket(bucket)
        .key(key)
        .set_version_id(version_id.map(str::to_owned))
        .send()
        .await;
    match got {
        Ok(out) => {
            let multipart = out.e_tag().is_some_and(|etag| etag.contains('-'));
            let bytes = out.body.collect().await.map_err(|e| format!("{key}: body: {e}"))?;
            let bytes = bytes.into_bytes();
            let files = usize::from(multipart || bytes.len() > INLINE_MAX_BYTES);
            Ok((Some(md5_hex(&bytes)), files))
        }
        Err(e) if err_status(&e) == 404 => Ok((None, 0)),
        Err(e) => Err(format!("{key}: {e:?}")),
    }
}

/// Checks the restarted store against the model, then makes the model what
/// the store shows, so the next round starts exact.
async fn verify(s: &Server, plain: &str, versioned: &str, model: &mut Model, round: usize) {
    assert_eq!(
        count_files(&s.tmp_dir()),
        0,
        "round {round}: staging is empty after recovery"
    );
    let mut data_files = 0;

    for worker in 0..WORKERS {
        for index in 0..KEYS_PER_WORKER {
            let key = key_of(worker, index);
            let (found, files) = stored(s, plain, &key, None).await.unwrap();
            let acked = model.plain.get(&key).cloned().flatten();
            let maybe = model.plain_maybe.remove(&key).unwrap_or_default();
            assert!(
                found == acked || maybe.contains(&found),
                "round {round}: {plain}/{key} holds {found:?}; acknowledged {acked:?}, in flight {maybe:?}"
            );
            data_files += files;
            model.plain.insert(key, found);
        }
    }

    let listed: BTreeMap<(String, String), bool> = all_versions(s, versioned, 1000)
        .into_iter()
        .map(|(key, id, _, marker)| ((key, id), marker))
        .collect();
    for ((key, id), expected) in &model.versions {
        let removing = model.removing.contains(&(key.clone(), id.clone()));
        match listed.get(&(key.clone(), id.clone())) {
            None => assert!(removing, "round {round}: acknowledged version {key} {id} was lost"),
            Some(marker) => assert_eq!(*marker, expected.is_none(), "round {round}: {key} {id} changed kind"),
        }
    }
    let mut versions = BTreeMap::new();
    let mut unknown_per_key: BTreeMap<&str, usize> = BTreeMap::new();
    for ((key, id), marker) in &listed {
        let known = model.versions.get(&(key.clone(), id.clone()));
        let expected = match known {
            Some(expected) => expected.clone(),
            None => {
                *unknown_per_key.entry(key).or_default() += 1;
                assert!(
                    model.versions_maybe.contains(key),
                    "round {round}: version {key} {id} appeared with no write in flight"
                );
                None
            }
        };
        let stored = if *marker {
            None
        } else {
            let (found, files) = stored(s, versioned, key, Some(id)).await.unwrap();
            assert!(found.is_some(), "round {round}: listed version {key} {id} has no data");
            data_files += files;
            if known.is_some() {
                assert_eq!(found, expected, "round {round}: version {key} {id} is torn");
            }
            found
        };
        versions.insert((key.clone(), id.clone()), stored);
    }
    assert!(
        unknown_per_key.values().all(|count| *count <= 1),
        "round {round}: more than one unacknowledged version on a key: {unknown_per_key:?}"
    );

    let uploads = s.client.list_multipart_uploads().bucket(plain).send().await.unwrap();
    for upload in uploads.uploads() {
        let parts = s
            .client
            .list_parts()
            .bucket(plain)
            .key(upload.key().unwrap())
            .upload_id(upload.upload_id().unwrap())
            .send()
            .await
            .unwrap();
        data_files += parts.parts().len();
        // Leave no upload behind: each round starts from a clean slate of them.
        s.client
            .abort_multipart_upload()
            .bucket(plain)
            .key(upload.key().unwrap())
            .upload_id(upload.upload_id().unwrap())
            .send()
            .await
            .unwrap();
        data_files -= parts.parts().len();
    }
    assert_eq!(
        count_files(&s.blobs_dir()),
        data_files,
        "round {round}: every data file belongs to a version, and every version has its file"
    );
    model.versions = versions;
    model.removing.clear();
    model.versions_maybe.clear();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn acknowledged_state_survives_random_kills_under_a_mixed_workload() {
    let rounds: usize = std::env::var("COFFER_CRASH_ROUNDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(200);
    let seed: u64 = std::env::var("COFFER_CRASH_SEED")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(rand::random);
    eprintln!("crash test: {rounds} rounds, COFFER_CRASH_SEED={seed}");
    let mut rng = StdRng::seed_from_u64(seed);
    let mut s = Server::start_with_args(&["--inline-max-bytes", &INLINE_MAX_BYTES.to_string()]);
    let plain = s.new_bucket("crash-plain").await;
    let versioned = s.new_bucket("crash-versions").await;
    set_versioning(
        &s.client,
        &versioned,
        aws_sdk_s3::types::BucketVersioningStatus::Enabled,
    )
    .await;
    let model = Arc::new(Mutex::new(Model::default()));

    for round in 0..rounds {
        let mut workers = Vec::new();
        for worker in 0..WORKERS {
            let (client, plain, versioned, model) =
                (s.client.clone(), plain.clone(), versioned.clone(), Arc::clone(&model));
            let mut rng = StdRng::seed_from_u64(rng.random());
            workers.push(tokio::spawn(async move {
                while step(&client, &plain, &versioned, worker, &mut rng, &model).await {}
            }));
        }
        tokio::time::sleep(Duration::from_millis(rng.random_range(5..120))).await;
        s.kill();
        for worker in workers {
            worker.await.unwrap();
        }
        s.restart();
        let mut checked = std::mem::take(&mut *model.lock().unwrap());
        verify(&s, &plain, &versioned, &mut checked, round).await;
        *model.lock().unwrap() = checked;
    }
    let acknowledged = model.lock().unwrap().acknowledged;
    eprintln!("crash test: {acknowledged} operations acknowledged over {rounds} crashes");
    assert!(
        acknowledged >= rounds as u64,
        "the workload made too little progress to test anything: {acknowledged}"
    );
}
