//! What a database server backend adds: databases created per test and dropped at cleanup, kept
//! databases marked so no sweep takes them, and leaked databases of killed processes swept by a
//! later run while those of live runs are left alone.
//!
//! These tests need a server: they run when `PERSIST_TEST_DATABASE_URL` names PostgreSQL or
//! MySQL/MariaDB (as `.ci/run` does), and otherwise say so and return.

use std::time::Duration;

use persist_core::db::ManagerBuilder;
use persist_core::db::{RegisteredDatabase, list_databases, sweep_leaked};
use persist_core::prelude::*;
use persist_tests::server::{
    Undroppable, drop_by_hand, drop_leaving_records, end_owner_session, idle_in_pools, own_pool,
    pool_key, registry_rows, server_url, settled_pools, settled_rows, test_databases,
};
use persist_tests::{
    expect_failure, output_text, record_locations, recorded_locations, run_ignored, spawn_test,
    wait_for, write_marker,
};

fn server_or_skip(test: &str) -> Option<String> {
    let url = server_url();
    if url.is_none() {
        eprintln!("{test}: skipped, PERSIST_TEST_DATABASE_URL names no database server");
    }
    url
}

fn block_on<F: std::future::Future>(future: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
        .block_on(future)
}

fn names(locations: &[persist_core::db::DatabaseLocation]) -> Vec<String> {
    locations.iter().map(|l| l.name.clone()).collect()
}

fn lifecycle_pool(builder: ManagerBuilder) -> ManagerBuilder {
    own_pool(builder, "lifecycle")
}

fn kept_pool(builder: ManagerBuilder) -> ManagerBuilder {
    own_pool(builder, "kept")
}

fn reuse_pool(builder: ManagerBuilder) -> ManagerBuilder {
    own_pool(builder, "reuse")
}

/// The pool of one run of the test below, its own even against concurrent runs of it (it drops
/// its pool's databases by hand): named after the process that runs it, which passes the name
/// on to the process it starts.
fn vanish_tag() -> &'static str {
    static TAG: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    TAG.get_or_init(|| {
        std::env::var("VANISH_TAG").unwrap_or_else(|_| format!("vanish_{}", std::process::id()))
    })
}

fn vanish_pool(builder: ManagerBuilder) -> ManagerBuilder {
    own_pool(builder, vanish_tag())
}

#[persistence_test(agents = ["AgentA", "AgentB"], setup = "lifecycle_pool")]
#[ignore = "driven by another test in this file"]
async fn driven_on_server(ctx: TestContext, gateway: GatewayPersistenceAdapter) {
    one_turn(&ctx, &gateway, "alice").await;
}

/// Records the test's databases, then has `user` send one message to AgentA.
async fn one_turn(ctx: &TestContext, gateway: &GatewayPersistenceAdapter, user: &str) {
    record_locations(ctx);
    let session = gateway.create_session(user, "AgentA").await.unwrap();
    gateway.send_message(&session.id, "hi", user).await.unwrap();
}

#[persistence_test(agents = ["AgentA"], setup = "lifecycle_pool")]
#[ignore = "driven by another test in this file"]
async fn driven_panics_on_server(ctx: TestContext) {
    record_locations(&ctx);
    panic!("failing on the server");
}

#[test]
fn each_test_gets_its_own_databases_and_cleanup_drops_them() {
    let Some(url) = server_or_skip("each_test_gets_its_own_databases_and_cleanup_drops_them")
    else {
        return;
    };
    driven_on_server();
    let created = names(&recorded_locations("driven_on_server"));
    assert_eq!(created.len(), 3);
    assert!(
        created
            .iter()
            .all(|n| n.starts_with("pt_") && n.len() <= 63),
        "{created:?}"
    );
    expect_failure(driven_panics_on_server);
    let failed = names(&recorded_locations("driven_panics_on_server"));

    // Each database is either gone, or back in its pool: ready, owned by nobody.
    let all: Vec<String> = created.iter().chain(&failed).cloned().collect();
    let rows = block_on(settled_rows(&url, &all));
    let left = block_on(test_databases(&url));
    for name in &all {
        let state = rows
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, s)| s.as_str());
        match state {
            Some("ready") => assert!(left.contains(name), "{name} is in the pool but gone"),
            None => assert!(!left.contains(name), "{name} is on the server, unrecorded"),
            Some(other) => panic!("{name} is {other} after cleanup"),
        }
    }
}

#[persistence_test(agents = ["AgentA"], keep = "always", setup = "kept_pool")]
#[ignore = "driven by another test in this file"]
async fn driven_keeps_on_server(ctx: TestContext) {
    record_locations(&ctx);
}

#[test]
fn kept_databases_stay_and_no_sweep_takes_them() {
    let Some(url) = server_or_skip("kept_databases_stay_and_no_sweep_takes_them") else {
        return;
    };
    driven_keeps_on_server();
    let locations = recorded_locations("driven_keeps_on_server");
    let kept = names(&locations);
    let rows = block_on(registry_rows(&url, &kept));
    assert_eq!(rows.len(), 2);
    assert!(rows.iter().all(|(_, state)| state == "kept"), "{rows:?}");
    // A person can tell them apart: in the location, and on the server after the test.
    let roles: Vec<_> = locations.iter().map(|l| l.role.clone()).collect();
    assert_eq!(
        roles,
        [Some("gateway".to_owned()), Some("agent AgentA".to_owned())]
    );
    let listed = block_on(list_databases(&url)).unwrap();
    for location in &locations {
        let entry = listed
            .iter()
            .find(|d| d.name == location.name)
            .unwrap_or_else(|| panic!("{} is not listed", location.name));
        let role = location.role.as_deref().unwrap();
        assert!(
            entry.label.contains("driven_keeps_on_server") && entry.label.ends_with(role),
            "{entry:?} does not say whose it is"
        );
        assert_eq!(entry.state, "kept");
        assert!(!entry.owner_alive);
        assert!(entry.size_bytes.is_some_and(|s| s > 0), "{entry:?}");
    }
    block_on(sweep_leaked(&url)).unwrap();
    let present = block_on(test_databases(&url));
    assert!(
        kept.iter().all(|n| present.contains(n)),
        "a sweep dropped a kept database"
    );
    block_on(drop_by_hand(&url, &kept));
}

/// Runs an ignored test of this file as a child process (in a new pid namespace with
/// `namespace`), waits until it has written the names of its databases to a marker file, and
/// returns it with them and the file that, once created, lets it finish. `None` when this
/// machine cannot make a pid namespace (said on stderr).
fn spawn_driven(
    test: &str,
    namespace: bool,
) -> Option<(std::process::Child, Vec<String>, tempfile::TempDir)> {
    let files = tempfile::tempdir().unwrap();
    let (marker, release) = (files.path().join("marker"), files.path().join("release"));
    let env = [("PERSIST_MARKER", &*marker), ("PERSIST_RELEASE", &*release)];
    let child = spawn_test(test, &env, namespace)?;
    wait_for(&marker);
    let names = std::fs::read_to_string(&marker)
        .unwrap()
        .lines()
        .map(str::to_owned)
        .collect();
    Some((child, names, files))
}

/// Records the test's databases in `PERSIST_MARKER`, then waits for `PERSIST_RELEASE`.
async fn hold_until_released(ctx: &TestContext) {
    let locations = record_locations(ctx);
    let marker = std::env::var("PERSIST_MARKER").unwrap();
    write_marker(marker.as_ref(), names(&locations).join("\n"));
    let release = std::env::var("PERSIST_RELEASE").unwrap();
    while !std::path::Path::new(&release).exists() {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[persistence_test(agents = ["AgentA"])]
#[ignore = "run in a child process that gets killed"]
async fn driven_killed_mid_test(ctx: TestContext) {
    hold_until_released(&ctx).await;
}

#[test]
fn databases_of_a_killed_process_are_swept_and_live_ones_are_not() {
    let Some(url) = server_or_skip("databases_of_a_killed_process_are_swept_and_live_ones_are_not")
    else {
        return;
    };
    let (mut child, leaked, _files) = spawn_driven("driven_killed_mid_test", false).unwrap();
    assert_eq!(leaked.len(), 2);

    // While the child runs, a person sees whose its databases are and that their owner lives.
    let listed = block_on(list_databases(&url)).unwrap();
    for name in &leaked {
        let entry = listed.iter().find(|d| d.name == *name).unwrap();
        assert!(entry.owner_alive, "{entry:?}");
        assert_eq!(entry.state, "claimed");
        assert!(entry.label.contains("driven_killed_mid_test"), "{entry:?}");
    }
    let labels: Vec<_> = listed
        .iter()
        .filter(|d| leaked.contains(&d.name))
        .map(|d| d.label.rsplit(" · ").next().unwrap_or_default().to_owned())
        .collect();
    assert!(labels.iter().any(|l| l == "gateway"), "{labels:?}");
    assert!(labels.iter().any(|l| l == "agent AgentA"), "{labels:?}");

    // While the child runs, its databases are a live run's: a sweep leaves them alone.
    let swept = block_on(sweep_leaked(&url)).unwrap();
    assert!(
        swept.iter().all(|n| !leaked.contains(n)),
        "a sweep took a live run's database"
    );
    assert!(
        leaked
            .iter()
            .all(|n| block_on(test_databases(&url)).contains(n))
    );

    // Killed the way nextest kills a test that timed out: no teardown runs. Any process that
    // sweeps from now on (this one, or a test starting in another partition) drops them.
    child.kill().unwrap();
    child.wait().unwrap();
    // The server lets go of the child's lock once it notices the closed socket: a moment
    // after the process is gone.
    let started = std::time::Instant::now();
    loop {
        block_on(sweep_leaked(&url)).unwrap();
        let present = block_on(test_databases(&url));
        // Both gone: a sweep in another process may have dropped a database and not yet
        // forgotten its record.
        if leaked.iter().all(|n| !present.contains(n))
            && block_on(registry_rows(&url, &leaked)).is_empty()
        {
            break;
        }
        if started.elapsed() > Duration::from_secs(60) {
            let records: Vec<_> = block_on(list_databases(&url))
                .unwrap()
                .into_iter()
                .filter(|d| leaked.contains(&d.name))
                .collect();
            panic!("the killed run's databases were never swept: {records:#?}");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Sweeps until `done` holds of the server's registry, for at most a minute.
fn sweep_until(url: &str, what: &str, done: impl Fn(&[RegisteredDatabase]) -> bool) {
    let started = std::time::Instant::now();
    loop {
        block_on(sweep_leaked(url)).unwrap();
        let listed = block_on(list_databases(url)).unwrap();
        if done(&listed) {
            return;
        }
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "{what}: {listed:#?}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn a_database_that_will_not_drop_is_recorded_said_once_and_dropped_once_it_can_be() {
    let Some(url) = server_or_skip(
        "a_database_that_will_not_drop_is_recorded_said_once_and_dropped_once_it_can_be",
    ) else {
        return;
    };
    let (mut child, leaked, _files) = spawn_driven("driven_killed_mid_test", false).unwrap();
    let stuck = leaked[0].clone();
    // Undone however this test ends, and whoever else sweeps meanwhile.
    let undroppable = Undroppable::new(&url, &stuck);
    child.kill().unwrap();
    child.wait().unwrap();

    // The sweep does not stop at the one that will not go: the others are dropped. The stuck
    // one is recorded with the server's reason and given up to nobody (any later sweep may
    // try it), never kept by a process that failed to drop it.
    sweep_until(
        &url,
        "the stuck one was not recorded, or blocked the others",
        |listed| {
            let others_gone = listed
                .iter()
                .all(|d| d.name == stuck || !leaked.contains(&d.name));
            let recorded = listed.iter().any(|d| {
                d.name == stuck
                    && d.is_stuck()
                    && d.last_drop_failure_ms.is_some()
                    && d.drop_error.as_deref().is_some_and(|e| !e.is_empty())
            });
            others_gone && recorded
        },
    );
    let listed = block_on(list_databases(&url)).unwrap();
    let entry = listed.iter().find(|d| d.name == stuck).unwrap();
    let reason = entry.drop_error.clone().unwrap();
    if url.starts_with("postgres") {
        assert!(reason.contains("template"), "{entry:?}");
    } else {
        assert!(reason.to_lowercase().contains("lock"), "{entry:?}");
    }
    assert!(block_on(test_databases(&url)).contains(&stuck));

    // A later process says it once on stderr, without PERSIST_LOG and with its output
    // captured by the test harness: which database, why, and what to do.
    let output = std::process::Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "driven_on_server",
            "--ignored",
            "--test-threads",
            "1",
        ])
        .env_remove("PERSIST_LOG")
        .output()
        .unwrap();
    assert!(output.status.success(), "{}", output_text(&output));
    let stderr = String::from_utf8_lossy(&output.stderr);
    let said: Vec<&str> = stderr.lines().filter(|l| l.contains(&stuck)).collect();
    assert_eq!(said.len(), 1, "said {} times: {stderr}", said.len());
    assert!(said[0].contains("will not drop"), "{}", said[0]);
    assert!(said[0].contains(&reason), "{}", said[0]);
    assert!(said[0].contains("DROP DATABASE"), "{}", said[0]);

    // Once it can be dropped, a sweep drops it.
    drop(undroppable);
    sweep_until(
        &url,
        "the stuck one was never swept once it could be",
        |listed| listed.iter().all(|d| d.name != stuck),
    );
    assert!(!block_on(test_databases(&url)).contains(&stuck));
}

#[persistence_test(agents = ["AgentA"], setup = "reuse_pool")]
#[ignore = "driven by another test in this file"]
async fn driven_alters_its_schema(ctx: TestContext, gateway: GatewayPersistenceAdapter) {
    one_turn(&ctx, &gateway, "alice").await;
    let db = ctx.manager().gateway_connection();
    use persist_core::sea_orm::ConnectionTrait as _;
    db.execute_unprepared("CREATE TABLE intruder (id INTEGER PRIMARY KEY)")
        .await
        .unwrap();
}

#[persistence_test(agents = ["AgentA"], setup = "reuse_pool")]
#[ignore = "driven by another test in this file"]
async fn driven_fills_its_databases(ctx: TestContext, gateway: GatewayPersistenceAdapter) {
    one_turn(&ctx, &gateway, "bob").await;
}

#[persistence_test(agents = ["AgentA"], setup = "reuse_pool")]
#[ignore = "driven by another test in this file"]
async fn driven_expects_pristine(ctx: TestContext, inspector: CrossDatabaseInspector) {
    record_locations(&ctx);
    inspector.verify_gateway_migrations().await.unwrap();
    let tables = persist_core::db::catalog::list_tables(ctx.manager().gateway_connection())
        .await
        .unwrap();
    assert!(!tables.contains(&"intruder".to_owned()), "{tables:?}");
    for role in [DatabaseRole::Gateway, DatabaseRole::Agent("AgentA".into())] {
        for count in ctx.manager().table_counts(&role).await.unwrap() {
            if count.table != "seaql_migrations" && !count.table.starts_with("pool_tag_") {
                assert_eq!(count.rows, 0, "{role}: {} holds rows", count.table);
            }
        }
    }
}

#[test]
fn pool_databases_come_back_pristine_or_not_at_all() {
    let Some(url) = server_or_skip("pool_databases_come_back_pristine_or_not_at_all") else {
        return;
    };
    // Filled databases are reset and reused; the next tests find them empty.
    driven_fills_its_databases();
    let filled = names(&recorded_locations("driven_fills_its_databases"));
    driven_expects_pristine();
    // A database whose schema a test changed never goes back.
    driven_alters_its_schema();
    let altered = names(&recorded_locations("driven_alters_its_schema"));
    let altered_gateway = altered[0].clone();
    assert!(
        !block_on(test_databases(&url)).contains(&altered_gateway),
        "a database with a changed schema went back to the pool"
    );
    for _ in 0..3 {
        driven_expects_pristine();
    }
    let rows = block_on(settled_rows(&url, &filled));
    assert!(rows.iter().all(|(_, state)| state == "ready"), "{rows:?}");
}

#[persistence_test(agents = ["AgentA"], setup = "vanish_pool")]
#[ignore = "driven by another test in this file"]
async fn driven_after_drops_by_hand(ctx: TestContext, gateway: GatewayPersistenceAdapter) {
    one_turn(&ctx, &gateway, "alice").await;
}

#[test]
fn databases_dropped_by_hand_are_never_handed_out() {
    let Some(url) = server_or_skip("databases_dropped_by_hand_are_never_handed_out") else {
        return;
    };
    driven_after_drops_by_hand();
    let first = names(&recorded_locations("driven_after_drops_by_hand"));
    let keys: Vec<String> = first
        .iter()
        .filter_map(|name| pool_key(name).map(str::to_owned))
        .collect();
    assert_eq!(
        keys.len(),
        2,
        "the gateway and the agent come from pools: {first:?}"
    );
    // A person clears the server with DROP DATABASE alone: the idle databases of both pools
    // and their templates go, their records stay. The next test gets databases that are there
    // (its turn writes to them): in this process, which knew the old templates, then in
    // another, which did not.
    let mut dropped = Vec::new();
    for in_another_process in [false, true] {
        // Nothing of these pools on its way (a refill made ahead would bring a database the
        // drop below did not see).
        block_on(settled_pools(&url, &keys));
        let idle = block_on(idle_in_pools(&url, &keys));
        let templates = idle.iter().filter(|(_, kind)| kind == "template").count();
        assert_eq!(templates, 2, "each pool has its template: {idle:?}");
        let names: Vec<String> = idle.into_iter().map(|(name, _)| name).collect();
        block_on(drop_leaving_records(&url, &names));
        dropped.extend(names);
        if in_another_process {
            let output = run_ignored(
                "driven_after_drops_by_hand",
                &[("VANISH_TAG", vanish_tag())],
            );
            assert!(output.status.success(), "{}", output_text(&output));
        } else {
            driven_after_drops_by_hand();
        }
    }
    // A record of a database that is gone is removed when a claim meets it; one no claim met
    // (another run's transaction held it a moment) is still only idle, never anyone's.
    let on_server = block_on(test_databases(&url));
    for (name, state) in block_on(registry_rows(&url, &dropped)) {
        assert!(
            on_server.contains(&name) || state == "ready",
            "{name} is {state} but not on the server"
        );
    }
}

#[persistence_test(agents = ["AgentA"])]
#[ignore = "run in another pid namespace by another test in this file"]
async fn driven_lives_in_another_namespace(ctx: TestContext) {
    hold_until_released(&ctx).await;
}

#[test]
fn a_live_run_in_another_pid_namespace_is_never_swept() {
    let Some(url) = server_or_skip("a_live_run_in_another_pid_namespace_is_never_swept") else {
        return;
    };
    let Some((mut child, live, files)) = spawn_driven("driven_lives_in_another_namespace", true)
    else {
        return;
    };
    // Its owner's pid means nothing here (it is 1 or 2 in its namespace): its lock decides.
    let swept = block_on(sweep_leaked(&url)).unwrap();
    assert!(
        swept.iter().all(|n| !live.contains(n)),
        "a sweep took the live databases of a run in another pid namespace"
    );
    let present = block_on(test_databases(&url));
    assert!(live.iter().all(|n| present.contains(n)));
    std::fs::write(files.path().join("release"), b"").unwrap();
    assert!(child.wait().unwrap().success());
}

fn bounded_pool(builder: ManagerBuilder) -> ManagerBuilder {
    own_pool(builder, "bounded")
}

#[persistence_test(agents = ["AgentA", "AgentB"], setup = "bounded_pool")]
#[ignore = "driven by another test in this file"]
async fn driven_with_no_room_for_idle_databases(
    ctx: TestContext,
    gateway: GatewayPersistenceAdapter,
) {
    mark_and_use(&ctx, &gateway).await;
}

#[test]
fn idle_databases_beyond_the_servers_bound_are_dropped_not_kept() {
    let Some(url) = server_or_skip("idle_databases_beyond_the_servers_bound_are_dropped_not_kept")
    else {
        return;
    };
    // With no room for idle databases, a test's databases are dropped at cleanup, not
    // returned: nothing of its own pool is left idle on the server.
    let dir = tempfile::tempdir().unwrap();
    let marker = dir.path().join("names");
    let output = run_ignored(
        "driven_with_no_room_for_idle_databases",
        &[
            (persist_core::env::POOL_MAX_IDLE_ENV, "0"),
            ("BOUND_MARKER", marker.to_str().unwrap()),
        ],
    );
    assert!(output.status.success(), "{}", output_text(&output));
    let created: Vec<String> = std::fs::read_to_string(&marker)
        .unwrap()
        .lines()
        .map(str::to_owned)
        .collect();
    assert_eq!(created.len(), 3);
    let left = block_on(test_databases(&url));
    let rows = block_on(registry_rows(&url, &created));
    for name in &created {
        assert!(!left.contains(name), "{name} is still on the server");
        assert!(
            rows.iter().all(|(n, _)| n != name),
            "{name} is still recorded: {rows:?}"
        );
    }
}

fn older_pool(builder: ManagerBuilder) -> ManagerBuilder {
    own_pool(builder, "older")
}

fn newer_pool(builder: ManagerBuilder) -> ManagerBuilder {
    own_pool(builder, "newer")
}

/// Records its databases' names in the file `BOUND_MARKER` names, then has one turn.
async fn mark_and_use(ctx: &TestContext, gateway: &GatewayPersistenceAdapter) {
    let names: Vec<String> = names(&record_locations(ctx));
    let marker = std::env::var("BOUND_MARKER").expect("the driver names a marker file");
    write_marker(std::path::Path::new(&marker), names.join("\n"));
    let session = gateway.create_session("alice", "AgentA").await.unwrap();
    gateway
        .send_message(&session.id, "hi", "alice")
        .await
        .unwrap();
}

#[persistence_test(agents = ["AgentA", "AgentB"], setup = "older_pool")]
#[ignore = "driven by another test in this file"]
async fn driven_older_schema(ctx: TestContext, gateway: GatewayPersistenceAdapter) {
    mark_and_use(&ctx, &gateway).await;
}

#[persistence_test(agents = ["AgentA", "AgentB"], setup = "newer_pool")]
#[ignore = "driven by another test in this file"]
async fn driven_newer_schema(ctx: TestContext, gateway: GatewayPersistenceAdapter) {
    mark_and_use(&ctx, &gateway).await;
}

/// Runs `test` in a child with `env`, and returns the names of the databases it used.
fn run_marked(test: &str, env: &[(&str, &str)]) -> Vec<String> {
    let dir = tempfile::tempdir().unwrap();
    let marker = dir.path().join("names");
    let mut env = env.to_vec();
    env.push(("BOUND_MARKER", marker.to_str().unwrap()));
    let output = run_ignored(test, &env);
    assert!(output.status.success(), "{}", output_text(&output));
    std::fs::read_to_string(&marker)
        .unwrap()
        .lines()
        .map(str::to_owned)
        .collect()
}

#[test]
fn returning_beyond_the_bound_leaves_nothing_half_returned() {
    let Some(url) = server_or_skip("returning_beyond_the_bound_leaves_nothing_half_returned")
    else {
        return;
    };
    // An older schema's databases go back idle (the default bound has room)...
    let older = run_marked("driven_older_schema", &[]);
    assert_eq!(older.len(), 3);
    // ...then a test of a newer schema returns its three with room for three in all. Other
    // schemas' idle databases make room only once unused for half a minute (the older one was
    // used just now), so it looks for some and drops its own surplus, and cleans up without an
    // error. What becomes of each database is up to the other tests sharing the server, so
    // each is only checked to be idle or gone: never left claimed, or recorded without its
    // database.
    let newer = run_marked(
        "driven_newer_schema",
        &[(persist_core::env::POOL_MAX_IDLE_ENV, "3")],
    );
    assert_eq!(newer.len(), 3);
    let rows = block_on(settled_rows(&url, &newer));
    let left = block_on(test_databases(&url));
    for (name, state) in rows {
        assert_eq!(state, "ready", "{name}");
        assert!(left.contains(&name), "{name} is idle but gone");
    }
}

// ---------------------------------------------------------------------------------------------
// A live test whose server session ends keeps its databases

/// The databases of a live test on this run's server, made for it (no pool: cleanup drops
/// them, proving they are still its own).
async fn live_test(url: &str) -> (persist_core::MultiDatabaseManager, Vec<String>) {
    let manager = persist_core::mesh::manager()
        .backend(persist_core::db::BackendConfig::Server(url.to_owned()))
        .label("session_ended")
        .templates(false)
        .agents(["AgentA"])
        .setup()
        .await
        .unwrap();
    let mine = manager
        .locations()
        .into_iter()
        .map(|(_, l)| l.name)
        .collect();
    (manager, mine)
}

/// Whether the registry says the owner of each of `names` is alive.
async fn owners_alive(url: &str, names: &[String]) -> bool {
    let listed = list_databases(url).await.unwrap();
    names
        .iter()
        .all(|n| listed.iter().any(|d| d.name == *n && d.owner_alive))
}

#[test]
fn a_test_whose_session_the_server_ended_keeps_its_databases() {
    let Some(url) = server_or_skip("a_test_whose_session_the_server_ended_keeps_its_databases")
    else {
        return;
    };
    block_on(async {
        // Ended just before cleanup: cleanup takes the session's lock again, proves the
        // databases are the test's, and drops them.
        let (manager, mine) = live_test(&url).await;
        assert!(
            end_owner_session(&url, &mine[0]).await,
            "no session held {mine:?}"
        );
        manager.cleanup().await.unwrap();
        let present = test_databases(&url).await;
        assert!(mine.iter().all(|n| !present.contains(n)), "{mine:?}");
        assert!(registry_rows(&url, &mine).await.is_empty(), "{mine:?}");

        // Ended while the test goes on: a sweep meanwhile, by any run, takes nothing, and
        // within a heartbeat the session holds its lock again.
        let (manager, mine) = live_test(&url).await;
        assert!(
            end_owner_session(&url, &mine[0]).await,
            "no session held {mine:?}"
        );
        let started = std::time::Instant::now();
        while !owners_alive(&url, &mine).await {
            assert!(
                started.elapsed() < Duration::from_secs(20),
                "the session never took its lock again: {mine:?}"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        // Swept now, by a person: a live owner's databases stay.
        let swept = sweep_leaked(&url).await.unwrap();
        assert!(swept.iter().all(|n| !mine.contains(n)), "{swept:?}");
        let present = test_databases(&url).await;
        assert!(mine.iter().all(|n| present.contains(n)), "{mine:?}");
        sea_orm::ConnectionTrait::execute_unprepared(manager.gateway_connection(), "SELECT 1")
            .await
            .unwrap();
        manager.cleanup().await.unwrap();
        assert!(registry_rows(&url, &mine).await.is_empty(), "{mine:?}");
    });
}
