//! SQLite files in a private temporary directory.

use std::io;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use futures::future::BoxFuture;
use sea_orm::ConnectOptions;
use sea_orm::sqlx::sqlite::SqliteSynchronous;
use tempfile::TempDir;

use super::template::template_file;
use super::{Backend, BackendKind, DatabaseLocation, SchemaTemplate, short_label};
use crate::error::{PersistError, Result};

/// Where the private directories are made, if set (default: the system's temporary directory).
pub const TEST_DIR_ENV: &str = "PERSIST_TEST_DIR";

/// One private directory per manager, one file per database.
#[derive(Debug)]
pub struct SqliteFileBackend {
    root: PathBuf,
    dir: Mutex<Option<TempDir>>,
}

impl SqliteFileBackend {
    /// Makes the private directory, named after `label`, under `PERSIST_TEST_DIR` if set,
    /// else under the system's temporary directory.
    pub fn new(label: &str) -> Result<Self> {
        let parent = std::env::var_os(TEST_DIR_ENV)
            .map(PathBuf::from)
            .unwrap_or_else(std::env::temp_dir);
        Self::new_in(&parent, label)
    }

    /// Makes the private directory, named after `label`, under `parent`.
    pub fn new_in(parent: &Path, label: &str) -> Result<Self> {
        let dir = tempfile::Builder::new()
            .prefix(&format!("persist-{}-", short_label(label, 40)))
            .tempdir_in(parent)
            .map_err(|source| PersistError::Io {
                operation: "creating a test directory in",
                path: parent.to_owned(),
                source,
            })?;
        Ok(SqliteFileBackend {
            root: dir.path().to_owned(),
            dir: Mutex::new(Some(dir)),
        })
    }

    /// The private directory.
    pub fn directory(&self) -> &Path {
        &self.root
    }
}

impl SqliteFileBackend {
    /// Creates the file of database `name`; a name clash is an error, never a shared file.
    fn new_file(&self, name: &str) -> Result<(DatabaseLocation, std::fs::File)> {
        let path = self.root.join(format!("{name}.sqlite3"));
        let file = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&path)
            .map_err(|source| PersistError::Io {
                operation: "creating",
                path: path.clone(),
                source,
            })?;
        let location = DatabaseLocation {
            name: name.to_owned(),
            url: format!("sqlite://{}?mode=rw", path.display()),
            path: Some(path),
        };
        Ok((location, file))
    }
}

fn remove(path: &Path) -> Result<()> {
    match std::fs::remove_file(path) {
        Err(e) if e.kind() != io::ErrorKind::NotFound => Err(PersistError::Io {
            operation: "removing",
            path: path.to_owned(),
            source: e,
        }),
        _ => Ok(()),
    }
}

impl Backend for SqliteFileBackend {
    fn kind(&self) -> BackendKind {
        BackendKind::SqliteFile
    }

    fn create_database<'a>(&'a self, name: &'a str) -> BoxFuture<'a, Result<DatabaseLocation>> {
        Box::pin(async move { self.new_file(name).map(|(location, _file)| location) })
    }

    fn create_from_template<'a>(
        &'a self,
        name: &'a str,
        template: &'a SchemaTemplate<'a>,
    ) -> BoxFuture<'a, Result<Option<DatabaseLocation>>> {
        Box::pin(async move {
            let source = template_file(template).await?;
            let (location, mut file) = self.new_file(name)?;
            let path = location.path.clone().unwrap_or_default();
            let copied = std::fs::File::open(&source)
                .and_then(|mut template| std::io::copy(&mut template, &mut file));
            copied.map_err(|source| PersistError::Io {
                operation: "copying a template to",
                path,
                source,
            })?;
            Ok(Some(location))
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

    fn configure(&self, options: &mut ConnectOptions) {
        // A test database needs no protection from power loss: writes go to the operating
        // system without waiting for the disk. A crashing test process loses nothing, and a
        // kept database is as complete as ever.
        options
            .max_connections(4)
            .min_connections(0)
            .map_sqlx_sqlite_opts(|o| o.synchronous(SqliteSynchronous::Off));
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
                Some(dir) if keep => {
                    let _ = dir.keep();
                    Ok(())
                }
                Some(dir) => dir.close().map_err(|source| PersistError::Io {
                    operation: "removing the test directory",
                    path: self.root.clone(),
                    source,
                }),
            }
        })
    }
}
