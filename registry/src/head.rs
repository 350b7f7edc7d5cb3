//! The ledger head kept outside the database: the largest tree size the registry has published
//! a checkpoint for, and its root, in `ledger.head` beside the keys (mode 0600).
//!
//! A database restored from a backup (or otherwise rolled back) holds fewer leaves than the
//! registry has already signed; left alone it would sign those sizes again with other roots,
//! a fork every device would detect. The head is written durably (temporary file, fsync,
//! rename, fsync of the directory) before a checkpoint of a larger tree is given out, and the
//! registry refuses to sign or serve a tree that does not extend it, until an operator runs
//! `birthright registry recover --data DIR`. See `docs/PROTOCOL.md` §13.

use std::{
    fs,
    io::Write,
    path::{Path, PathBuf},
    sync::Mutex,
};

use base64::{Engine, engine::general_purpose::STANDARD as B64};
use birthright_core::ledger::Hash;

use crate::store::StoreError;

/// File name of the ledger head.
pub const HEAD_FILE: &str = "ledger.head";
/// First line of the head file.
const MAGIC: &str = "birthright-ledger-head/v1";

/// The head file and what was last read from or written to it.
pub struct HeadFile {
    path: PathBuf,
    state: Mutex<HeadState>,
}

#[derive(Default)]
struct HeadState {
    head: Option<(u64, Hash)>,
    /// A tree size already checked against the head in this process (nodes of a size never
    /// change, so it need not be checked again).
    verified: Option<u64>,
}

fn head_error(path: &Path, message: impl Into<String>) -> StoreError {
    StoreError::Head {
        path: path.to_path_buf(),
        message: message.into(),
    }
}

fn parse(path: &Path, text: &str) -> Result<(u64, Hash), StoreError> {
    let mut lines = text.lines();
    let bad = || head_error(path, "not a ledger head file");
    if lines.next() != Some(MAGIC) {
        return Err(bad());
    }
    let size: u64 = lines.next().and_then(|l| l.parse().ok()).ok_or_else(bad)?;
    let root: Hash = lines
        .next()
        .and_then(|l| B64.decode(l).ok())
        .and_then(|b| b.try_into().ok())
        .ok_or_else(bad)?;
    if lines.next().is_some() {
        return Err(bad());
    }
    Ok((size, root))
}

impl HeadFile {
    /// Opens the head file at `path` (it need not exist yet).
    pub fn open(path: &Path) -> Result<HeadFile, StoreError> {
        let head = match fs::read_to_string(path) {
            Ok(text) => Some(parse(path, &text)?),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
            Err(e) => return Err(head_error(path, e.to_string())),
        };
        Ok(HeadFile {
            path: path.to_path_buf(),
            state: Mutex::new(HeadState {
                head,
                verified: None,
            }),
        })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HeadState> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The recorded head.
    pub fn get(&self) -> Option<(u64, Hash)> {
        self.lock().head
    }

    /// Whether `size` was already checked against the head.
    pub fn verified(&self, size: u64) -> bool {
        self.lock().verified == Some(size)
    }

    /// Notes that the tree of `size` extends the head.
    pub fn mark_verified(&self, size: u64) {
        self.lock().verified = Some(size);
    }

    /// Records (size, root) as the head if it is larger than the recorded one, durably.
    pub fn advance(&self, size: u64, root: &Hash) -> Result<(), StoreError> {
        let mut state = self.lock();
        if state.head.is_some_and(|(s, _)| s >= size) {
            return Ok(());
        }
        self.write(size, root)?;
        state.head = Some((size, *root));
        state.verified = Some(size);
        Ok(())
    }

    /// Records (size, root) whatever the recorded head (`registry recover`).
    pub fn replace(&self, size: u64, root: &Hash) -> Result<(), StoreError> {
        let mut state = self.lock();
        self.write(size, root)?;
        state.head = Some((size, *root));
        state.verified = Some(size);
        Ok(())
    }

    fn write(&self, size: u64, root: &Hash) -> Result<(), StoreError> {
        let io = |e: std::io::Error| head_error(&self.path, e.to_string());
        let tmp = self.path.with_extension("head.tmp");
        let mut options = fs::OpenOptions::new();
        options.write(true).create(true).truncate(true);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
        let mut f = options.open(&tmp).map_err(io)?;
        write!(f, "{MAGIC}\n{size}\n{}\n", B64.encode(root)).map_err(io)?;
        f.sync_all().map_err(io)?;
        drop(f);
        fs::rename(&tmp, &self.path).map_err(io)?;
        #[cfg(unix)]
        if let Some(dir) = self.path.parent() {
            fs::File::open(dir).and_then(|d| d.sync_all()).map_err(io)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn head_round_trips_only_grows_and_refuses_garbage() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(HEAD_FILE);
        let head = HeadFile::open(&path).unwrap();
        assert_eq!(head.get(), None);
        head.advance(5, &[7; 32]).unwrap();
        head.advance(3, &[1; 32]).unwrap();
        assert_eq!(HeadFile::open(&path).unwrap().get(), Some((5, [7; 32])));
        head.replace(3, &[1; 32]).unwrap();
        assert_eq!(HeadFile::open(&path).unwrap().get(), Some((3, [1; 32])));
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = fs::metadata(&path).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        fs::write(&path, "something else\n").unwrap();
        assert!(matches!(
            HeadFile::open(&path),
            Err(StoreError::Head { .. })
        ));
    }
}
