//! Control groups for the process runtime: one cgroup per pod and one per container run,
//! with the container's memory and CPU limits, on cgroup v2 (`memory.max`, `cpu.max`) or,
//! where the host still mounts the v1 controllers, on the v1 memory and cpu hierarchies
//! (`memory.limit_in_bytes`, `cpu.cfs_quota_us`). The container shim joins its cgroup before
//! it starts the command, so everything the command forks is inside.
//!
//! [`detect`] says whether the host lets the agent do this, and if not, why: the Node carries
//! the answer (`bosun.dev/limits-enforced`).

use std::path::{Path, PathBuf};

/// Errors of cgroup setup.
#[derive(Debug, thiserror::Error)]
pub enum CgroupError {
    #[error("{what} {path}: {source}")]
    Io {
        what: &'static str,
        path: PathBuf,
        source: std::io::Error,
    },
}

type Result<T, E = CgroupError> = std::result::Result<T, E>;

fn io<'a>(what: &'static str, path: &'a Path) -> impl FnOnce(std::io::Error) -> CgroupError + 'a {
    move |source| CgroupError::Io {
        what,
        path: path.to_path_buf(),
        source,
    }
}

/// A mounted filesystem, from `/proc/self/mountinfo`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mount {
    /// The path inside the filesystem that is mounted (for cgroups: the cgroup at the mount).
    pub root: String,
    pub mount_point: PathBuf,
    pub fs_type: String,
    pub super_options: Vec<String>,
}

/// Parse `/proc/self/mountinfo`.
pub fn parse_mountinfo(text: &str) -> Vec<Mount> {
    text.lines()
        .filter_map(|line| {
            let (before, after) = line.split_once(" - ")?;
            let fields: Vec<&str> = before.split_whitespace().collect();
            let tail: Vec<&str> = after.split_whitespace().collect();
            Some(Mount {
                root: unescape(fields.get(3)?),
                mount_point: PathBuf::from(unescape(fields.get(4)?)),
                fs_type: tail.first()?.to_string(),
                super_options: tail
                    .get(2)
                    .map(|o| o.split(',').map(str::to_string).collect())
                    .unwrap_or_default(),
            })
        })
        .collect()
}

/// mountinfo escapes spaces and a few others as `\ooo`.
fn unescape(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'\\'
            && i + 3 < bytes.len()
            && let Some(v) = std::str::from_utf8(&bytes[i + 1..i + 4])
                .ok()
                .and_then(|o| u8::from_str_radix(o, 8).ok())
        {
            out.push(v);
            i += 4;
            continue;
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// This process's cgroups, from `/proc/self/cgroup`: (controllers, path); v2 has no
/// controllers.
pub fn parse_proc_cgroup(text: &str) -> Vec<(Vec<String>, String)> {
    text.lines()
        .filter_map(|line| {
            let mut parts = line.splitn(3, ':');
            let _id = parts.next()?;
            let controllers = parts.next()?;
            let path = parts.next()?;
            let controllers = controllers
                .split(',')
                .filter(|c| !c.is_empty())
                .map(str::to_string)
                .collect();
            Some((controllers, path.to_string()))
        })
        .collect()
}

/// The directory of cgroup `path` in a hierarchy mounted as `mount`.
fn cgroup_dir(mount: &Mount, path: &str) -> PathBuf {
    let rel = path
        .strip_prefix(mount.root.as_str())
        .unwrap_or(path)
        .trim_start_matches('/');
    mount.mount_point.join(rel)
}

/// Where bosun's cgroups go.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Hierarchy {
    /// The unified hierarchy: one directory.
    V2 { base: PathBuf },
    /// The v1 memory and cpu hierarchies.
    V1 { memory: PathBuf, cpu: PathBuf },
}

/// The limits of one container, as the runtime applies them.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Limits {
    pub memory_bytes: Option<i64>,
    pub cpu_milli: Option<i64>,
}

/// The CFS period the kubelet uses (100 ms) and the quota for a CPU limit in it.
pub const CPU_PERIOD_US: i64 = 100_000;

pub fn cpu_quota_us(milli: i64) -> i64 {
    (milli * CPU_PERIOD_US / 1000).max(1000)
}

/// The files to write for a container's limits: (file name, content), in order.
pub fn limit_files(hierarchy: &Hierarchy, limits: Limits) -> Vec<(&'static str, String)> {
    match hierarchy {
        Hierarchy::V2 { .. } => vec![
            (
                "memory.max",
                limits
                    .memory_bytes
                    .map_or_else(|| "max".into(), |b| b.to_string()),
            ),
            // No swap beyond the limit, as the kubelet sets it.
            (
                "memory.swap.max",
                if limits.memory_bytes.is_some() {
                    "0".into()
                } else {
                    "max".into()
                },
            ),
            (
                "cpu.max",
                limits.cpu_milli.map_or_else(
                    || format!("max {CPU_PERIOD_US}"),
                    |m| format!("{} {CPU_PERIOD_US}", cpu_quota_us(m)),
                ),
            ),
        ],
        Hierarchy::V1 { .. } => {
            let mut files = Vec::new();
            if let Some(b) = limits.memory_bytes {
                files.push(("memory.limit_in_bytes", b.to_string()));
                files.push(("memory.memsw.limit_in_bytes", b.to_string()));
            }
            if let Some(m) = limits.cpu_milli {
                files.push(("cpu.cfs_period_us", CPU_PERIOD_US.to_string()));
                files.push(("cpu.cfs_quota_us", cpu_quota_us(m).to_string()));
            }
            files
        }
    }
}

/// Whether a cgroup's OOM killer has killed something in it (`memory.events` on v2,
/// `memory.oom_control` on v1).
pub fn oom_killed(events: &str) -> bool {
    events.lines().any(|l| {
        l.strip_prefix("oom_kill ")
            .and_then(|n| n.trim().parse::<u64>().ok())
            .is_some_and(|n| n > 0)
    })
}

/// Limits on this host: where bosun's cgroups live.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cgroups {
    pub hierarchy: Hierarchy,
}

/// A name safe as one path component.
fn component(name: &str) -> String {
    name.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '-' | '_') {
                c
            } else {
                '_'
            }
        })
        .collect()
}

fn enable_controllers(dir: &Path) -> Result<()> {
    let file = dir.join("cgroup.subtree_control");
    std::fs::write(&file, "+memory +cpu").map_err(io("enable memory and cpu in", &file))
}

/// Find out whether this agent can put containers in cgroups with limits, and prepare its
/// base cgroup(s) (named after `name`, the node). The error says what the host lacks.
pub fn detect(name: &str) -> Result<Cgroups, String> {
    let mountinfo = std::fs::read_to_string("/proc/self/mountinfo")
        .map_err(|e| format!("cannot read /proc/self/mountinfo: {e}"))?;
    let own = std::fs::read_to_string("/proc/self/cgroup")
        .map_err(|e| format!("cannot read /proc/self/cgroup: {e}"))?;
    let mounts = parse_mountinfo(&mountinfo);
    let own = parse_proc_cgroup(&own);
    let name = component(name);
    let mut reasons = Vec::new();
    match try_v2(&mounts, &name) {
        Ok(c) => return Ok(c),
        Err(r) => reasons.push(r),
    }
    match try_v1(&mounts, &own, &name) {
        Ok(c) => return Ok(c),
        Err(r) => reasons.push(r),
    }
    Err(reasons.join("; "))
}

fn try_v2(mounts: &[Mount], name: &str) -> Result<Cgroups, String> {
    let mount = mounts
        .iter()
        .find(|m| m.fs_type == "cgroup2")
        .ok_or("cgroup v2 is not mounted")?;
    let controllers_file = mount.mount_point.join("cgroup.controllers");
    let controllers = std::fs::read_to_string(&controllers_file)
        .map_err(|e| format!("cannot read {}: {e}", controllers_file.display()))?;
    let has = |c: &str| controllers.split_whitespace().any(|x| x == c);
    if !has("memory") || !has("cpu") {
        return Err(format!(
            "cgroup v2 at {} offers the controllers [{}], not memory and cpu (they are bound to cgroup v1 hierarchies)",
            mount.mount_point.display(),
            controllers.trim()
        ));
    }
    let setup = || -> Result<PathBuf> {
        enable_controllers(&mount.mount_point)?;
        let bosun = mount.mount_point.join("bosun");
        std::fs::create_dir_all(&bosun).map_err(io("create", &bosun))?;
        enable_controllers(&bosun)?;
        let base = bosun.join(name);
        std::fs::create_dir_all(&base).map_err(io("create", &base))?;
        enable_controllers(&base)?;
        Ok(base)
    };
    let base = setup().map_err(|e| format!("cgroup v2 is not writable: {e}"))?;
    Ok(Cgroups {
        hierarchy: Hierarchy::V2 { base },
    })
}

fn try_v1(mounts: &[Mount], own: &[(Vec<String>, String)], name: &str) -> Result<Cgroups, String> {
    let find = |controller: &str| -> Result<PathBuf, String> {
        let mount = mounts
            .iter()
            .find(|m| m.fs_type == "cgroup" && m.super_options.iter().any(|o| o == controller))
            .ok_or_else(|| format!("no cgroup v1 {controller} hierarchy is mounted"))?;
        let path = own
            .iter()
            .find(|(cs, _)| cs.iter().any(|c| c == controller))
            .map_or("/", |(_, p)| p.as_str());
        let base = cgroup_dir(mount, path).join("bosun").join(name);
        std::fs::create_dir_all(&base)
            .map_err(|e| format!("the cgroup v1 {controller} hierarchy is not writable: {e}"))?;
        Ok(base)
    };
    Ok(Cgroups {
        hierarchy: Hierarchy::V1 {
            memory: find("memory")?,
            cpu: find("cpu")?,
        },
    })
}

impl Cgroups {
    /// The directories of a pod's cgroup (one per hierarchy).
    fn pod_dirs(&self, pod_uid: &str) -> Vec<PathBuf> {
        let pod = component(pod_uid);
        match &self.hierarchy {
            Hierarchy::V2 { base } => vec![base.join(pod)],
            Hierarchy::V1 { memory, cpu } => vec![memory.join(&pod), cpu.join(pod)],
        }
    }

    /// Create a container run's cgroup with its limits; returns the directories the shim
    /// joins.
    pub fn create(&self, pod_uid: &str, run: &str, limits: Limits) -> Result<Vec<PathBuf>> {
        let run = component(run);
        let mut dirs = Vec::new();
        for pod in self.pod_dirs(pod_uid) {
            if !pod.exists() {
                std::fs::create_dir_all(&pod).map_err(io("create", &pod))?;
                if matches!(self.hierarchy, Hierarchy::V2 { .. }) {
                    enable_controllers(&pod)?;
                }
            }
            let dir = pod.join(&run);
            if dir.exists() {
                let _ = std::fs::remove_dir(&dir);
            }
            std::fs::create_dir_all(&dir).map_err(io("create", &dir))?;
            dirs.push(dir);
        }
        for (file, value) in limit_files(&self.hierarchy, limits) {
            // Each file lives in the one hierarchy that has it.
            let Some(dir) = dirs.iter().find(|d| d.join(file).exists()) else {
                if file == "memory.memsw.limit_in_bytes" || file == "memory.swap.max" {
                    continue; // no swap accounting on this host: nothing to limit
                }
                return Err(CgroupError::Io {
                    what: "find",
                    path: PathBuf::from(file),
                    source: std::io::Error::from(std::io::ErrorKind::NotFound),
                });
            };
            let path = dir.join(file);
            std::fs::write(&path, &value).map_err(io("write", &path))?;
        }
        Ok(dirs)
    }

    /// Whether the OOM killer struck in one of these container cgroups.
    pub fn oom_killed(dirs: &[PathBuf]) -> bool {
        dirs.iter().any(|d| {
            ["memory.events", "memory.oom_control"]
                .iter()
                .any(|f| std::fs::read_to_string(d.join(f)).is_ok_and(|t| oom_killed(&t)))
        })
    }

    /// Remove a pod's cgroups; false while some still hold processes.
    pub fn remove_pod(&self, pod_uid: &str) -> bool {
        let mut done = true;
        for pod in self.pod_dirs(pod_uid) {
            if let Ok(entries) = std::fs::read_dir(&pod) {
                for e in entries.flatten() {
                    if e.path().is_dir() {
                        let _ = std::fs::remove_dir(e.path());
                    }
                }
            }
            match std::fs::remove_dir(&pod) {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(_) => done = false,
            }
        }
        done
    }
}

/// Put this process into the cgroups in `dirs` (the shim, before it starts the command).
pub fn join(dirs: &[PathBuf]) -> Result<()> {
    let pid = std::process::id().to_string();
    for dir in dirs {
        let procs = dir.join("cgroup.procs");
        std::fs::write(&procs, &pid).map_err(io("join", &procs))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const MOUNTINFO: &str = "\
31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755
32 31 0:29 / /sys/fs/cgroup/cpu rw,relatime - cgroup cgroup rw,cpu
35 31 0:32 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory
41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw
50 31 0:40 /kubepods /mnt/my\\040cg rw - cgroup2 cgroup2 rw,nsdelegate
";

    #[test]
    fn mountinfo_names_each_hierarchy_and_its_root() {
        let m = parse_mountinfo(MOUNTINFO);
        assert_eq!(m.len(), 5);
        assert_eq!(m[1].mount_point, PathBuf::from("/sys/fs/cgroup/cpu"));
        assert_eq!(m[1].fs_type, "cgroup");
        assert_eq!(m[1].super_options, ["rw", "cpu"]);
        assert_eq!(m[3].fs_type, "cgroup2");
        assert_eq!(m[4].mount_point, PathBuf::from("/mnt/my cg"));
        assert_eq!(m[4].root, "/kubepods");
        assert_eq!(
            cgroup_dir(&m[4], "/kubepods/pod1"),
            PathBuf::from("/mnt/my cg/pod1")
        );
        assert_eq!(
            cgroup_dir(&m[2], "/process_api/abc"),
            PathBuf::from("/sys/fs/cgroup/memory/process_api/abc")
        );
    }

    #[test]
    fn proc_cgroup_lists_v1_controllers_and_the_v2_path() {
        let own = parse_proc_cgroup("4:memory:/a/b\n2:cpu,cpuacct:/\n0::/user.slice\n");
        assert_eq!(own[0], (vec!["memory".to_string()], "/a/b".to_string()));
        assert_eq!(own[1].0, ["cpu", "cpuacct"]);
        assert_eq!(own[2], (Vec::new(), "/user.slice".to_string()));
    }

    #[test]
    fn limits_become_the_files_of_each_version() {
        let v2 = Hierarchy::V2 {
            base: PathBuf::from("/x"),
        };
        let limits = Limits {
            memory_bytes: Some(64 << 20),
            cpu_milli: Some(500),
        };
        assert_eq!(
            limit_files(&v2, limits),
            vec![
                ("memory.max", "67108864".to_string()),
                ("memory.swap.max", "0".to_string()),
                ("cpu.max", "50000 100000".to_string()),
            ]
        );
        assert_eq!(
            limit_files(&v2, Limits::default()),
            vec![
                ("memory.max", "max".to_string()),
                ("memory.swap.max", "max".to_string()),
                ("cpu.max", "max 100000".to_string()),
            ]
        );
        let v1 = Hierarchy::V1 {
            memory: PathBuf::from("/m"),
            cpu: PathBuf::from("/c"),
        };
        assert_eq!(
            limit_files(&v1, limits),
            vec![
                ("memory.limit_in_bytes", "67108864".to_string()),
                ("memory.memsw.limit_in_bytes", "67108864".to_string()),
                ("cpu.cfs_period_us", "100000".to_string()),
                ("cpu.cfs_quota_us", "50000".to_string()),
            ]
        );
        assert!(limit_files(&v1, Limits::default()).is_empty());
        assert_eq!(cpu_quota_us(1), 1000, "the kernel's minimum quota");
    }

    #[test]
    fn oom_kills_are_counted_in_both_versions() {
        assert!(oom_killed("low 0\nhigh 0\nmax 3\noom 1\noom_kill 1\n"));
        assert!(!oom_killed("oom 0\noom_kill 0\n"));
        assert!(oom_killed("oom_kill_disable 0\nunder_oom 0\noom_kill 2\n"));
        assert!(!oom_killed("oom_kill_disable 0\nunder_oom 0\n"));
    }
}
