//! The root key pair: from the command line or environment, else the one kept
//! in the data directory, else a new one generated on first start.

use std::fs;
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

use anyhow::{Context, bail};

const CREDENTIALS_FILE: &str = "credentials";

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
    fs::create_dir_all(data_dir)?;
    let staging = data_dir.join(format!("{CREDENTIALS_FILE}.new"));
    let mut file = fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(&staging)?;
    writeln!(file, "access_key={}\nsecret_key={}", keys.access_key, keys.secret_key)?;
    file.sync_all()?;
    fs::rename(&staging, &path)?;
    fs::File::open(data_dir)?.sync_all()?;
    Ok((keys, Source::Generated))
}
