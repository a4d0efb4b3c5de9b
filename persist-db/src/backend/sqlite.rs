//! SQLite files in a private temporary directory.
//!
//! Each manager's directory holds an owner lock (a file lock on `.persist-owner`) for as long
//! as its manager lives. A process killed mid-test releases it with its last breath, so the
//! next process to start sweeps the directory: liveness is the lock, never a process id, and
//! holds across containers and pid namespaces that share the directory. A kept directory is
//! marked `.persist-kept` and never swept.
//!
//! A directory is made and its owner file locked under the parent's *making lock*, which a
//! sweep also holds while it judges directories: a directory the sweep finds without a held
//! owner lock is then either finished and abandoned, or was being made by a process killed
//! before it locked its owner file. Either way it is gone, and a directory still being made
//! is never judged halfway.

use std::fs::File;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::{Duration, SystemTime};

use futures::future::BoxFuture;
use tempfile::TempDir;

use super::template::{forget, io, sweep_templates, template_dir, template_file};
use super::{
    BackendKind, DatabaseLocation, Engine, SchemaTemplate, connect_ahead, lazy_sqlite, short_label,
};
use crate::env::TEST_DIR_ENV;
use crate::error::{Error, Result};
use sea_orm::{DatabaseConnection, DbErr};

/// The prefix of every test directory.
pub(crate) const DIR_PREFIX: &str = "persist-test-";
pub(super) const OWNER_FILE: &str = ".persist-owner";
pub(super) const KEPT_FILE: &str = ".persist-kept";
/// Without the making lock, a directory with no owner file is left alone this long (its owner
/// may be making it).
const UNOWNED_GRACE: Duration = Duration::from_secs(3600);
/// Sweeps are spaced this far apart across processes: under nextest every test is a process.
const SWEEP_EVERY: Duration = Duration::from_secs(10);

/// The parent of test directories: `PERSIST_TEST_DIR` if set, else the temporary directory.
pub(crate) fn default_parent() -> PathBuf {
    crate::env::var_os(TEST_DIR_ENV)
        .map(PathBuf::from)
        .unwrap_or_else(std::env::temp_dir)
}

/// One private directory per manager, one file per database.
#[derive(Debug)]
pub struct SqliteFileBackend {
    root: PathBuf,
    dir: Mutex<Option<(TempDir, File)>>,
}

impl SqliteFileBackend {
    /// Makes the private directory, named after `label`, under `PERSIST_TEST_DIR` if set,
    /// else under the system's temporary directory.
    pub fn new(label: &str) -> Result<Self> {
        Self::new_in(&default_parent(), label)
    }

    /// Makes the private directory, named after `label`, under `parent`, and sweeps from
    /// `parent` the directories of owners that are gone.
    pub fn new_in(parent: &Path, label: &str) -> Result<Self> {
        sweep_now_and_then(parent);
        let making = making_lock(parent);
        let dir = tempfile::Builder::new()
            .prefix(&format!("{DIR_PREFIX}{}-", short_label(label, 40)))
            .tempdir_in(parent)
            .map_err(io("creating a test directory in", parent))?;
        let owner_path = dir.path().join(OWNER_FILE);
        let owner = File::create(&owner_path).map_err(io("creating", &owner_path))?;
        owner.try_lock().map_err(|e| Error::Io {
            operation: "locking",
            path: owner_path,
            source: e.into(),
        })?;
        drop(making);
        Ok(SqliteFileBackend {
            root: dir.path().to_owned(),
            dir: Mutex::new(Some((dir, owner))),
        })
    }

    /// The private directory.
    #[cfg(test)]
    fn directory(&self) -> &Path {
        &self.root
    }

    /// Where database `name` lives.
    fn location(&self, name: &str) -> DatabaseLocation {
        let path = self.root.join(format!("{name}.sqlite3"));
        DatabaseLocation::new(name, format!("sqlite://{}?mode=rw", path.display())).with_path(path)
    }
}

fn remove(path: &Path) -> Result<()> {
    match std::fs::remove_file(path) {
        Err(e) if e.kind() != io::ErrorKind::NotFound => Err(Error::Io {
            operation: "removing",
            path: path.to_owned(),
            source: e,
        }),
        _ => Ok(()),
    }
}

impl Engine for SqliteFileBackend {
    fn kind(&self) -> BackendKind {
        BackendKind::SqliteFile
    }

    fn create_database<'a>(&'a self, name: &'a str) -> BoxFuture<'a, Result<DatabaseLocation>> {
        Box::pin(async move {
            let location = self.location(name);
            let path = location.path.as_deref().unwrap_or(&self.root);
            std::fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .open(path)
                .map_err(io("creating", path))?;
            Ok(location)
        })
    }

    fn create_from_template<'a>(
        &'a self,
        name: &'a str,
        template: &'a SchemaTemplate,
    ) -> BoxFuture<'a, Result<Option<DatabaseLocation>>> {
        Box::pin(async move {
            let location = self.location(name);
            let path = location.path.clone().unwrap_or_default();
            if path.exists() {
                return Err(Error::Io {
                    operation: "creating",
                    path,
                    source: io::ErrorKind::AlreadyExists.into(),
                });
            }
            let templates = default_parent();
            let source = template_file(&templates, template).await?;
            match std::fs::copy(&source, &path) {
                Ok(_) => Ok(Some(location)),
                // Someone removed the template under us: build it again, once.
                Err(e) if e.kind() == io::ErrorKind::NotFound && !source.exists() => {
                    forget(&templates, template);
                    let source = template_file(&templates, template).await?;
                    std::fs::copy(&source, &path).map_err(|e| copy_failed(e, &source, &path))?;
                    Ok(Some(location))
                }
                Err(e) => Err(copy_failed(e, &source, &path)),
            }
        })
    }

    fn drop_database<'a>(&'a self, location: &'a DatabaseLocation) -> BoxFuture<'a, Result<()>> {
        Box::pin(async move {
            let Some(path) = &location.path else {
                return Ok(());
            };
            remove(path)?;
            for suffix in ["-wal", "-shm", "-journal"] {
                let mut side = path.clone().into_os_string();
                side.push(suffix);
                remove(Path::new(&side))?;
            }
            Ok(())
        })
    }

    fn connect<'a>(
        &'a self,
        location: &'a DatabaseLocation,
    ) -> BoxFuture<'a, std::result::Result<DatabaseConnection, DbErr>> {
        // A test database needs no protection from power loss: writes go to the operating
        // system without waiting for the disk. A crashing test process loses nothing, and a
        // kept database is as complete as ever.
        Box::pin(async move {
            let db = lazy_sqlite(&location.url, true, 1)?;
            connect_ahead(&db);
            Ok(db)
        })
    }

    fn connect_one<'a>(
        &'a self,
        location: &'a DatabaseLocation,
    ) -> BoxFuture<'a, std::result::Result<DatabaseConnection, DbErr>> {
        Box::pin(async move { lazy_sqlite(&location.url, true, 1) })
    }

    fn catalog_key<'a>(
        &'a self,
        label: &'a str,
        schema: &'a std::sync::Arc<dyn crate::apply::ApplySchema>,
    ) -> BoxFuture<'a, Result<Option<String>>> {
        Box::pin(async move { super::template::catalog_key(label, schema).await.map(Some) })
    }

    fn release(&self, keep: bool) -> BoxFuture<'_, Result<()>> {
        Box::pin(async move {
            let dir = self
                .dir
                .lock()
                .unwrap_or_else(|poisoned| poisoned.into_inner())
                .take();
            match dir {
                None => Ok(()),
                Some((dir, owner)) if keep => {
                    // Marked before the owner lock goes, so no sweep ever sees it unowned.
                    let marker = self.root.join(KEPT_FILE);
                    File::create(&marker).map_err(io("marking as kept", &marker))?;
                    drop(owner);
                    let _ = dir.keep();
                    Ok(())
                }
                Some((dir, owner)) => {
                    let closed = dir
                        .close()
                        .map_err(io("removing the test directory", &self.root));
                    drop(owner);
                    closed
                }
            }
        })
    }
}

/// Sweeps `parent` unless some process did so in the last [`SWEEP_EVERY`].
fn sweep_now_and_then(parent: &Path) {
    let Ok(stamp) = parent_file(parent, "sweep", "stamp") else {
        sweep(parent);
        return;
    };
    let recent = std::fs::metadata(&stamp)
        .and_then(|m| m.modified())
        .ok()
        .and_then(|at| SystemTime::now().duration_since(at).ok())
        .is_some_and(|age| age < SWEEP_EVERY);
    if recent {
        return;
    }
    let _ = File::create(&stamp);
    sweep(parent);
}

/// A file about `parent`'s test directories (`<what>-<key of parent>.<ext>`), kept with the
/// templates so that a parent holds nothing but test directories.
fn parent_file(parent: &Path, what: &str, ext: &str) -> io::Result<PathBuf> {
    let shared = template_dir(&default_parent());
    std::fs::create_dir_all(&shared)?;
    let key = crate::Fingerprint::of([parent.as_os_str().as_encoded_bytes()]);
    Ok(shared.join(format!("{what}-{}.{ext}", key.short())))
}

/// The making lock of `parent`'s test directories (held while one is made and its owner file
/// locked, and while a sweep judges them), kept with the templates; `None` if it cannot be
/// had, and then a directory with no owner file is left alone for [`UNOWNED_GRACE`].
fn making_lock(parent: &Path) -> Option<File> {
    let file = File::create(parent_file(parent, "making", "lock").ok()?).ok()?;
    file.lock().ok()?;
    Some(file)
}

/// Removes from `parent` the test directories whose owner is gone (its lock is free), and
/// templates nobody has used for a long time (in `PERSIST_TEST_DIR` or the temporary directory).
/// Kept directories stay. Returns the test directories it removed.
pub fn sweep(parent: &Path) -> Vec<PathBuf> {
    sweep_templates(&default_parent());
    let mut removed = Vec::new();
    let Ok(entries) = std::fs::read_dir(parent) else {
        return removed;
    };
    // Judged under the making lock (no directory is half made meanwhile), removed after it.
    let making = making_lock(parent);
    let mut gone = Vec::new();
    for entry in entries.flatten() {
        let name = entry.file_name();
        let is_test_dir = name.to_str().is_some_and(|n| n.starts_with(DIR_PREFIX));
        if !is_test_dir || !entry.file_type().is_ok_and(|t| t.is_dir()) {
            continue;
        }
        let dir = entry.path();
        if dir.join(KEPT_FILE).exists() {
            continue;
        }
        let abandoned = match File::options().write(true).open(dir.join(OWNER_FILE)) {
            // Free means its owner has ended: a live owner holds it for the manager's life.
            Ok(owner) => owner.try_lock().is_ok(),
            // Its maker died before locking it (nobody is making one now).
            Err(_) if making.is_some() => true,
            // Without the making lock, only once it is old.
            Err(_) => entry
                .metadata()
                .and_then(|m| m.modified())
                .ok()
                .and_then(|at| SystemTime::now().duration_since(at).ok())
                .is_some_and(|age| age > UNOWNED_GRACE),
        };
        if abandoned {
            gone.push(dir);
        }
    }
    drop(making);
    for dir in gone {
        if std::fs::remove_dir_all(&dir).is_ok() {
            tracing::info!(directory = %dir.display(), "removed a test directory whose owner is gone");
            removed.push(dir);
        }
    }
    removed
}

/// A failed template copy, naming the file at fault: the template when it is the one missing,
/// the new database otherwise.
fn copy_failed(source: io::Error, template: &Path, destination: &Path) -> Error {
    if source.kind() == io::ErrorKind::NotFound && !template.exists() {
        Error::Io {
            operation: "reading the template",
            path: template.to_path_buf(),
            source,
        }
    } else {
        Error::Io {
            operation: "copying a template to",
            path: destination.to_path_buf(),
            source,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn only_directories_whose_owner_is_gone_are_swept() {
        let parent = tempfile::tempdir().unwrap();
        // A live owner: its lock is held for as long as the backend lives.
        let live = SqliteFileBackend::new_in(parent.path(), "live").unwrap();
        // A dead owner: its lock file is there, and nobody holds it.
        let dead = parent.path().join("persist-test-dead-abc123");
        std::fs::create_dir(&dead).unwrap();
        std::fs::write(dead.join(".persist-owner"), b"").unwrap();
        std::fs::write(dead.join("gateway.sqlite3"), b"").unwrap();
        // Kept on purpose.
        let kept = SqliteFileBackend::new_in(parent.path(), "kept").unwrap();
        let kept_dir = kept.directory().to_owned();
        kept.release(true).await.unwrap();

        let swept = sweep(parent.path());
        assert_eq!(swept, std::slice::from_ref(&dead));
        assert!(!dead.exists());
        assert!(
            live.directory().exists(),
            "a live owner's directory was swept"
        );
        assert!(kept_dir.exists(), "a kept directory was swept");
        live.release(false).await.unwrap();
        assert!(!live.directory().exists());
    }

    #[test]
    fn a_directory_whose_maker_died_before_owning_it_is_swept_at_once() {
        let parent = tempfile::tempdir().unwrap();
        let live = SqliteFileBackend::new_in(parent.path(), "live").unwrap();
        // Killed between making its directory and creating its owner file.
        let orphan = parent.path().join("persist-test-orphan-abc123");
        std::fs::create_dir(&orphan).unwrap();
        assert_eq!(sweep(parent.path()), std::slice::from_ref(&orphan));
        assert!(
            live.directory().exists(),
            "a live owner's directory was swept"
        );
    }

    #[test]
    fn a_missing_template_is_named_not_the_new_file() {
        let dir = tempfile::tempdir().unwrap();
        let template = dir.path().join("template.sqlite");
        let destination = dir.path().join("new.sqlite");
        let error = std::fs::copy(&template, &destination).unwrap_err();
        let error = copy_failed(error, &template, &destination);
        assert!(
            matches!(&error, Error::Io { path, .. } if path == &template),
            "{error}"
        );
        std::fs::write(&template, b"").unwrap();
        let error = copy_failed(
            io::ErrorKind::PermissionDenied.into(),
            &template,
            &destination,
        );
        assert!(matches!(&error, Error::Io { path, .. } if path == &destination));
    }

    #[test]
    fn a_directory_being_made_is_not_judged_halfway() {
        let parent = tempfile::tempdir().unwrap();
        let making = making_lock(parent.path()).expect("the making lock");
        // Made, its owner file created and not yet locked.
        let dir = parent.path().join(format!("{DIR_PREFIX}half-abc123"));
        std::fs::create_dir(&dir).unwrap();
        let owner = File::create(dir.join(OWNER_FILE)).unwrap();
        let sweeper = {
            let parent = parent.path().to_owned();
            std::thread::spawn(move || sweep(&parent))
        };
        std::thread::sleep(Duration::from_millis(200));
        assert!(dir.exists(), "swept while it was being made");
        owner.try_lock().unwrap();
        drop(making);
        assert_eq!(sweeper.join().unwrap(), Vec::<PathBuf>::new());
        assert!(dir.exists(), "swept once it was owned");
        drop(owner);
        assert_eq!(sweep(parent.path()), [dir]);
    }
}
