//! `process_*`: the exporter process's CPU, memory, file descriptors,
//! threads and start time, read from `/proc` at each scrape, exactly (CPU
//! in fractions of a second, as the kernel counts it in clock ticks).
//! Where there is no `/proc`, there are none.

use crate::exposition::{Family, Kind, Series, Value};

/// The `process_*` families of this process, read now.
pub(crate) fn families() -> Vec<Family> {
    let Some(stat) = Stat::read() else {
        return Vec::new();
    };
    let ticks = rustix::param::clock_ticks_per_second() as f64;
    let page = rustix::param::page_size() as f64;
    let gauge = |name, help: &str, value: f64| {
        Family::new(
            name,
            help,
            Kind::Gauge,
            vec![Series::new(&[], Value::Number(value))],
        )
    };
    let mut families = vec![
        Family::new(
            "process_cpu_seconds_total",
            "Total user and system CPU time spent in seconds.",
            Kind::Counter,
            vec![Series::new(
                &[],
                Value::Counter(stat.cpu_ticks as f64 / ticks, None),
            )],
        ),
        gauge(
            "process_virtual_memory_bytes",
            "Virtual memory size in bytes.",
            stat.virtual_bytes as f64,
        ),
        gauge(
            "process_resident_memory_bytes",
            "Resident memory size in bytes.",
            stat.resident_pages as f64 * page,
        ),
        gauge(
            "process_threads",
            "Number of OS threads in the process.",
            stat.threads as f64,
        ),
    ];
    if let Some(boot) = boot_time() {
        families.push(gauge(
            "process_start_time_seconds",
            "Start time of the process since unix epoch in seconds.",
            boot as f64 + stat.start_ticks as f64 / ticks,
        ));
    }
    if let Ok(entries) = std::fs::read_dir("/proc/self/fd") {
        // The directory read holds one descriptor of its own.
        let open = entries.count().saturating_sub(1);
        families.push(gauge(
            "process_open_fds",
            "Number of open file descriptors.",
            open as f64,
        ));
    }
    if let Some(max) = max_open_files() {
        families.push(gauge(
            "process_max_fds",
            "Maximum number of open file descriptors.",
            max as f64,
        ));
    }
    families
}

/// What `/proc/self/stat` says of the process.
#[derive(Debug, PartialEq)]
struct Stat {
    cpu_ticks: u64,
    threads: u64,
    start_ticks: u64,
    virtual_bytes: u64,
    resident_pages: u64,
}

impl Stat {
    fn read() -> Option<Stat> {
        Stat::parse(&std::fs::read_to_string("/proc/self/stat").ok()?)
    }

    /// The fields after the command's `)` (which may itself hold spaces
    /// and parentheses), numbered as proc(5) numbers them from 3.
    fn parse(text: &str) -> Option<Stat> {
        let (_, after) = text.rsplit_once(')')?;
        let fields: Vec<&str> = after.split_whitespace().collect();
        let field = |n: usize| fields.get(n - 3)?.parse::<u64>().ok();
        Some(Stat {
            cpu_ticks: field(14)? + field(15)?,
            threads: field(20)?,
            start_ticks: field(22)?,
            virtual_bytes: field(23)?,
            resident_pages: field(24)?,
        })
    }
}

/// When the machine booted, in seconds since the epoch (`btime`).
fn boot_time() -> Option<u64> {
    let stat = std::fs::read_to_string("/proc/stat").ok()?;
    stat.lines()
        .find_map(|line| line.strip_prefix("btime "))?
        .trim()
        .parse()
        .ok()
}

/// The soft limit of open files, unless unlimited.
fn max_open_files() -> Option<u64> {
    let limits = std::fs::read_to_string("/proc/self/limits").ok()?;
    let line = limits
        .lines()
        .find(|line| line.starts_with("Max open files"))?;
    line.split_whitespace().nth(3)?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_stat_line_is_read_after_the_command_whatever_it_holds() {
        let line = "4242 (agi (x) y) S 1 4242 4242 0 -1 4194560 2400 0 0 0 123 45 0 0 20 0 7 0 98765 123456789 2048 18446744073709551615 1 1 0 0 0 0 0 4096 0 0 0 0 17 1 0 0 0 0 0\n";
        assert_eq!(
            Stat::parse(line),
            Some(Stat {
                cpu_ticks: 168,
                threads: 7,
                start_ticks: 98765,
                virtual_bytes: 123456789,
                resident_pages: 2048,
            })
        );
        assert_eq!(Stat::parse("4242 (short) S 1"), None);
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn cpu_time_is_exact_and_memory_is_what_proc_says() {
        let ticks = |_| Stat::read().map(|stat| stat.cpu_ticks).unwrap_or_default();
        let before = ticks(());
        let families = families();
        let value = |name: &str| {
            let family = families.iter().find(|f| f.name == name).unwrap();
            match family.series[0].value {
                Value::Number(v) | Value::Counter(v, _) => v,
                Value::Histogram(_) => unreachable!(),
            }
        };
        let after = ticks(());
        // In clock ticks, as /proc counts them: not rounded to seconds.
        let cpu = value("process_cpu_seconds_total");
        let per_second = rustix::param::clock_ticks_per_second() as f64;
        let counted = (cpu * per_second).round() as u64;
        assert!(
            before <= counted && counted <= after,
            "{before} <= {cpu} s <= {after}"
        );
        assert!((cpu * per_second - counted as f64).abs() < 1e-6, "{cpu}");
        let status = std::fs::read_to_string("/proc/self/status").unwrap();
        let rss_kib: f64 = status
            .lines()
            .find_map(|l| l.strip_prefix("VmRSS:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
            .unwrap();
        let rss = value("process_resident_memory_bytes");
        assert!(
            (rss / 1024.0 - rss_kib).abs() < 4096.0,
            "{rss} vs {rss_kib} KiB"
        );
        let start = value("process_start_time_seconds");
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs_f64();
        assert!(start > now - 3600.0 && start <= now, "{start} {now}");
        assert!(value("process_threads") >= 1.0);
        assert!(value("process_open_fds") >= 3.0);
    }
}
