//! `process_*` metrics read from `/proc/self` at scrape time (Linux; absent
//! elsewhere).

/// Clock ticks per second of `/proc/<pid>/stat` times (`USER_HZ`, fixed at
/// 100 by the Linux ABI on every architecture it exports to user space).
const USER_HZ: f64 = 100.0;

/// CPU seconds (user + system) and resident memory in bytes.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ProcessSample {
    /// `utime + stime`, in seconds.
    pub cpu_seconds: f64,
    /// Resident set size, in bytes.
    pub resident_bytes: u64,
}

/// Reads the current process, `None` where `/proc` is unavailable.
pub fn sample() -> Option<ProcessSample> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    Some(ProcessSample {
        cpu_seconds: cpu_seconds(&stat)?,
        resident_bytes: resident_bytes(&status)?,
    })
}

/// Fields 14 and 15 (`utime`, `stime`) of `/proc/self/stat`; the command
/// name (field 2) may contain spaces and parentheses, so fields are counted
/// after its closing parenthesis.
fn cpu_seconds(stat: &str) -> Option<f64> {
    let rest = &stat[stat.rfind(')')? + 1..];
    let mut fields = rest.split_whitespace();
    // `rest` starts at field 3 (state); utime is field 14.
    let utime: u64 = fields.nth(11)?.parse().ok()?;
    let stime: u64 = fields.next()?.parse().ok()?;
    Some((utime + stime) as f64 / USER_HZ)
}

/// `VmRSS:` of `/proc/self/status`, in kB.
fn resident_bytes(status: &str) -> Option<u64> {
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    let kb: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb * 1024)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_stat_and_status() {
        let stat = "1234 (my (odd) name) S 1 1234 1234 0 -1 4194560 100 0 0 0 250 50 0 0 20 0 4 0 100 1000 200";
        assert_eq!(cpu_seconds(stat), Some(3.0));
        let status = "Name:\tx\nVmPeak:\t 100 kB\nVmRSS:\t    2048 kB\nThreads: 4\n";
        assert_eq!(resident_bytes(status), Some(2048 * 1024));
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn samples_this_process() {
        let started = std::time::Instant::now();
        let mut x = 0u64;
        while started.elapsed() < std::time::Duration::from_millis(50) {
            x = std::hint::black_box(x.wrapping_add(1));
        }
        let s = sample().expect("/proc is mounted");
        assert!(s.resident_bytes > 0);
        assert!(s.cpu_seconds > 0.0, "{s:?} after 50ms of work");
    }
}
