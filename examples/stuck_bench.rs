//! What a database that will not drop costs the processes that meet it.
//!
//! `cargo run --release --example stuck_bench [ROUNDS]`, with `PERSIST_POSTGRES_URL` and/or
//! `PERSIST_MYSQL_URL` (or `PERSIST_TEST_DATABASE_URL`) naming the servers. For each server it
//! times whole processes that run one test (a gateway and four agents from the warm pool,
//! `SELECT` on each, teardown), as nextest runs them: `ROUNDS` on a clean server, then
//! `ROUNDS` while a leaked database refuses to drop (PostgreSQL: marked as a template;
//! MariaDB: a lock another session holds on one of its tables), then `ROUNDS` after it is
//! released and swept; and prints the medians and the difference.

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use persist_core::PersistError;
use persist_core::db::catalog::count_rows;
use persist_core::db::{BackendConfig, DatabaseRole};
use persist_core::db::{list_databases, sweep_leaked};
use persist_core::sea_orm::{ConnectionTrait as _, Database, DatabaseConnection};

const AGENTS: [&str; 4] = ["AgentA", "AgentB", "AgentC", "AgentD"];

/// The child's part: one test, as a process of its own.
async fn one_test(url: &str) -> Result<(), PersistError> {
    let manager = persist_core::mesh::manager()
        .agents(AGENTS)
        .backend(BackendConfig::Server(url.to_owned()))
        .label("stuck_bench")
        .setup()
        .await?;
    for (role, _) in manager.locations() {
        let table = match role {
            DatabaseRole::Gateway => "sessions",
            DatabaseRole::Agent(_) => "agent_sessions",
        };
        count_rows(manager.connection(&role)?, table).await?;
    }
    Ok(manager.cleanup().await?)
}

/// The child's part: databases made and left behind, as by a process that was killed.
async fn leak(url: &str) -> Result<(), PersistError> {
    let manager = persist_core::mesh::manager()
        .agents(["AgentA"])
        .backend(BackendConfig::Server(url.to_owned()))
        .templates(false)
        .label("stuck_bench leaked")
        .setup()
        .await?;
    let gateway = &manager.locations()[0].1;
    println!("{}", gateway.name);
    // No cleanup: the process ends and its owner lock with it.
    std::process::exit(0)
}

/// Times `rounds` processes of one test each.
fn processes(url: &str, rounds: usize) -> Vec<Duration> {
    let me = std::env::current_exe().expect("the benchmark's own path");
    (0..rounds)
        .map(|_| {
            let started = Instant::now();
            let status = Command::new(&me)
                .args(["--one", url])
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status()
                .expect("running one test");
            assert!(status.success(), "a one-test process failed");
            started.elapsed()
        })
        .collect()
}

fn median(mut samples: Vec<Duration>) -> f64 {
    samples.sort();
    samples[samples.len() / 2].as_secs_f64() * 1000.0
}

/// A leaked database made to refuse `DROP DATABASE`, until [`Stuck::release`].
struct Stuck {
    name: String,
    /// MariaDB: the session holding the lock.
    lock: Option<DatabaseConnection>,
}

async fn make_stuck(url: &str) -> Result<Stuck, PersistError> {
    let me = std::env::current_exe().expect("the benchmark's own path");
    let output = Command::new(&me)
        .args(["--leak", url])
        .output()
        .expect("leaking a database");
    let name = String::from_utf8_lossy(&output.stdout).trim().to_owned();
    assert!(!name.is_empty(), "the leaking process named no database");
    let admin = Database::connect(url.replacen("mariadb://", "mysql://", 1)).await?;
    let lock = if url.starts_with("postgres") {
        admin
            .execute_unprepared(&format!("ALTER DATABASE \"{name}\" IS_TEMPLATE true"))
            .await?;
        admin.close().await?;
        None
    } else {
        // A table lock held from another database: what ends a database's own sessions does
        // not end it.
        admin
            .execute_unprepared(&format!("LOCK TABLES `{name}`.`sessions` READ"))
            .await?;
        Some(admin)
    };
    // Recorded as stuck by the sweep a person runs: tried once, now.
    sweep_leaked(url).await?;
    let listed = list_databases(url).await?;
    assert!(
        listed.iter().any(|d| d.name == name && d.is_stuck()),
        "{name} is not recorded as stuck"
    );
    Ok(Stuck { name, lock })
}

impl Stuck {
    async fn release(self, url: &str) -> Result<(), PersistError> {
        match self.lock {
            Some(lock) => lock.close().await?,
            None => {
                let admin = Database::connect(url).await?;
                admin
                    .execute_unprepared(&format!(
                        "ALTER DATABASE \"{}\" IS_TEMPLATE false",
                        self.name
                    ))
                    .await?;
                admin.close().await?;
            }
        }
        let dropped = sweep_leaked(url).await?;
        assert!(dropped.contains(&self.name), "{} was not swept", self.name);
        Ok(())
    }
}

fn servers() -> Vec<String> {
    let mut urls: Vec<String> = ["PERSIST_POSTGRES_URL", "PERSIST_MYSQL_URL"]
        .iter()
        .filter_map(|v| std::env::var(v).ok())
        .collect();
    if let Ok(BackendConfig::Server(url)) = BackendConfig::from_env()
        && !urls.contains(&url)
    {
        urls.push(url);
    }
    urls
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), PersistError> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.first().map(String::as_str) {
        Some("--one") => return one_test(&args[1]).await,
        Some("--leak") => return leak(&args[1]).await,
        _ => {}
    }
    let rounds: usize = args.first().and_then(|n| n.parse().ok()).unwrap_or(20);
    let urls = servers();
    if urls.is_empty() {
        eprintln!(
            "name a server: PERSIST_POSTGRES_URL, PERSIST_MYSQL_URL or PERSIST_TEST_DATABASE_URL"
        );
        std::process::exit(2);
    }
    println!("{rounds} processes of one test each per column (a gateway + 4 agents), medians");
    println!(
        "{:<14} {:>12} {:>14} {:>12} {:>12}",
        "server", "clean", "one stuck", "clean again", "difference"
    );
    for url in urls {
        // Templates and pools built, the server's caches warm.
        processes(&url, 3);
        let clean = processes(&url, rounds);
        let stuck = make_stuck(&url).await?;
        let with_stuck = processes(&url, rounds);
        stuck.release(&url).await?;
        let again = processes(&url, rounds);
        let (clean, with_stuck, again) = (median(clean), median(with_stuck), median(again));
        let name = if url.starts_with("postgres") {
            "postgresql"
        } else {
            "mysql/mariadb"
        };
        println!(
            "{name:<14} {clean:>9.1} ms {with_stuck:>11.1} ms {again:>9.1} ms {:>+9.1} ms",
            with_stuck - (clean + again) / 2.0
        );
    }
    Ok(())
}
