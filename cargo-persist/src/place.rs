//! Where the databases are: a server, or a directory of SQLite test directories.

use std::net::ToSocketAddrs as _;
use std::path::{Path, PathBuf};
use std::time::Duration;

use persist_core::db::BackendConfig;

use crate::error::CliError;

/// Where a command looks.
#[derive(Clone, Debug)]
pub enum Place {
    /// A PostgreSQL or MySQL/MariaDB server, by its admin URL.
    Server(String),
    /// SQLite test directories under this parent.
    Directory(PathBuf),
    /// In-memory SQLite: nothing outlives a test process.
    Memory,
}

impl Place {
    /// `--database-url`, else `PERSIST_TEST_DATABASE_URL`, else SQLite files; `--dir` (else
    /// `PERSIST_TEST_DIR`, else the temporary directory) for SQLite.
    pub fn resolve(url: Option<&str>, dir: Option<&Path>) -> Result<Place, CliError> {
        // A URL or backend name that does not parse is bad input (exit code 2).
        let config = BackendConfig::resolve(url).map_err(|e| CliError::Usage(e.to_string()))?;
        let parent = || {
            dir.map(Path::to_owned)
                .or_else(|| std::env::var_os(persist_core::env::TEST_DIR_ENV).map(PathBuf::from))
                .unwrap_or_else(std::env::temp_dir)
        };
        let directory = |path: PathBuf| {
            // A directory named by hand that is not there is a typo, not an empty place.
            if path.is_dir() {
                Ok(Place::Directory(path))
            } else {
                Err(CliError::Usage(format!(
                    "{} is not a directory (from --dir or PERSIST_TEST_DIR)",
                    path.display()
                )))
            }
        };
        Ok(match config {
            BackendConfig::Server(url) => Place::Server(url),
            BackendConfig::SqliteFile => directory(parent())?,
            BackendConfig::SqliteFileIn(path) => directory(path)?,
            BackendConfig::SqliteMemory => Place::Memory,
            other => {
                return Err(CliError::Unsupported(format!(
                    "cannot look after the databases of {other}"
                )));
            }
        })
    }

    /// For people: the server without its password, or the directory.
    pub fn describe(&self) -> String {
        match self {
            Place::Server(url) => BackendConfig::Server(url.clone()).to_string(),
            Place::Directory(dir) => format!("SQLite test directories in {}", dir.display()),
            Place::Memory => "in-memory SQLite".to_owned(),
        }
    }

    /// The server's URL once it answers, or why not: tried before any work, so a server that
    /// is down is one clear error naming the URL (exit code 3).
    pub fn server(&self) -> Result<Option<&str>, CliError> {
        match self {
            Place::Server(url) => {
                reachable(url)?;
                Ok(Some(url))
            }
            Place::Directory(_) => Ok(None),
            Place::Memory => Err(CliError::Unsupported(
                "in-memory SQLite databases live and end in their test's process: there is \
                 nothing to look at from outside (choose a server or SQLite files with \
                 --database-url)"
                    .into(),
            )),
        }
    }
}

/// Whether a TCP connection to the URL's host and port opens within 5 s.
fn reachable(url: &str) -> Result<(), CliError> {
    let shown = BackendConfig::Server(url.to_owned()).to_string();
    let unreachable = |reason: String| CliError::Unreachable {
        url: shown.clone(),
        reason,
    };
    let parsed = url::Url::parse(url).map_err(|e| unreachable(format!("not a URL: {e}")))?;
    let host = parsed
        .host_str()
        .ok_or_else(|| unreachable("the URL names no host".into()))?;
    let port = parsed.port().unwrap_or(match parsed.scheme() {
        "postgres" | "postgresql" => 5432,
        _ => 3306,
    });
    let addrs = (host, port)
        .to_socket_addrs()
        .map_err(|e| unreachable(e.to_string()))?;
    let mut last = None;
    for addr in addrs {
        match std::net::TcpStream::connect_timeout(&addr, Duration::from_secs(5)) {
            Ok(_) => return Ok(()),
            Err(e) => last = Some(e),
        }
    }
    Err(unreachable(
        last.map(|e| e.to_string())
            .unwrap_or_else(|| "no address".into()),
    ))
}
