//! The JWT secret of an SQLite deployment when `JWT_SECRET` is not set: generated on first
//! start and kept in `doorward.key` beside the database file, readable by its owner only.
//!
//! PostgreSQL deployments never come here: several instances must share one key, so there
//! `JWT_SECRET` is required (checked in [`crate::config`]).

use std::fs::OpenOptions;
use std::io::{ErrorKind, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

use crate::config::{ConfigError, JwtSecret};

/// The key file's path: `doorward.key` in the database file's folder.
pub fn path_beside(database: &Path) -> PathBuf {
    database
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .map_or_else(
            || PathBuf::from("doorward.key"),
            |dir| dir.join("doorward.key"),
        )
}

/// Reads the key file, or creates it (mode 0600) with 256 random bits.
pub fn load_or_create(path: &Path) -> Result<JwtSecret, ConfigError> {
    let problem = |what: String| ConfigError {
        setting: "JWT_SECRET",
        problem: what,
    };
    match std::fs::read_to_string(path) {
        Ok(text) => {
            check_private(path).map_err(problem)?;
            return JwtSecret::parse("JWT_SECRET", text.trim().to_owned()).map_err(|e| {
                problem(format!(
                    "the key file {} is unusable: {}",
                    path.display(),
                    e.problem
                ))
            });
        }
        Err(e) if e.kind() == ErrorKind::NotFound => {}
        Err(e) => return Err(problem(format!("cannot read {}: {e}", path.display()))),
    }
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes).map_err(|e| problem(format!("no randomness available: {e}")))?;
    let key = URL_SAFE_NO_PAD.encode(bytes);
    // Written whole to a private temporary file, then linked into place: a crash never leaves
    // a half-written key, and of two instances starting at once the second reads the first's.
    let temporary = path.with_extension(format!("key.{}.tmp", std::process::id()));
    let written = write_private(&temporary, key.as_bytes());
    let linked = written.and_then(|()| std::fs::hard_link(&temporary, path));
    let _ = std::fs::remove_file(&temporary);
    match linked {
        Ok(()) => sync_parent(path),
        Err(e) if e.kind() == ErrorKind::AlreadyExists => return load_or_create(path),
        Err(e) => return Err(problem(format!("cannot create {}: {e}", path.display()))),
    }
    log::warn!(
        "JWT_SECRET is not set: generated a new key in {} (keep it private; every instance \
         must share one key, so set JWT_SECRET for PostgreSQL or several instances)",
        path.display()
    );
    JwtSecret::parse("JWT_SECRET", key)
}

/// Refuses a key file that anyone but its owner may read or write, or that another user owns:
/// whoever can read it can sign tokens for any account.
fn check_private(path: &Path) -> Result<(), String> {
    use std::os::unix::fs::{MetadataExt, PermissionsExt};
    let metadata =
        std::fs::metadata(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    let mode = metadata.permissions().mode() & 0o777;
    if mode & 0o077 != 0 {
        return Err(format!(
            "the key file {} has mode {mode:o}: it must be readable by its owner only (chmod 600)",
            path.display()
        ));
    }
    // The owner of /proc/self is this process's effective user.
    if let Ok(me) = std::fs::metadata("/proc/self")
        && me.uid() != metadata.uid()
    {
        return Err(format!(
            "the key file {} belongs to another user (uid {})",
            path.display(),
            metadata.uid()
        ));
    }
    Ok(())
}

fn write_private(path: &Path, contents: &[u8]) -> std::io::Result<()> {
    let mut file = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)?;
    file.write_all(contents)?;
    file.sync_all()
}

/// Makes the new directory entry durable; a failure only weakens crash safety, so it is logged.
fn sync_parent(path: &Path) {
    let parent = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    if let Err(e) = std::fs::File::open(parent).and_then(|dir| dir.sync_all()) {
        log::warn!("cannot sync {}: {e}", parent.display());
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn the_key_is_created_once_with_owner_only_permissions() {
        let dir = tempfile::tempdir().unwrap();
        let path = path_beside(&dir.path().join("doorward.db"));
        let first = load_or_create(&path).unwrap();
        let mode = std::fs::metadata(&path).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
        let second = load_or_create(&path).unwrap();
        assert_eq!(first.expose(), second.expose());
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
        let refused = load_or_create(&path).unwrap_err();
        assert!(refused.problem.contains("chmod 600"), "{refused}");
        assert_eq!(
            path_beside(Path::new("doorward.db")),
            PathBuf::from("doorward.key")
        );
    }
}
