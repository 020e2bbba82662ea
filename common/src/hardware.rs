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
