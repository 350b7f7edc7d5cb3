//! Reading and writing the files named on the command line: every read bounded (a path may be
//! `/dev/zero` or a huge file), every output written beside its destination and renamed into
//! place, never through a symbolic link.

use std::{
    fs,
    io::{Read, Write},
    path::Path,
};

use anyhow::{Context, Result, bail};

/// Largest trust bundle read (the core accepts 16 KiB).
pub(crate) const MAX_TRUST_BYTES: u64 = 16 * 1024;
/// Largest revocation list read (the core's limit for registry-signed objects).
pub(crate) const MAX_REVOCATIONS_BYTES: u64 =
    birthright_core::trust::MAX_SIGNED_OBJECT_BYTES as u64;
/// Largest image read (the QR reader's limit).
pub(crate) const MAX_IMAGE_BYTES: u64 = birthright_core::credential::qr::MAX_IMAGE_BYTES as u64;
/// Largest storage key file read (64 hex digits and a newline, with room for spaces).
pub(crate) const MAX_KEY_FILE_BYTES: u64 = 1024;

/// Reads at most `limit` bytes of `path`; a larger file (or an endless one such as
/// `/dev/zero`) is an error saying so, after reading `limit + 1` bytes at most.
pub(crate) fn read_bounded(path: &Path, limit: u64) -> Result<Vec<u8>> {
    let file = fs::File::open(path).with_context(|| format!("reading {}", path.display()))?;
    let mut bytes = Vec::new();
    file.take(limit.saturating_add(1))
        .read_to_end(&mut bytes)
        .with_context(|| format!("reading {}", path.display()))?;
    if bytes.len() as u64 > limit {
        bail!("{} is larger than {limit} bytes", path.display());
    }
    Ok(bytes)
}

/// [`read_bounded`], or standard input when `path` is `-`.
pub(crate) fn read_bounded_or_stdin(path: &Path, limit: u64) -> Result<Vec<u8>> {
    if path != Path::new("-") {
        return read_bounded(path, limit);
    }
    let mut bytes = Vec::new();
    std::io::stdin()
        .lock()
        .take(limit.saturating_add(1))
        .read_to_end(&mut bytes)
        .context("reading standard input")?;
    if bytes.len() as u64 > limit {
        bail!("standard input is larger than {limit} bytes");
    }
    Ok(bytes)
}

/// Writes `bytes` to `path` (mode 0600: a credential names a child): into a new temporary file
/// in the same directory, then renamed over `path`. Refuses a `path` that is a symbolic link
/// (it would otherwise overwrite whatever the link points to) or anything but a regular file;
/// the rename replaces a link swapped in meanwhile rather than following it.
pub(crate) fn write_replacing(path: &Path, bytes: &[u8]) -> Result<()> {
    match fs::symlink_metadata(path) {
        Ok(meta) if meta.file_type().is_symlink() => bail!(
            "{} is a symbolic link: refusing to write through it (give the real path)",
            path.display()
        ),
        Ok(meta) if !meta.file_type().is_file() => {
            bail!("{} exists and is not a regular file", path.display())
        }
        Ok(_) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(e).with_context(|| format!("checking {}", path.display())),
    }
    let dir = match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir,
        _ => Path::new("."),
    };
    let mut temp = tempfile::NamedTempFile::new_in(dir)
        .with_context(|| format!("creating a temporary file in {}", dir.display()))?;
    temp.write_all(bytes)
        .and_then(|_| temp.as_file().sync_all())
        .with_context(|| format!("writing {}", path.display()))?;
    temp.persist(path)
        .map_err(|e| e.error)
        .with_context(|| format!("writing {}", path.display()))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_are_bounded() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("f");
        fs::write(&file, [7u8; 100]).unwrap();
        assert_eq!(read_bounded(&file, 100).unwrap().len(), 100);
        let err = read_bounded(&file, 99).unwrap_err().to_string();
        assert!(err.ends_with("is larger than 99 bytes"), "{err}");
        #[cfg(unix)]
        {
            let err = read_bounded(Path::new("/dev/zero"), 1024)
                .unwrap_err()
                .to_string();
            assert_eq!(err, "/dev/zero is larger than 1024 bytes");
        }
    }

    #[cfg(unix)]
    #[test]
    fn writes_never_follow_a_symlink() {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("target");
        fs::write(&target, b"precious").unwrap();
        let link = dir.path().join("link");
        std::os::unix::fs::symlink(&target, &link).unwrap();
        let err = write_replacing(&link, b"credential")
            .unwrap_err()
            .to_string();
        assert!(err.contains("symbolic link"), "{err}");
        assert_eq!(fs::read(&target).unwrap(), b"precious");
        assert!(
            fs::symlink_metadata(&link)
                .unwrap()
                .file_type()
                .is_symlink()
        );
        // A regular file is replaced, and nothing is left beside it.
        let out = dir.path().join("out");
        fs::write(&out, b"old").unwrap();
        write_replacing(&out, b"new").unwrap();
        assert_eq!(fs::read(&out).unwrap(), b"new");
        assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 3);
        // A directory is not a file to write.
        assert!(write_replacing(dir.path(), b"x").is_err());
    }
}
