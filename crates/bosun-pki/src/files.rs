//! The files security material lives in: read if present, written atomically with a mode, and
//! an exclusive lock on their directory while they are created.

use crate::{PkiError, Result};
use std::fs::{DirBuilder, File, OpenOptions};
use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::Path;

/// Mode of private keys and token files.
pub(crate) const PRIVATE: u32 = 0o600;
/// Mode of certificates, which are public.
pub(crate) const PUBLIC: u32 = 0o644;

pub(crate) fn io_error(path: &Path) -> impl FnOnce(std::io::Error) -> PkiError + '_ {
    move |source| PkiError::Io {
        path: path.to_path_buf(),
        source,
    }
}

pub(crate) fn corrupt(path: &Path, reason: impl ToString) -> PkiError {
    PkiError::Corrupt {
        path: path.to_path_buf(),
        reason: reason.to_string(),
    }
}

/// The file's text, or `None` when it does not exist.
pub(crate) fn read_optional(path: &Path) -> Result<Option<String>> {
    match std::fs::read(path) {
        Ok(bytes) => String::from_utf8(bytes)
            .map(Some)
            .map_err(|_| corrupt(path, "not UTF-8 text")),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(source) => Err(PkiError::Io {
            path: path.to_path_buf(),
            source,
        }),
    }
}

/// Create `dir` (and its parents) readable by the owner only; an existing dir is left as is.
pub(crate) fn create_private_dir(dir: &Path) -> Result<()> {
    DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
        .map_err(io_error(dir))
}

/// Hold an exclusive lock on `dir` until the returned file is dropped, so that two processes
/// (or two replicas in one process) creating the same files do not interleave.
pub(crate) fn lock_dir(dir: &Path) -> Result<File> {
    let handle = File::open(dir).map_err(io_error(dir))?;
    handle.lock().map_err(io_error(dir))?;
    Ok(handle)
}

/// Replace `path` with `contents` atomically: a reader sees the old file or the new one, never
/// a part. The new file gets `mode` (less the umask).
pub(crate) fn write_atomic(path: &Path, contents: &str, mode: u32) -> Result<()> {
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    let name = path
        .file_name()
        .ok_or_else(|| corrupt(path, "not a file name"))?;
    let tmp = dir.join(format!(".{}.tmp", name.to_string_lossy()));
    let mut file = OpenOptions::new()
        .create(true)
        .write(true)
        .truncate(true)
        .mode(mode)
        .open(&tmp)
        .map_err(io_error(&tmp))?;
    // An earlier, interrupted write may have left the temporary file with another mode.
    use std::os::unix::fs::PermissionsExt;
    if mode == PRIVATE {
        file.set_permissions(std::fs::Permissions::from_mode(PRIVATE))
            .map_err(io_error(&tmp))?;
    }
    file.write_all(contents.as_bytes())
        .map_err(io_error(&tmp))?;
    file.sync_all().map_err(io_error(&tmp))?;
    drop(file);
    std::fs::rename(&tmp, path).map_err(io_error(path))?;
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(io_error(dir))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn private_files_are_written_with_mode_0600_and_replaced_whole() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("secret.key");
        write_atomic(&path, "one", PRIVATE).expect("write");
        write_atomic(&path, "two", PRIVATE).expect("rewrite");
        assert_eq!(read_optional(&path).expect("read").as_deref(), Some("two"));
        let mode = std::fs::metadata(&path).expect("stat").permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
        let names: Vec<_> = std::fs::read_dir(dir.path())
            .expect("ls")
            .map(|e| e.expect("entry").file_name())
            .collect();
        assert_eq!(
            names,
            vec!["secret.key"],
            "no temporary file is left behind"
        );
    }

    #[test]
    fn a_missing_file_reads_as_none_and_a_binary_one_is_named() {
        let dir = tempfile::tempdir().expect("tempdir");
        assert_eq!(
            read_optional(&dir.path().join("absent")).expect("read"),
            None
        );
        let binary = dir.path().join("binary.crt");
        std::fs::write(&binary, [0xff, 0xfe, 0x00]).expect("write");
        let err = read_optional(&binary).expect_err("not text");
        assert!(err.to_string().contains("binary.crt"), "{err}");
    }
}
