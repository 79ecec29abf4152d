//! The server's secrets: the root key pair and the master key that seals
//! SSE-S3 data. Each comes from the command line or environment, else from
//! its file in the data directory, else is generated on first start and kept
//! there (mode 0600).

use std::fs;
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

use anyhow::{Context, bail};
use coffer_engine::SealingKey;

const CREDENTIALS_FILE: &str = "credentials";
const MASTER_KEY_FILE: &str = "master.key";

pub struct RootKeys {
    pub access_key: String,
    pub secret_key: String,
}

/// Where the root keys came from decides whether they are printed: keys
/// the operator gave are theirs already; stored or new ones are shown.
pub enum Source {
    Given,
    Stored,
    Generated,
}

pub fn root_keys(
    data_dir: &Path,
    access_key: Option<String>,
    secret_key: Option<String>,
) -> anyhow::Result<(RootKeys, Source)> {
    if let (Some(access_key), Some(secret_key)) = (access_key, secret_key) {
        return Ok((RootKeys { access_key, secret_key }, Source::Given));
    }
    let path = data_dir.join(CREDENTIALS_FILE);
    if path.exists() {
        let text = fs::read_to_string(&path).with_context(|| format!("reading {}", path.display()))?;
        let field = |name: &str| {
            text.lines().find_map(|line| {
                line.strip_prefix(name)?
                    .strip_prefix('=')
                    .map(str::trim)
                    .map(str::to_owned)
            })
        };
        let (Some(access_key), Some(secret_key)) = (field("access_key"), field("secret_key")) else {
            bail!("{} is not a Coffer credentials file", path.display());
        };
        return Ok((RootKeys { access_key, secret_key }, Source::Stored));
    }
    let (access_key, secret_key) = coffer_s3::auth::new_key_pair();
    let keys = RootKeys { access_key, secret_key };
    let text = format!("access_key={}\nsecret_key={}\n", keys.access_key, keys.secret_key);
    write_secret(data_dir, CREDENTIALS_FILE, &text)?;
    Ok((keys, Source::Generated))
}

/// The master key: `given` (32 bytes in hex), else the one kept in the data
/// directory, else a new random one kept there. Every SSE-S3 object needs
/// the key it was written with, so a stored key is never replaced.
pub fn master_key(data_dir: &Path, given: Option<&str>) -> anyhow::Result<SealingKey> {
    if let Some(key) = existing_master_key(data_dir, given)? {
        return Ok(key);
    }
    let key: [u8; 32] = rand::random();
    write_secret(data_dir, MASTER_KEY_FILE, &format!("{}\n", hex::encode(key)))?;
    Ok(SealingKey(key))
}

/// The master key `given`, else the one kept in the data directory, if any.
pub fn existing_master_key(data_dir: &Path, given: Option<&str>) -> anyhow::Result<Option<SealingKey>> {
    let parse = |text: &str, origin: &str| -> anyhow::Result<SealingKey> {
        let bytes = hex::decode(text.trim()).with_context(|| format!("{origin} is not hex"))?;
        let key: [u8; 32] = bytes
            .try_into()
            .map_err(|_| anyhow::anyhow!("{origin} must be 32 bytes (64 hex digits)"))?;
        Ok(SealingKey(key))
    };
    if let Some(given) = given {
        return parse(given, "the master key").map(Some);
    }
    let path = data_dir.join(MASTER_KEY_FILE);
    if !path.exists() {
        return Ok(None);
    }
    let text = fs::read_to_string(&path).with_context(|| format!("reading {}", path.display()))?;
    parse(&text, &path.display().to_string()).map(Some)
}

/// Writes a file only its owner can read, durably: a crash leaves either no
/// file or the whole one.
fn write_secret(data_dir: &Path, name: &str, text: &str) -> anyhow::Result<()> {
    fs::create_dir_all(data_dir)?;
    let staging = data_dir.join(format!("{name}.new"));
    let mut file = fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(&staging)?;
    file.write_all(text.as_bytes())?;
    file.sync_all()?;
    fs::rename(&staging, data_dir.join(name))?;
    fs::File::open(data_dir)?.sync_all()?;
    Ok(())
}
