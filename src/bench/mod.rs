//! `coffer bench`: a load generator for S3 endpoints.

use clap::Args;

#[derive(Args)]
pub struct BenchArgs {}

pub async fn run(_args: BenchArgs) -> anyhow::Result<()> {
    anyhow::bail!("coffer bench is not built yet")
}
