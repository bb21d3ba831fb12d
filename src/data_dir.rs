//! The data dir holds secrets: the master key (`auth.key`), the CA key and its
//! passphrase, the database (password and client-secret hashes, the event outbox),
//! reset mail with live tokens. Everything in it is for the broker's user alone:
//! files 0600, directories 0700.
//!
//! Two parts: a process umask of 077 set first thing in `main` ([`restrict_umask`]), so
//! whatever is created later is private, including the files SQLite creates itself
//! (`-wal`, `-shm`, `-journal`), which no open mode of ours reaches; and at start a walk
//! over an existing data dir ([`make_private`]) that takes group/other permissions
//! away from what an older version, a restore or a hand-made directory left open,
//! logging each path it fixes.

use std::path::Path;

/// New files become at most 0600 and new directories 0700 (what `mkdir`/`open` ask
/// for, minus group and other). Affects the whole process, which is the point: the
/// files SQLite and libraries create are covered too.
pub fn restrict_umask() {
    #[cfg(unix)]
    // SAFETY: umask only swaps the process's file-creation mask; it has no memory
    // effects and cannot fail. Called before any thread is started.
    unsafe {
        libc::umask(0o077);
    }
}

/// Creates `dir` (0700) if needed and makes it and everything under it private:
/// files 0600 at most, directories 0700. Symbolic links are not followed (what they
/// point to is the operator's choice, e.g. `--tls-cert` files kept elsewhere).
pub fn make_private(dir: &Path) -> std::io::Result<()> {
    std::fs::create_dir_all(dir)?;
    restrict_tree(dir)
}

#[cfg(unix)]
fn restrict_tree(path: &Path) -> std::io::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    let meta = std::fs::symlink_metadata(path)?;
    if meta.file_type().is_symlink() {
        return Ok(());
    }
    let mode = meta.permissions().mode() & 0o7777;
    if mode & 0o077 != 0 {
        let private = mode & 0o700;
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(private))?;
        tracing::warn!(
            path = %path.display(),
            was = %format!("{mode:04o}"),
            now = %format!("{private:04o}"),
            "data dir entry was readable by others; made private"
        );
    }
    if meta.is_dir() {
        for entry in std::fs::read_dir(path)? {
            restrict_tree(&entry?.path())?;
        }
    }
    Ok(())
}

#[cfg(not(unix))]
fn restrict_tree(_path: &Path) -> std::io::Result<()> {
    Ok(())
}

#[cfg(all(test, unix))]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    fn mode(p: &Path) -> u32 {
        std::fs::symlink_metadata(p).unwrap().permissions().mode() & 0o7777
    }

    #[test]
    fn open_entries_become_private_and_links_are_left_alone() {
        let temp = tempfile::tempdir().unwrap();
        let data = temp.path().join("data");
        std::fs::create_dir_all(data.join("mail")).unwrap();
        std::fs::write(data.join("magnetite.db"), b"x").unwrap();
        std::fs::write(data.join("mail/a.eml"), b"x").unwrap();
        std::fs::write(data.join("run.sh"), b"x").unwrap();
        let outside = temp.path().join("server.crt");
        std::fs::write(&outside, b"x").unwrap();
        std::os::unix::fs::symlink(&outside, data.join("server.crt")).unwrap();
        for (p, m) in [
            (&data, 0o755),
            (&data.join("mail"), 0o777),
            (&data.join("magnetite.db"), 0o644),
            (&data.join("mail/a.eml"), 0o666),
            (&data.join("run.sh"), 0o750),
            (&outside, 0o644),
        ] {
            std::fs::set_permissions(p, std::fs::Permissions::from_mode(m)).unwrap();
        }
        make_private(&data).unwrap();
        assert_eq!(mode(&data), 0o700);
        assert_eq!(mode(&data.join("mail")), 0o700);
        assert_eq!(mode(&data.join("magnetite.db")), 0o600);
        assert_eq!(mode(&data.join("mail/a.eml")), 0o600);
        assert_eq!(mode(&data.join("run.sh")), 0o700, "owner bits are kept");
        assert_eq!(mode(&outside), 0o644, "a link's target is not ours");
    }
}
