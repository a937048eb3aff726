//! A busybox image built from this host's statically linked busybox (Debian's
//! `busybox-static`), for tests and for machines with no registry: one layer with
//! `/bin/busybox`, a symlink per applet, `/etc/passwd`, `/etc/group` and `/tmp`, imported into
//! the Docker engine under a tag. Built once per engine: an image already tagged is kept.

use bollard::Docker;
use std::path::{Path, PathBuf};

/// The tag the tests use.
pub const TEST_IMAGE: &str = "bosun-test/busybox:1";

/// Errors while building the image.
#[derive(Debug, thiserror::Error)]
pub enum BusyboxImageError {
    /// No statically linked busybox on this host.
    #[error(
        "no statically linked busybox at /bin/busybox or /usr/bin/busybox: install Debian's busybox-static (apt-get install busybox-static)"
    )]
    NoBusybox,
    /// Reading busybox or listing its applets failed.
    #[error("{0}")]
    Io(String),
    /// The engine refused the import.
    #[error("import into docker: {0}")]
    Import(#[from] crate::runtime::RuntimeError),
}

fn find_busybox() -> Option<PathBuf> {
    ["/bin/busybox", "/usr/bin/busybox"]
        .iter()
        .map(PathBuf::from)
        .find(|p| is_static_elf(p))
}

/// An ELF executable without a program interpreter runs in an empty root filesystem.
fn is_static_elf(path: &Path) -> bool {
    let Ok(bytes) = std::fs::read(path) else {
        return false;
    };
    bytes.starts_with(b"\x7fELF") && !bytes.windows(b"/ld-linux".len()).any(|w| w == b"/ld-linux")
}

/// The root filesystem as a tar archive.
pub fn rootfs_tar(busybox: &Path) -> Result<Vec<u8>, BusyboxImageError> {
    let io = |what: &str, e: std::io::Error| BusyboxImageError::Io(format!("{what}: {e}"));
    let binary = std::fs::read(busybox).map_err(|e| io("read busybox", e))?;
    let list = std::process::Command::new(busybox)
        .arg("--list")
        .output()
        .map_err(|e| io("busybox --list", e))?;
    let applets: Vec<String> = String::from_utf8_lossy(&list.stdout)
        .lines()
        .map(str::trim)
        .filter(|a| !a.is_empty() && *a != "busybox" && !a.contains('/'))
        .map(str::to_string)
        .collect();
    let mut tar = tar::Builder::new(Vec::new());
    let dir = |tar: &mut tar::Builder<Vec<u8>>, path: &str, mode: u32| {
        let mut h = tar::Header::new_gnu();
        h.set_entry_type(tar::EntryType::Directory);
        h.set_mode(mode);
        h.set_size(0);
        h.set_cksum();
        tar.append_data(&mut h, path, std::io::empty())
    };
    let file = |tar: &mut tar::Builder<Vec<u8>>, path: &str, mode: u32, data: &[u8]| {
        let mut h = tar::Header::new_gnu();
        h.set_entry_type(tar::EntryType::Regular);
        h.set_mode(mode);
        h.set_size(data.len() as u64);
        h.set_cksum();
        tar.append_data(&mut h, path, data)
    };
    let mut build = || -> std::io::Result<Vec<u8>> {
        for (d, mode) in [
            ("bin", 0o755),
            ("etc", 0o755),
            ("tmp", 0o1777),
            ("root", 0o700),
        ] {
            dir(&mut tar, d, mode)?;
        }
        file(&mut tar, "bin/busybox", 0o755, &binary)?;
        file(
            &mut tar,
            "etc/passwd",
            0o644,
            b"root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/:/bin/false\n",
        )?;
        file(
            &mut tar,
            "etc/group",
            0o644,
            b"root:x:0:\nnogroup:x:65534:\n",
        )?;
        for applet in &applets {
            let mut h = tar::Header::new_gnu();
            h.set_entry_type(tar::EntryType::Symlink);
            h.set_mode(0o777);
            h.set_size(0);
            tar.append_link(&mut h, format!("bin/{applet}"), "busybox")?;
        }
        tar.finish()?;
        Ok(std::mem::take(tar.get_mut()))
    };
    build().map_err(|e| io("build the image archive", e))
}

/// Make sure the engine has the busybox image under `tag`; build and import it if not.
pub async fn ensure(docker: &Docker, tag: &str) -> Result<(), BusyboxImageError> {
    if docker.inspect_image(tag).await.is_ok() {
        return Ok(());
    }
    let busybox = find_busybox().ok_or(BusyboxImageError::NoBusybox)?;
    let tar = tokio::task::spawn_blocking(move || rootfs_tar(&busybox))
        .await
        .map_err(|e| BusyboxImageError::Io(e.to_string()))??;
    crate::runtime::docker::import_rootfs(docker, tar, tag).await?;
    Ok(())
}
