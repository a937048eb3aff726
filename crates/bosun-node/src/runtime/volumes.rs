//! Pod volumes on the host: every runtime keeps a pod's emptyDir, configMap and secret
//! volumes as directories under `<root>/<pod uid>/volumes/<volume>/` (the Docker runtime bind
//! mounts them into the containers).

use super::{Result, RuntimeError, VolumeData};
use std::path::{Path, PathBuf};

fn io(what: &str, path: &Path, e: std::io::Error) -> RuntimeError {
    RuntimeError::Runtime(format!("{what} {}: {e}", path.display()))
}

/// The directory of a pod under `root`; refuses uids that could name another place.
pub fn pod_dir(root: &Path, pod_uid: &str) -> Result<PathBuf> {
    if pod_uid.is_empty() || pod_uid.contains(['/', '.']) {
        return Err(RuntimeError::Runtime(format!("bad pod uid {pod_uid:?}")));
    }
    Ok(root.join(pod_uid))
}

/// Write a file through a temporary name, so readers never see half of it.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, bytes).map_err(|e| io("write", &tmp, e))?;
    std::fs::rename(&tmp, path).map_err(|e| io("rename", path, e))
}

/// Create the volume directories of a pod under `volumes_dir` and write their files.
pub fn write_volumes(volumes_dir: &Path, volumes: &[VolumeData]) -> Result<()> {
    std::fs::create_dir_all(volumes_dir).map_err(|e| io("create", volumes_dir, e))?;
    for volume in volumes {
        if volume.name.is_empty() || volume.name.contains(['/', '.']) {
            return Err(RuntimeError::CreateContainer {
                reason: "CreateContainerConfigError",
                message: format!("bad volume name {:?}", volume.name),
            });
        }
        let vdir = volumes_dir.join(&volume.name);
        std::fs::create_dir_all(&vdir).map_err(|e| io("create", &vdir, e))?;
        for (file, bytes) in &volume.files {
            if file.split('/').any(|part| part == ".." || part.is_empty()) {
                return Err(RuntimeError::CreateContainer {
                    reason: "CreateContainerConfigError",
                    message: format!("volume {:?}: bad file name {file:?}", volume.name),
                });
            }
            let path = vdir.join(file);
            if let Some(parent) = path.parent() {
                std::fs::create_dir_all(parent).map_err(|e| io("create", parent, e))?;
            }
            write_atomic(&path, bytes)?;
        }
    }
    Ok(())
}

/// Remove a pod's directory; a missing one is fine.
pub fn remove_pod_dir(dir: &Path) -> Result<()> {
    match std::fs::remove_dir_all(dir) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(io("remove", dir, e)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    #[test]
    fn volume_files_are_written_and_escapes_refused() {
        let dir = tempfile::tempdir().expect("tempdir");
        let ok = VolumeData {
            name: "config".into(),
            files: BTreeMap::from([("a/b".to_string(), b"x".to_vec())]),
        };
        write_volumes(dir.path(), std::slice::from_ref(&ok)).expect("write");
        assert_eq!(
            std::fs::read(dir.path().join("config/a/b")).expect("read"),
            b"x"
        );
        let bad = VolumeData {
            name: "config".into(),
            files: BTreeMap::from([("../x".to_string(), b"x".to_vec())]),
        };
        assert!(write_volumes(dir.path(), &[bad]).is_err());
        assert!(pod_dir(dir.path(), "../etc").is_err());
        assert!(pod_dir(dir.path(), "").is_err());
    }
}
