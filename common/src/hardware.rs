//! What a process can learn about its host: CPU cores and physical / free memory.

/// CPU cores available to this process.
pub fn cpu_cores() -> u32 {
    std::thread::available_parallelism().map(|n| n.get() as u32).unwrap_or(1)
}

/// (physical memory, available memory) in bytes, from /proc/meminfo; zeros where
/// the platform does not say.
pub fn memory() -> (u64, u64) {
    let Ok(text) = std::fs::read_to_string("/proc/meminfo") else {
        return (0, 0);
    };
    let field = |name: &str| {
        text.lines()
            .find(|l| l.starts_with(name))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|kb| kb.parse::<u64>().ok())
            .map(|kb| kb * 1024)
            .unwrap_or(0)
    };
    (field("MemTotal:"), field("MemAvailable:"))
}

/// Resident set size of the calling process in bytes, from /proc/self/statm.
pub fn own_rss_bytes() -> u64 {
    rss_bytes_of("self")
}

/// Resident set size of process `pid` ("self" for this one) in bytes; 0 if unknown.
pub fn rss_bytes_of(pid: &str) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/statm"))
        .ok()
        .and_then(|s| s.split_whitespace().nth(1)?.parse::<u64>().ok())
        .map(|pages| pages * 4096)
        .unwrap_or(0)
}

/// CPU time (user + system) the calling process has used, in ms; 0 if unknown.
pub fn own_cpu_time_ms() -> u64 {
    cpu_time_ms_of("self")
}

/// CPU time (user + system) process `pid` ("self" for this one) has used, in ms; 0
/// if unknown.
pub fn cpu_time_ms_of(pid: &str) -> u64 {
    // /proc/PID/stat: utime and stime (fields 14 and 15) in clock ticks, after the
    // parenthesised command name (which may hold spaces).
    let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else { return 0 };
    let Some(rest) = stat.rfind(')').map(|i| &stat[i + 1..]) else { return 0 };
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ticks = |i: usize| fields.get(i).and_then(|f| f.parse::<u64>().ok()).unwrap_or(0);
    // Fields after ')' start at field 3 (state): utime is field 14, stime 15.
    (ticks(11) + ticks(12)) * 1000 / CLOCK_TICKS_PER_SECOND
}

/// USER_HZ, which Linux fixes at 100 for /proc on every architecture it runs on.
const CLOCK_TICKS_PER_SECOND: u64 = 100;

/// A process's CPU load between two calls, as Flink's `Status.JVM.CPU.Load`: the share
/// of all cores' time it used, 0.0–1.0.
#[derive(Debug)]
pub struct CpuLoad {
    last: parking_lot::Mutex<(std::time::Instant, u64)>,
}

impl Default for CpuLoad {
    fn default() -> Self {
        Self { last: parking_lot::Mutex::new((std::time::Instant::now(), own_cpu_time_ms())) }
    }
}

impl CpuLoad {
    /// The load since the previous call (or since creation), as a share of all cores.
    /// Calls less than 100 ms apart return the previous figure's window extended.
    pub fn sample(&self) -> f64 {
        let mut last = self.last.lock();
        let (now, cpu) = (std::time::Instant::now(), own_cpu_time_ms());
        let wall = now.duration_since(last.0).as_millis() as f64;
        let load = if wall <= 0.0 { 0.0 } else { (cpu.saturating_sub(last.1)) as f64 / wall / f64::from(cpu_cores().max(1)) };
        if wall >= 100.0 {
            *last = (now, cpu);
        }
        load.clamp(0.0, 1.0)
    }
}

/// The calling process's threads: (id, name, state) from /proc/self/task, for a
/// thread dump (a Rust process has no stacks to print without stopping itself).
pub fn own_threads() -> Vec<(u32, String, String)> {
    let mut threads: Vec<(u32, String, String)> = std::fs::read_dir("/proc/self/task")
        .into_iter()
        .flatten()
        .filter_map(Result::ok)
        .filter_map(|e| {
            let tid: u32 = e.file_name().to_str()?.parse().ok()?;
            let stat = std::fs::read_to_string(e.path().join("stat")).ok()?;
            let open = stat.find('(')?;
            let close = stat.rfind(')')?;
            let name = stat[open + 1..close].to_string();
            let state = match stat[close + 1..].split_whitespace().next()? {
                "R" => "RUNNABLE",
                "S" | "I" => "WAITING",
                "D" => "BLOCKED",
                "T" | "t" => "STOPPED",
                _ => "UNKNOWN",
            };
            Some((tid, name, state.to_string()))
        })
        .collect();
    threads.sort();
    threads
}
