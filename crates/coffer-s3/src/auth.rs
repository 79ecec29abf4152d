//! Who may sign requests: the access keys Coffer knows and the user each
//! belongs to. s3s verifies SigV4 with the secret this store hands it.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};

use s3s::auth::{S3Auth, SecretKey};
use s3s::{S3Result, s3_error};
use sha2::{Digest, Sha256};

/// A user as S3 shows it in Owner elements.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct User {
    /// The canonical user id: 64 hex digits, stable for a user name.
    pub id: String,
    pub display_name: String,
}

impl User {
    pub fn named(name: &str) -> User {
        let digest = Sha256::digest(format!("coffer-user:{name}").as_bytes());
        User {
            id: hex::encode(digest),
            display_name: name.to_owned(),
        }
    }
}

struct Key {
    secret: String,
    user: User,
}

/// Access keys and their users; clones share one store. Keys added while
/// serving take effect on the next request.
#[derive(Clone, Default)]
pub struct KeyStore {
    keys: Arc<RwLock<HashMap<String, Key>>>,
}

impl KeyStore {
    pub fn add(&self, access_key: &str, secret_key: &str, user: User) {
        let key = Key {
            secret: secret_key.to_owned(),
            user,
        };
        self.keys
            .write()
            .expect("key store lock poisoned")
            .insert(access_key.to_owned(), key);
    }

    /// The user an authenticated access key belongs to.
    pub fn user(&self, access_key: &str) -> Option<User> {
        let keys = self.keys.read().expect("key store lock poisoned");
        keys.get(access_key).map(|key| key.user.clone())
    }
}

#[async_trait::async_trait]
impl S3Auth for KeyStore {
    async fn get_secret_key(&self, access_key: &str) -> S3Result<SecretKey> {
        let keys = self.keys.read().expect("key store lock poisoned");
        match keys.get(access_key) {
            Some(key) => Ok(SecretKey::from(key.secret.as_str())),
            None => Err(s3_error!(
                InvalidAccessKeyId,
                "The AWS Access Key Id you provided does not exist in our records."
            )),
        }
    }
}
