//! What a run asks of the server: the workloads `--op` names, the requests
//! they are made of, and the mix of requests `--op mixed` draws from.

use clap::ValueEnum;
use serde::Serialize;

/// A workload, as `--op` names it.
#[derive(Clone, Copy, PartialEq, Eq, Debug, ValueEnum, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Workload {
    /// PutObject of new keys.
    Put,
    /// GetObject of prepared objects.
    Get,
    /// HeadObject of prepared objects.
    Head,
    /// ListObjectsV2 over prepared keys, a page of 1000 per request.
    List,
    /// DeleteObject of prepared objects, each once; the run ends early when
    /// none are left.
    Delete,
    /// CreateMultipartUpload, UploadPart for each `--part-size` slice,
    /// CompleteMultipartUpload.
    Multipart,
    /// Gets, puts, heads and deletes on prepared objects, mixed as warp does.
    Mixed,
}

impl Workload {
    /// How many objects the workload needs in place before it starts, unless
    /// `--objects` says otherwise.
    pub fn default_objects(self) -> u64 {
        match self {
            Workload::Put | Workload::Multipart => 0,
            Workload::Get | Workload::Head | Workload::Mixed => 1_000,
            Workload::List | Workload::Delete => 10_000,
        }
    }
}

/// One measured operation; a multipart upload counts as one, whole.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Op {
    Put,
    Get,
    Head,
    List,
    Delete,
    Multipart,
}

impl Op {
    pub const ALL: [Op; 6] = [Op::Put, Op::Get, Op::Head, Op::List, Op::Delete, Op::Multipart];

    pub fn name(self) -> &'static str {
        match self {
            Op::Put => "put",
            Op::Get => "get",
            Op::Head => "head",
            Op::List => "list",
            Op::Delete => "delete",
            Op::Multipart => "multipart",
        }
    }
}

/// warp's default mix, in percent.
const MIX: [(Op, u32); 4] = [(Op::Get, 45), (Op::Put, 15), (Op::Head, 30), (Op::Delete, 10)];

/// The mixed workload's operation for a roll of 0..100.
pub fn mixed_op(roll: u32) -> Op {
    let mut below = 0;
    for (op, percent) in MIX {
        below += percent;
        if roll < below {
            return op;
        }
    }
    unreachable!("roll {roll} is not below 100")
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::rngs::SmallRng;
    use rand::{Rng, SeedableRng};

    #[test]
    fn the_mix_adds_up_to_100() {
        assert_eq!(MIX.iter().map(|(_, percent)| percent).sum::<u32>(), 100);
    }

    #[test]
    fn each_roll_picks_its_share() {
        let count = |op| (0..100).filter(|&roll| mixed_op(roll) == op).count();
        assert_eq!(count(Op::Get), 45);
        assert_eq!(count(Op::Put), 15);
        assert_eq!(count(Op::Head), 30);
        assert_eq!(count(Op::Delete), 10);
    }

    #[test]
    fn random_rolls_follow_the_mix() {
        let mut rng = SmallRng::seed_from_u64(7);
        let draws = 200_000;
        let mut counts = [0u32; Op::ALL.len()];
        for _ in 0..draws {
            counts[mixed_op(rng.random_range(0..100)) as usize] += 1;
        }
        for (op, percent) in MIX {
            let share = f64::from(counts[op as usize]) / f64::from(draws) * 100.0;
            assert!(
                (share - f64::from(percent)).abs() < 0.5,
                "{op:?}: {share:.2}% for {percent}%"
            );
        }
    }
}
