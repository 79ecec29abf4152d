//! End-to-end S3 compatibility tests for the `coffer` binary.
//!
//! Every test spawns the real server (`CARGO_BIN_EXE_coffer`) on a fresh
//! temporary data directory and talks to it with the AWS SDK for Rust or with a
//! hand-written HTTP/1.1 client (for raw, malformed, anonymous, presigned and
//! streaming requests).

mod common;

mod abuse;
mod access;
mod attacks;
mod auth;
mod buckets;
mod checksums;
mod conditional;
mod config;
mod copy;
mod cors;
mod crash;
mod delete;
mod durability;
mod encryption;
mod errors;
mod extras;
#[cfg(feature = "failpoints")]
mod failpoints;
mod fairness;
mod faults;
mod inline;
mod integrity;
mod lifecycle;
mod list;
mod lock;
mod multipart;
mod multipart_races;
mod objects;
mod observability;
mod post;
mod tagging;
mod tls;
mod users;
mod versioning;
mod vhost;
