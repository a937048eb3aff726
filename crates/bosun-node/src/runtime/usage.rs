//! Usage of host processes, from `/proc`: CPU time and resident memory summed over a process
//! group (the process runtime's container), and memory from a cgroup where there is one.

use super::ContainerUsage;
use crate::stats::TICK_NS;
use std::collections::HashMap;
use std::path::PathBuf;

/// CPU ticks and resident bytes per process group, from one pass over `/proc`.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct ProcTable {
    by_group: HashMap<i32, (u64, u64)>,
}

/// (process group, utime + stime ticks) from a `/proc/<pid>/stat` line.
pub fn parse_stat(stat: &str) -> Option<(i32, u64)> {
    // The command name is in parentheses and may hold spaces: fields start after the last ')'.
    let (_, rest) = stat.rsplit_once(')')?;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // rest[0] is the state (field 3); pgrp is field 5, utime 14, stime 15.
    let pgrp = fields.get(2)?.parse().ok()?;
    let utime: u64 = fields.get(11)?.parse().ok()?;
    let stime: u64 = fields.get(12)?.parse().ok()?;
    Some((pgrp, utime + stime))
}

/// Resident bytes from a `/proc/<pid>/status` text.
pub fn parse_rss(status: &str) -> u64 {
    status
        .lines()
        .find(|l| l.starts_with("VmRSS:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|kb| kb.parse::<u64>().ok())
        .map_or(0, |kb| kb * 1024)
}

impl ProcTable {
    /// Read `/proc`, keeping only the groups asked for.
    pub fn read(groups: &[i32]) -> Self {
        let mut by_group: HashMap<i32, (u64, u64)> = HashMap::new();
        let Ok(entries) = std::fs::read_dir("/proc") else {
            return Self::default();
        };
        for e in entries.flatten() {
            let name = e.file_name();
            let Some(pid) = name
                .to_str()
                .filter(|n| n.bytes().all(|b| b.is_ascii_digit()))
            else {
                continue;
            };
            let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
                continue;
            };
            let Some((group, ticks)) = parse_stat(&stat) else {
                continue;
            };
            if !groups.contains(&group) {
                continue;
            }
            let rss = std::fs::read_to_string(format!("/proc/{pid}/status"))
                .map(|s| parse_rss(&s))
                .unwrap_or(0);
            let entry = by_group.entry(group).or_default();
            entry.0 += ticks;
            entry.1 += rss;
        }
        Self { by_group }
    }

    /// The usage of a process group; memory from its cgroup directories when given.
    pub fn usage(&self, group: i32, cgroups: &[PathBuf]) -> Option<ContainerUsage> {
        let (ticks, rss) = *self.by_group.get(&group)?;
        let (usage, working_set) = cgroup_memory(cgroups).unwrap_or((rss, rss));
        Some(ContainerUsage {
            cpu_core_nanoseconds: ticks * TICK_NS,
            memory_usage_bytes: usage,
            memory_working_set_bytes: working_set,
        })
    }
}

/// (usage, working set) from a cgroup: v2 `memory.current`, v1 `memory.usage_in_bytes`, less
/// the inactive file pages of `memory.stat`.
pub fn cgroup_memory(dirs: &[PathBuf]) -> Option<(u64, u64)> {
    for dir in dirs {
        let usage = ["memory.current", "memory.usage_in_bytes"]
            .iter()
            .find_map(|f| std::fs::read_to_string(dir.join(f)).ok())
            .and_then(|t| t.trim().parse::<u64>().ok());
        if let Some(usage) = usage {
            let stat = std::fs::read_to_string(dir.join("memory.stat")).unwrap_or_default();
            return Some((usage, usage.saturating_sub(inactive_file(&stat))));
        }
    }
    None
}

/// Inactive file pages from `memory.stat` (v1 names the hierarchical total).
pub fn inactive_file(stat: &str) -> u64 {
    let get = |key: &str| {
        stat.lines().find_map(|l| {
            l.strip_prefix(key)
                .and_then(|v| v.trim().parse::<u64>().ok())
        })
    };
    get("total_inactive_file ")
        .or_else(|| get("inactive_file "))
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stat_lines_give_the_group_and_cpu_ticks() {
        let stat = "1234 (my (odd) prog) S 1 1200 1200 0 -1 4194560 100 0 0 0 7 3 0 0 20 0 1 0 100 1000 50";
        assert_eq!(parse_stat(stat), Some((1200, 10)));
        assert_eq!(parse_stat("garbage"), None);
    }

    #[test]
    fn status_gives_the_resident_size() {
        assert_eq!(parse_rss("Name:\tsh\nVmRSS:\t    1500 kB\n"), 1500 * 1024);
        assert_eq!(parse_rss("Name:\tkthread\n"), 0);
    }

    #[test]
    fn memory_stat_gives_inactive_file_pages_in_either_version() {
        assert_eq!(
            inactive_file("anon 5\ninactive_file 300\nactive_file 2\n"),
            300
        );
        assert_eq!(
            inactive_file("inactive_file 1\ntotal_inactive_file 400\n"),
            400
        );
        assert_eq!(inactive_file(""), 0);
    }

    #[test]
    fn this_process_group_is_found_in_proc() {
        let group = nix::unistd::getpgrp().as_raw();
        let table = ProcTable::read(&[group]);
        let u = table.usage(group, &[]).expect("our own group");
        assert!(u.memory_usage_bytes > 0);
        assert_eq!(u.memory_usage_bytes, u.memory_working_set_bytes);
    }
}
