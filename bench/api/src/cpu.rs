//! The server's CPU time, for the "server CPU per operation" figures: user plus system time of a
//! process from `/proc/PID/stat` (fields 14 and 15, `utime` and `stime`, in clock ticks; see
//! proc_pid_stat(5)). They cover all of the process's threads, also those that have exited, so
//! the difference of two readings is what the whole server spent in between.

use std::time::Duration;

use anyhow::{Context, Result};

/// Reads the CPU time of one process.
#[derive(Clone, Copy, Debug)]
pub struct ServerCpu {
    pid: u32,
    ticks_per_second: u64,
}

impl ServerCpu {
    /// A reader for `pid`; fails if its `/proc/PID/stat` cannot be read or parsed now.
    pub fn new(pid: u32) -> Result<Self> {
        let cpu = Self { pid, ticks_per_second: rustix::param::clock_ticks_per_second().max(1) };
        cpu.total().with_context(|| format!("reading the CPU time of server pid {pid}"))?;
        Ok(cpu)
    }

    /// User plus system time the process has used so far.
    pub fn total(&self) -> Result<Duration> {
        let path = format!("/proc/{}/stat", self.pid);
        let text = std::fs::read_to_string(&path).with_context(|| format!("reading {path}"))?;
        let ticks = stat_cpu_ticks(&text).with_context(|| format!("no utime/stime in {path}"))?;
        Ok(Duration::from_secs(ticks / self.ticks_per_second)
            + Duration::from_nanos(ticks % self.ticks_per_second * 1_000_000_000 / self.ticks_per_second))
    }
}

/// `utime + stime` of a `/proc/PID/stat` line. The command name (field 2) is in parentheses and
/// may itself hold spaces and parentheses, so fields are counted from the last `)`.
fn stat_cpu_ticks(stat: &str) -> Option<u64> {
    let after_comm = &stat[stat.rfind(')')? + 1..];
    // Field 3 (state) is the first one after the name: utime (14) and stime (15) are the 12th
    // and 13th.
    let mut fields = after_comm.split_ascii_whitespace().skip(11);
    let utime: u64 = fields.next()?.parse().ok()?;
    let stime: u64 = fields.next()?.parse().ok()?;
    Some(utime + stime)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sums_utime_and_stime_counted_from_the_last_parenthesis() {
        // A name with a space and a ")" in it; utime 1234, stime 56, cutime 7 (not counted).
        let line = "4242 (neu trino) x) S 1 4242 4242 0 -1 4194560 900 0 0 0 1234 56 7 0 20 0 6 0 100 \
                    1000000 500 18446744073709551615 1 1 0 0 0 0 0 0 0 0 0 0 17 1 0 0 0 0 0";
        assert_eq!(stat_cpu_ticks(line), Some(1290));
    }

    #[test]
    fn refuses_a_truncated_line() {
        assert_eq!(stat_cpu_ticks("4242 (neutrino) S 1 4242 4242 0 -1 4194560 900 0 0 0 1234"), None);
        assert_eq!(stat_cpu_ticks("no parenthesis 1 2 3"), None);
    }

    #[test]
    fn reads_this_process_and_it_grows_with_work() {
        let cpu = ServerCpu::new(std::process::id()).unwrap();
        let before = cpu.total().unwrap();
        let t = std::time::Instant::now();
        let mut x = 0u64;
        // Spins (and reads) until 50 ms of CPU are counted; on a loaded machine this takes
        // longer in wall time, never forever unless the reading does not grow.
        while cpu.total().unwrap() - before < Duration::from_millis(50) {
            assert!(t.elapsed() < Duration::from_secs(30), "30 s of spinning not counted as 50 ms of CPU");
            for _ in 0..100_000 {
                x = std::hint::black_box(x.wrapping_mul(31).wrapping_add(7));
            }
        }
    }
}
