//! Helpers shared by the persistence suites.

pub mod faults;
pub mod server;

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Mutex, OnceLock};

use persist_core::TestContext;

fn registry() -> &'static Mutex<HashMap<String, Vec<PathBuf>>> {
    static PATHS: OnceLock<Mutex<HashMap<String, Vec<PathBuf>>>> = OnceLock::new();
    PATHS.get_or_init(Default::default)
}

/// Records the files of a running test's databases under its name, so that whoever drove the
/// test can check afterwards what became of them.
pub fn record_files(ctx: &TestContext) -> Vec<PathBuf> {
    let files: Vec<PathBuf> = ctx
        .manager()
        .locations()
        .into_iter()
        .filter_map(|(_, location)| location.path)
        .collect();
    registry()
        .lock()
        .unwrap()
        .insert(ctx.test_name().to_owned(), files.clone());
    files
}

/// Records where a running test's databases are (for servers, their names).
pub fn record_locations(ctx: &TestContext) -> Vec<persist_core::db::DatabaseLocation> {
    let locations: Vec<_> = ctx
        .manager()
        .locations()
        .into_iter()
        .map(|(_, l)| l)
        .collect();
    locations_registry()
        .lock()
        .unwrap()
        .insert(ctx.test_name().to_owned(), locations.clone());
    locations
}

/// The locations a test recorded; the name is matched on its last path segment.
pub fn recorded_locations(test: &str) -> Vec<persist_core::db::DatabaseLocation> {
    let registry = locations_registry().lock().unwrap();
    registry
        .iter()
        .find(|(name, _)| name.rsplit("::").next() == Some(test))
        .map(|(_, l)| l.clone())
        .unwrap_or_else(|| panic!("test `{test}` recorded no locations"))
}

type Locations = HashMap<String, Vec<persist_core::db::DatabaseLocation>>;

fn locations_registry() -> &'static Mutex<Locations> {
    static LOCATIONS: OnceLock<Mutex<Locations>> = OnceLock::new();
    LOCATIONS.get_or_init(Default::default)
}

/// The files a test recorded; the name is matched on its last path segment.
pub fn recorded_files(test: &str) -> Vec<PathBuf> {
    let registry = registry().lock().unwrap();
    registry
        .iter()
        .find(|(name, _)| name.rsplit("::").next() == Some(test))
        .map(|(_, files)| files.clone())
        .unwrap_or_else(|| panic!("test `{test}` recorded no files"))
}

/// The message of a caught panic.
pub fn panic_message(payload: &(dyn std::any::Any + Send)) -> String {
    payload
        .downcast_ref::<String>()
        .cloned()
        .or_else(|| payload.downcast_ref::<&str>().map(|s| (*s).to_owned()))
        .unwrap_or_default()
}

/// Runs a test function that is expected to fail and returns its panic message.
pub fn expect_failure(test: fn()) -> String {
    let payload = std::panic::catch_unwind(test).expect_err("the test was expected to fail");
    panic_message(&*payload)
}

/// Awaits `future`, which must panic, and returns the panic's message.
pub async fn expect_panic<F: std::future::Future>(future: F) -> String {
    use futures::FutureExt as _;
    match std::panic::AssertUnwindSafe(future).catch_unwind().await {
        Ok(_) => panic!("expected the check to fail, but it passed"),
        Err(payload) => panic_message(&*payload),
    }
}
