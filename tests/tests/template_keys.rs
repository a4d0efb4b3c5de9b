//! A test always runs on the schema its code builds today, on its backend, and an unchanged
//! schema reuses one template: per-backend branches, a migrator that reads the catalog, the
//! clock in a data migration, and a SQLite table rebuild, each with a migrator of the shape real
//! systems write (`persist_tests::shaped_migrations`).
//!
//! The backend is the environment's (`PERSIST_TEST_DATABASE_URL`; SQLite files without it);
//! CI runs this suite on SQLite, PostgreSQL and MariaDB. Runs "between two code changes" are
//! child processes of this binary, each with the change in its environment.

use std::collections::BTreeSet;
use std::path::Path;
use std::sync::atomic::Ordering;

use persist_core::db::{BackendConfig, DatabaseRole, ManagerBuilder, MultiDatabaseManager};
use persist_core::migrate::MigrationCheck;
use persist_tests::server::server_url;
use persist_tests::shaped_migrations::{
    BRANCH_CHANGE_ENV, Branchy, CHECKS_INDEX_RUNS, ChecksIndex, ClockSeed, EXTRA_INDEX, Rebuild,
};
use persist_tests::{output_text, run_ignored};

/// The backend of this run, as the migrators' branches name it.
fn this_backend() -> &'static str {
    match server_url() {
        Some(url) if url.starts_with("postgres") => "postgres",
        Some(_) => "mysql",
        None => "sqlite",
    }
}

fn backend() -> BackendConfig {
    BackendConfig::resolve(None).unwrap()
}

/// A gateway-only manager migrated by `M`, on this run's backend.
async fn gateway_only<M: sea_orm_migration::MigratorTrait + 'static>() -> MultiDatabaseManager {
    ManagerBuilder::default()
        .backend(backend())
        .gateway_migrator::<M>()
        .setup()
        .await
        .unwrap()
}

/// The template a child's gateway came from, as it prints it: on a server the pool key in
/// the database's name, on SQLite the template files in its private directory.
fn templates_in(dir: &Path) -> BTreeSet<String> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return BTreeSet::new();
    };
    entries
        .flatten()
        .filter_map(|e| e.path().is_dir().then(|| e.path()))
        .filter(|p| {
            p.file_name()
                .is_some_and(|n| n.to_string_lossy().starts_with("persist-templates-"))
        })
        .flat_map(|p| std::fs::read_dir(p).into_iter().flatten().flatten())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".sqlite3"))
        .collect()
}

/// What a child prints about the template it used, on its stdout: `gateway-template=<key>`.
/// The marker is this test's own: a child's output holds other lines that speak of templates
/// (a sweep's note on a database that will not drop, say).
const TEMPLATE_MARKER: &str = "gateway-template=";

/// The template keys a child printed: the hex digits after each marker (libtest may print
/// `test … ` before it on the same line).
fn printed_templates(stdout: &str) -> BTreeSet<String> {
    stdout
        .match_indices(TEMPLATE_MARKER)
        .map(|(at, marker)| {
            stdout[at + marker.len()..]
                .chars()
                .take_while(char::is_ascii_hexdigit)
                .collect::<String>()
        })
        .filter(|key| !key.is_empty())
        .collect()
}

/// Prints what the gateway came from (on a server: `pt_p_<key>_<id>`).
fn print_template(manager: &MultiDatabaseManager) {
    let name = &manager.gateway_location().name;
    if let Some(rest) = name.strip_prefix("pt_p_") {
        println!(
            "{TEMPLATE_MARKER}{}",
            rest.split('_').next().unwrap_or_default()
        );
    }
}

// ---------------------------------------------------------------------------------------------
// A change to one backend's branch is picked up on that backend, and only there

#[tokio::test]
#[ignore = "a run of the code as one change left it, driven by another test in this file"]
async fn driven_branchy_run() {
    let manager = gateway_only::<Branchy>().await;
    print_template(&manager);
    let indexes = persist_core::db::catalog::list_indexes(manager.gateway_connection())
        .await
        .unwrap();
    println!(
        "extra index: {}",
        indexes.iter().any(|i| i.contains(EXTRA_INDEX))
    );
    manager.cleanup().await.unwrap();
}

#[test]
fn a_change_to_one_backends_branch_is_picked_up_on_that_backend() {
    let dir = tempfile::tempdir().unwrap();
    let test_dir = dir.path().display().to_string();
    let run = |change: &str| {
        let output = run_ignored(
            "driven_branchy_run",
            &[("PERSIST_TEST_DIR", &test_dir), (BRANCH_CHANGE_ENV, change)],
        );
        let text = output_text(&output);
        assert!(output.status.success(), "{text}");
        let extra = text.contains("extra index: true");
        (
            extra,
            printed_templates(&String::from_utf8_lossy(&output.stdout)),
        )
    };
    let mut templates = BTreeSet::new();
    let (extra, used) = run("none");
    assert!(!extra, "the unchanged code has no extra index");
    templates.extend(used);
    let built_at_first = templates_in(dir.path()).len() + templates.len();
    for changed in ["sqlite", "postgres", "mysql"] {
        let (extra, used) = run(changed);
        templates.extend(used);
        let mine = changed == this_backend();
        assert_eq!(
            extra,
            mine,
            "a change to the {changed} branch, running on {}: the index is there only when it \
             is this backend's branch that changed",
            this_backend()
        );
        // Back to the code as it was: its template again, not a stale one.
        let (extra, used) = run("none");
        assert!(
            !extra,
            "after the {changed} change was undone, its index is gone"
        );
        templates.extend(used);
    }
    // One template for the code as it was, one for this backend's change: the other
    // backends' changes built nothing.
    let built = templates_in(dir.path()).len() + templates.len();
    assert_eq!(
        built,
        built_at_first + 1,
        "templates: {:?} {templates:?}",
        templates_in(dir.path())
    );
}

// ---------------------------------------------------------------------------------------------
// A migrator that reads the catalog gets a template

#[tokio::test]
async fn a_migrator_that_checks_an_index_before_creating_it_gets_a_template() {
    let first = gateway_only::<ChecksIndex>().await;
    let indexes = persist_core::db::catalog::list_indexes(first.gateway_connection())
        .await
        .unwrap();
    assert!(
        indexes.iter().any(|i| i.contains("idx_notes_title")),
        "{indexes:?}"
    );
    first.cleanup().await.unwrap();
    let runs = CHECKS_INDEX_RUNS.load(Ordering::SeqCst);
    assert!(runs >= 1);
    for _ in 0..3 {
        let again = gateway_only::<ChecksIndex>().await;
        let indexes = persist_core::db::catalog::list_indexes(again.gateway_connection())
            .await
            .unwrap();
        assert!(
            indexes.iter().any(|i| i.contains("idx_notes_title")),
            "{indexes:?}"
        );
        again.cleanup().await.unwrap();
    }
    assert_eq!(
        CHECKS_INDEX_RUNS.load(Ordering::SeqCst),
        runs,
        "later tests were migrated one by one instead of cloned from a template"
    );
}

// ---------------------------------------------------------------------------------------------
// The clock in a data migration: three processes, one template

#[tokio::test]
#[ignore = "one of three processes, driven by another test in this file"]
async fn driven_clock_seed_run() {
    let manager = gateway_only::<ClockSeed>().await;
    print_template(&manager);
    let rows = persist_core::db::catalog::count_rows(manager.gateway_connection(), "notes")
        .await
        .unwrap();
    println!("seeded rows: {rows}");
    manager.cleanup().await.unwrap();
}

#[test]
fn a_migration_with_the_clock_in_its_sql_builds_one_template_for_three_processes() {
    let dir = tempfile::tempdir().unwrap();
    let test_dir = dir.path().display().to_string();
    let mut templates = BTreeSet::new();
    for _ in 0..3 {
        let output = run_ignored("driven_clock_seed_run", &[("PERSIST_TEST_DIR", &test_dir)]);
        let text = output_text(&output);
        assert!(output.status.success(), "{text}");
        assert!(text.contains("seeded rows: 1"), "{text}");
        templates.extend(printed_templates(&String::from_utf8_lossy(&output.stdout)));
    }
    let built = templates_in(dir.path()).len() + templates.len();
    assert_eq!(built, 1, "{:?} {templates:?}", templates_in(dir.path()));
}

// ---------------------------------------------------------------------------------------------
// A SQLite table rebuild, checked and set up again and again

#[tokio::test]
async fn a_rebuild_style_migration_is_checked_20_times_without_a_failure() {
    let check = MigrationCheck::<Rebuild>::new(backend());
    for n in 0..20 {
        check
            .round_trip()
            .await
            .unwrap_or_else(|e| panic!("round trip {n}: {e}"));
    }
}

#[tokio::test]
async fn a_rebuild_style_migration_sets_up_20_databases_without_templates() {
    for n in 0..20 {
        let manager = ManagerBuilder::default()
            .backend(backend())
            .gateway_migrator::<Rebuild>()
            .templates(false)
            .setup()
            .await
            .unwrap_or_else(|e| panic!("setup {n}: {e}"));
        let db = manager.connect_one(&DatabaseRole::Gateway).await.unwrap();
        let tables = persist_core::db::catalog::list_tables(&db).await.unwrap();
        assert!(tables.contains(&"notes".to_owned()), "{tables:?}");
        assert!(!tables.contains(&"notes_new".to_owned()), "{tables:?}");
        db.close().await.unwrap();
        manager.cleanup().await.unwrap();
    }
}
