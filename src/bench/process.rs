//! CPU time and memory of the load generator and of the server it measures,
//! read from /proc: a server's speed means little without what it cost.

use std::fs;

use anyhow::Context;

use super::stats::ProcessUsage;

/// Processes sampled before a run and after it; their figures are summed, as
/// a server may be several processes (nginx's workers).
pub struct Sampler {
    pids: Vec<String>,
    cpu_before: f64,
    rss_before_kib: u64,
}

impl Sampler {
    /// `pids` are process ids, or `self`.
    pub fn start(pids: Vec<String>) -> anyhow::Result<Sampler> {
        let mut sampler = Sampler {
            pids,
            cpu_before: 0.0,
            rss_before_kib: 0,
        };
        (sampler.cpu_before, sampler.rss_before_kib, _) = sampler.read()?;
        Ok(sampler)
    }

    pub fn finish(&self) -> anyhow::Result<ProcessUsage> {
        let (cpu, rss_after_kib, rss_peak_kib) = self.read()?;
        Ok(ProcessUsage {
            cpu_seconds: cpu - self.cpu_before,
            rss_before_kib: self.rss_before_kib,
            rss_after_kib,
            rss_peak_kib,
        })
    }

    /// CPU seconds, resident KiB and peak resident KiB, summed.
    fn read(&self) -> anyhow::Result<(f64, u64, u64)> {
        // SAFETY: sysconf reads a constant of the system and touches no memory of ours.
        let ticks_per_second = unsafe { libc::sysconf(libc::_SC_CLK_TCK) } as f64;
        let mut totals = (0.0, 0, 0);
        for pid in &self.pids {
            let stat =
                fs::read_to_string(format!("/proc/{pid}/stat")).with_context(|| format!("reading process {pid}"))?;
            // The command name may hold spaces and parentheses; the fields
            // after its closing one are plain, utime and stime the 12th and 13th.
            let fields: Vec<&str> = stat
                .rsplit_once(')')
                .map(|(_, rest)| rest.split_whitespace().collect())
                .unwrap_or_default();
            let ticks = |index: usize| fields.get(index).and_then(|field| field.parse::<u64>().ok());
            let (Some(user), Some(system)) = (ticks(11), ticks(12)) else {
                anyhow::bail!("/proc/{pid}/stat is not as expected");
            };
            let status =
                fs::read_to_string(format!("/proc/{pid}/status")).with_context(|| format!("reading process {pid}"))?;
            let kib = |name: &str| {
                status
                    .lines()
                    .find_map(|line| line.strip_prefix(name))
                    .and_then(|rest| rest.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
                    .unwrap_or(0)
            };
            totals.0 += (user + system) as f64 / ticks_per_second;
            totals.1 += kib("VmRSS:");
            totals.2 += kib("VmHWM:");
        }
        Ok(totals)
    }
}
