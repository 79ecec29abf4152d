//! Who may sign requests: the access keys Coffer knows, whether each is
//! enabled, and the user each belongs to. s3s verifies SigV4 with the secret
//! this store hands it.
//!
//! The store is a cache of the engine's key records (plus the root key pair,
//! which comes from the command line and is never stored), loaded at startup
//! and updated by the admin API, so a key added while serving works on the
//! next request.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};

use coffer_engine::{KeyRecord, UserRecord};
use s3s::auth::{S3Auth, SecretKey};
use s3s::{S3Result, s3_error};
use sha2::{Digest, Sha256};

/// A user as S3 shows it in Owner elements.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct User {
    /// The canonical user id: 64 hex digits, stable for a user name.
    pub id: String,
    pub display_name: String,
    /// Whether the user may use the admin API.
    pub admin: bool,
}

impl User {
    /// The user called `name`; its id is derived from the name, so buckets
    /// keep their owner across restarts and key changes.
    pub fn named(name: &str, admin: bool) -> User {
        User {
            id: user_id(name),
            display_name: name.to_owned(),
            admin,
        }
    }
}

/// Lengths of the key pairs Coffer generates, as AWS issues them.
const ACCESS_KEY_LEN: usize = 20;
const SECRET_KEY_LEN: usize = 40;

/// A new random key pair: an upper-case access key and a secret key.
pub fn new_key_pair() -> (String, String) {
    use rand::Rng;
    let random = |len| -> String {
        rand::rng()
            .sample_iter(rand::distr::Alphanumeric)
            .take(len)
            .map(char::from)
            .collect()
    };
    (random(ACCESS_KEY_LEN).to_ascii_uppercase(), random(SECRET_KEY_LEN))
}

/// The canonical id of the user called `name`.
pub fn user_id(name: &str) -> String {
    hex::encode(Sha256::digest(format!("coffer-user:{name}").as_bytes()))
}

struct Key {
    secret: String,
    user: User,
    enabled: bool,
}

/// Access keys and their users; clones share one store.
#[derive(Clone, Default)]
pub struct KeyStore {
    keys: Arc<RwLock<HashMap<String, Key>>>,
}

impl KeyStore {
    /// A store holding the stored keys of `users`.
    pub fn from_records(users: &[UserRecord], keys: Vec<KeyRecord>) -> KeyStore {
        let store = KeyStore::default();
        for key in keys {
            if let Some(user) = users.iter().find(|user| user.name == key.user) {
                store.insert(
                    &key.access_key,
                    &key.secret_key,
                    key.enabled,
                    User::named(&user.name, user.admin),
                );
            }
        }
        store
    }

    /// Adds or replaces a key.
    pub fn insert(&self, access_key: &str, secret_key: &str, enabled: bool, user: User) {
        let entry = Key {
            secret: secret_key.to_owned(),
            user,
            enabled,
        };
        self.write().insert(access_key.to_owned(), entry);
    }

    pub fn remove(&self, access_key: &str) {
        self.write().remove(access_key);
    }

    /// The user an enabled access key belongs to.
    pub fn user(&self, access_key: &str) -> Option<User> {
        let keys = self.keys.read().expect("key store lock poisoned");
        keys.get(access_key)
            .filter(|key| key.enabled)
            .map(|key| key.user.clone())
    }

    /// The user with a canonical id, if one of its keys is known.
    pub fn user_by_id(&self, id: &str) -> Option<User> {
        let keys = self.keys.read().expect("key store lock poisoned");
        keys.values().find(|key| key.user.id == id).map(|key| key.user.clone())
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, HashMap<String, Key>> {
        self.keys.write().expect("key store lock poisoned")
    }
}

#[async_trait::async_trait]
impl S3Auth for KeyStore {
    async fn get_secret_key(&self, access_key: &str) -> S3Result<SecretKey> {
        let keys = self.keys.read().expect("key store lock poisoned");
        match keys.get(access_key).filter(|key| key.enabled) {
            Some(key) => Ok(SecretKey::from(key.secret.as_str())),
            None => Err(s3_error!(
                InvalidAccessKeyId,
                "The AWS Access Key Id you provided does not exist in our records."
            )),
        }
    }
}
