//! `coffer admin`: the command line over the admin API of a running server.
//! It signs each call with the root (or an admin) key pair and prints the
//! server's JSON answer.

use bytes::Bytes;
use clap::{Args, Subcommand};
use http::Method;

use crate::client::SigningClient;

#[derive(Args)]
pub struct AdminArgs {
    /// The admin API of the server (its --admin-listen address).
    #[arg(long, default_value = "http://127.0.0.1:9001", env = "COFFER_ADMIN_ENDPOINT")]
    endpoint: String,
    /// An admin access key (the root key pair of `coffer serve`, say).
    #[arg(long, env = "COFFER_ACCESS_KEY")]
    access_key: String,
    #[arg(long, env = "COFFER_SECRET_KEY", hide_env_values = true)]
    secret_key: String,
    /// The region the server signs for.
    #[arg(long, default_value = "us-east-1", env = "COFFER_REGION")]
    region: String,
    #[command(subcommand)]
    command: AdminCommand,
}

#[derive(Subcommand)]
enum AdminCommand {
    /// Users: add, list, remove.
    #[command(subcommand)]
    User(UserCommand),
    /// Access keys: add, remove, enable, disable.
    #[command(subcommand)]
    Key(KeyCommand),
    /// Buckets: what one holds, its quota.
    #[command(subcommand)]
    Bucket(BucketCommand),
    /// The server: version, uptime, storage used.
    #[command(subcommand)]
    Server(ServerCommand),
    /// The lifecycle worker of a server started with --lifecycle-test-clock.
    #[command(subcommand, hide = true)]
    Lifecycle(LifecycleCommand),
}

#[derive(Subcommand)]
enum UserCommand {
    /// Adds a user with one access key (generated unless given).
    Add {
        name: String,
        #[arg(long)]
        access_key: Option<String>,
        #[arg(long)]
        secret_key: Option<String>,
        /// Lets the user use the admin API.
        #[arg(long)]
        admin: bool,
    },
    /// Lists users and their access keys.
    List,
    /// Removes a user that owns no bucket, with its keys.
    Remove { name: String },
}

#[derive(Subcommand)]
enum KeyCommand {
    /// Adds an access key to a user (generated unless given).
    Add {
        user: String,
        #[arg(long)]
        access_key: Option<String>,
        #[arg(long)]
        secret_key: Option<String>,
    },
    /// Removes an access key.
    Remove { access_key: String },
    /// Lets an access key sign requests again.
    Enable { access_key: String },
    /// Stops an access key from signing requests, without removing it.
    Disable { access_key: String },
}

#[derive(Subcommand)]
enum BucketCommand {
    /// Shows a bucket's owner, versioning, quota, objects, bytes and uploads
    /// in progress.
    Info { name: String },
    /// Sets the most bytes a bucket's versions may hold, or clears it.
    Quota {
        name: String,
        #[arg(long, value_name = "N", required_unless_present = "clear", conflicts_with = "clear")]
        max_bytes: Option<u64>,
        /// Removes the quota.
        #[arg(long)]
        clear: bool,
    },
}

#[derive(Subcommand)]
enum ServerCommand {
    /// Shows the version, uptime, data directory and storage used.
    Info,
}

#[derive(Subcommand)]
enum LifecycleCommand {
    /// Moves the worker's clock forward, by days and seconds added up.
    AdvanceClock {
        #[arg(long, required_unless_present = "seconds")]
        days: Option<u32>,
        #[arg(long)]
        seconds: Option<u32>,
    },
    /// Runs one lifecycle pass and prints what it did.
    Run,
}

fn json(value: serde_json::Value) -> Bytes {
    Bytes::from(value.to_string())
}

pub async fn run(args: AdminArgs) -> anyhow::Result<()> {
    let client = SigningClient::new(&args.endpoint, &args.access_key, &args.secret_key, &args.region);
    let (method, path, body) = match args.command {
        AdminCommand::User(UserCommand::Add {
            name,
            access_key,
            secret_key,
            admin,
        }) => (
            Method::POST,
            "/admin/v1/users".to_owned(),
            json(serde_json::json!({
                "name": name, "access_key": access_key, "secret_key": secret_key, "admin": admin,
            })),
        ),
        AdminCommand::User(UserCommand::List) => (Method::GET, "/admin/v1/users".to_owned(), Bytes::new()),
        AdminCommand::User(UserCommand::Remove { name }) => {
            (Method::DELETE, format!("/admin/v1/users/{name}"), Bytes::new())
        }
        AdminCommand::Key(KeyCommand::Add {
            user,
            access_key,
            secret_key,
        }) => (
            Method::POST,
            format!("/admin/v1/users/{user}/keys"),
            json(serde_json::json!({ "access_key": access_key, "secret_key": secret_key })),
        ),
        AdminCommand::Key(KeyCommand::Remove { access_key }) => {
            (Method::DELETE, format!("/admin/v1/keys/{access_key}"), Bytes::new())
        }
        AdminCommand::Key(KeyCommand::Enable { access_key }) => (
            Method::PUT,
            format!("/admin/v1/keys/{access_key}"),
            json(serde_json::json!({ "enabled": true })),
        ),
        AdminCommand::Key(KeyCommand::Disable { access_key }) => (
            Method::PUT,
            format!("/admin/v1/keys/{access_key}"),
            json(serde_json::json!({ "enabled": false })),
        ),
        AdminCommand::Bucket(BucketCommand::Info { name }) => {
            (Method::GET, format!("/admin/v1/buckets/{name}"), Bytes::new())
        }
        // Without --max-bytes, clap has made sure --clear was given.
        AdminCommand::Bucket(BucketCommand::Quota { name, max_bytes, .. }) => (
            Method::PUT,
            format!("/admin/v1/buckets/{name}/quota"),
            json(serde_json::json!({ "max_bytes": max_bytes })),
        ),
        AdminCommand::Server(ServerCommand::Info) => (Method::GET, "/admin/v1/server".to_owned(), Bytes::new()),
        AdminCommand::Lifecycle(LifecycleCommand::AdvanceClock { days, seconds }) => (
            Method::POST,
            "/admin/v1/lifecycle/clock".to_owned(),
            json(serde_json::json!({
                "advance_days": days.unwrap_or_default(), "advance_seconds": seconds.unwrap_or_default(),
            })),
        ),
        AdminCommand::Lifecycle(LifecycleCommand::Run) => {
            (Method::POST, "/admin/v1/lifecycle/run".to_owned(), Bytes::new())
        }
    };
    let response = client.expect_success(method, &path, body).await?;
    println!("{}", response.text());
    Ok(())
}
