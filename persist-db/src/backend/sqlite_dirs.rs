//! SQLite test directories as a person sees them: which there are, whose, whether their owner
//! is alive, what a kept one holds, and removing a kept one once read.
//!
//! A kept directory's `.persist-kept` marker holds its manifest (JSON): the test, when it was
//! kept, and each database with its role, so that a tool finds a kept test's gateway without
//! guessing from file names.

use std::fs::File;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::DatabaseLocation;
use super::sqlite::{DIR_PREFIX, KEPT_FILE, OWNER_FILE};
use crate::DatabaseRole;
use crate::error::{Error, Result};

/// One test directory under a parent (`PERSIST_TEST_DIR`, or the temporary directory).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct TestDirectory {
    /// The directory.
    pub path: PathBuf,
    /// The test it was made for, as the directory's manifest records it (kept directories);
    /// `None` for a directory still in use or left by a dead process.
    pub test: Option<String>,
    /// Whether it is kept for a person (never swept).
    pub kept: bool,
    /// Whether its owner (a running test) still holds it.
    pub owner_alive: bool,
    /// When it was kept, epoch milliseconds.
    pub kept_at_ms: Option<i64>,
    /// The bytes of its files.
    pub size_bytes: u64,
    /// Its databases: with their roles when kept, else one per file, without a role.
    pub databases: Vec<DatabaseLocation>,
}

#[derive(Serialize, Deserialize)]
struct Manifest {
    test: String,
    kept_at_ms: i64,
    databases: Vec<ManifestEntry>,
}

#[derive(Serialize, Deserialize)]
struct ManifestEntry {
    role: String,
    name: String,
    file: String,
}

/// Writes the manifest of a kept directory: called once the directory is marked kept, with
/// the test's label and its databases. Locations outside a kept test directory (in memory, a
/// custom backend's) write nothing.
pub(crate) fn write_manifest(
    test: &str,
    locations: &[(DatabaseRole, DatabaseLocation)],
) -> Result<()> {
    let Some(dir) = locations
        .iter()
        .find_map(|(_, l)| l.path.as_deref().and_then(Path::parent))
    else {
        return Ok(());
    };
    let marker = dir.join(KEPT_FILE);
    if !marker.exists() {
        return Ok(());
    }
    let manifest = Manifest {
        test: test.to_owned(),
        kept_at_ms: now_ms(),
        databases: locations
            .iter()
            .filter_map(|(role, l)| {
                let file = l.path.as_deref()?.file_name()?.to_str()?.to_owned();
                Some(ManifestEntry {
                    role: role.to_string(),
                    name: l.name.clone(),
                    file,
                })
            })
            .collect(),
    };
    let text = serde_json::to_vec_pretty(&manifest).expect("a manifest is plain data");
    std::fs::write(&marker, text).map_err(|source| Error::Io {
        operation: "writing the kept manifest",
        path: marker,
        source,
    })
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

/// Every test directory under `parent`, kept ones newest first, then the others by name. A
/// parent that does not exist has none.
pub fn list_test_directories(parent: &Path) -> Result<Vec<TestDirectory>> {
    let entries = match std::fs::read_dir(parent) {
        Ok(entries) => entries,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(source) => {
            return Err(Error::Io {
                operation: "listing test directories in",
                path: parent.to_owned(),
                source,
            });
        }
    };
    let mut dirs = Vec::new();
    for entry in entries.flatten() {
        let is_test_dir = entry
            .file_name()
            .to_str()
            .is_some_and(|n| n.starts_with(DIR_PREFIX));
        if is_test_dir && entry.file_type().is_ok_and(|t| t.is_dir()) {
            dirs.push(read_directory(&entry.path()));
        }
    }
    dirs.sort_by(|a, b| {
        b.kept
            .cmp(&a.kept)
            .then(b.kept_at_ms.cmp(&a.kept_at_ms))
            .then(a.path.cmp(&b.path))
    });
    Ok(dirs)
}

fn read_directory(dir: &Path) -> TestDirectory {
    let marker = dir.join(KEPT_FILE);
    let kept = marker.exists();
    let manifest: Option<Manifest> = std::fs::read(&marker)
        .ok()
        .and_then(|bytes| serde_json::from_slice(&bytes).ok());
    // A lock this process can take is nobody's: taken and let go at once.
    let owner_alive = File::options()
        .write(true)
        .open(dir.join(OWNER_FILE))
        .is_ok_and(|owner| owner.try_lock().is_err());
    let mut size_bytes = 0;
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let len = entry.metadata().map(|m| m.len()).unwrap_or(0);
        size_bytes += len;
        let name = entry.file_name().to_string_lossy().into_owned();
        if let Some(stem) = name.strip_suffix(".sqlite3") {
            files.push((stem.to_owned(), entry.path()));
        }
    }
    files.sort();
    let location = |name: &str, path: PathBuf| {
        DatabaseLocation::new(name, format!("sqlite://{}?mode=rw", path.display())).with_path(path)
    };
    let databases = match &manifest {
        Some(manifest) => manifest
            .databases
            .iter()
            .map(|e| {
                let mut l = location(&e.name, dir.join(&e.file));
                l.role = Some(e.role.clone());
                l
            })
            .collect(),
        None => files
            .into_iter()
            .map(|(stem, path)| location(&stem, path))
            .collect(),
    };
    TestDirectory {
        path: dir.to_owned(),
        test: manifest.as_ref().map(|m| m.test.clone()),
        kept,
        owner_alive,
        kept_at_ms: manifest.as_ref().map(|m| m.kept_at_ms),
        size_bytes,
        databases,
    }
}

/// Removes a kept test directory once a person is done with it. Anything else is refused:
/// a directory that is not a test directory, or not kept ([`Error::NotKept`]; the sweeps
/// deal with those).
pub fn remove_kept_directory(dir: &Path) -> Result<()> {
    let name = dir.file_name().and_then(|n| n.to_str()).unwrap_or_default();
    if !name.starts_with(DIR_PREFIX) || !dir.join(KEPT_FILE).exists() {
        return Err(Error::NotKept {
            name: dir.display().to_string(),
        });
    }
    std::fs::remove_dir_all(dir).map_err(|source| Error::Io {
        operation: "removing the kept test directory",
        path: dir.to_owned(),
        source,
    })
}
