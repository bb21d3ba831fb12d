//! Writing the CA, server and client files: atomically (a crash never leaves half a key
//! or certificate behind for the next start to choke on) and, for private keys, with
//! mode 0600 from the moment the file exists (never world-readable, not even briefly).

use std::fs::OpenOptions;
use std::io::Write;
use std::path::Path;

use crate::error::{CertsError, Result};

/// Who may read a file we write.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Mode {
    /// Certificates: 0644.
    Public,
    /// Private keys (even encrypted ones): 0600.
    Private,
}

/// Writes `bytes` to `path` through a temporary file in the same directory + rename.
pub(crate) fn write_atomic(path: &Path, bytes: &[u8], mode: Mode) -> Result<()> {
    let tmp = tmp_path(path);
    let _ = std::fs::remove_file(&tmp);
    let result = write_new(&tmp, bytes, mode)
        .and_then(|()| std::fs::rename(&tmp, path).map_err(CertsError::io(path)));
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}

fn write_new(path: &Path, bytes: &[u8], mode: Mode) -> Result<()> {
    let mut opts = OpenOptions::new();
    opts.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(match mode {
            Mode::Public => 0o644,
            Mode::Private => 0o600,
        });
    }
    #[cfg(not(unix))]
    let _ = mode;
    let mut file = opts.open(path).map_err(CertsError::io(path))?;
    file.write_all(bytes).map_err(CertsError::io(path))?;
    file.sync_all().map_err(CertsError::io(path))
}

fn tmp_path(path: &Path) -> std::path::PathBuf {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    path.with_file_name(format!(".{name}.tmp"))
}

/// Reads a text file, naming it in the error.
pub(crate) fn read_text(path: &Path) -> Result<String> {
    std::fs::read_to_string(path).map_err(CertsError::io(path))
}

/// Creates a directory (and its parents) if missing.
pub(crate) fn ensure_dir(dir: &Path) -> Result<()> {
    std::fs::create_dir_all(dir).map_err(CertsError::io(dir))
}
