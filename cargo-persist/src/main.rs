//! `cargo persist`: the command line around persist's test databases.
//!
//! - `prepare` builds the templates a workspace's `#[persistence_test]`s need before a run
//!   (a nextest setup script);
//! - `list`, `drain` and `sweep` look after the test databases on a server or in a directory;
//! - `kept`, `open`, `clean` and `snapshot` reach the databases that failed tests kept.
//!
//! Exit codes: 0 done; 1 the work failed (a test could not prepare, a database would not
//! drop, a client tool failed); 2 bad input (an unknown test or role, a kept database that is
//! gone, a bad URL); 3 the server did not answer.

mod error;
mod kept;
mod out;
mod place;
mod prepare;
mod upkeep;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand, ValueEnum};

use error::CliError;
use out::Out;
use place::Place;

/// `cargo persist …` reaches this binary as `cargo-persist persist …`.
#[derive(Parser)]
#[command(name = "cargo", bin_name = "cargo", version)]
enum Cargo {
    Persist(Cli),
}

const AFTER_HELP: &str = "\
Where the databases are: --database-url, else PERSIST_TEST_DATABASE_URL (a server URL, or
`sqlite`), else SQLite files under --dir, PERSIST_TEST_DIR or the temporary directory.

Exit codes: 0 done; 1 the work failed; 2 bad input (an unknown test or role, a kept
database that is gone); 3 the server did not answer.";

/// The test databases of persist: templates ready before a run, the databases on a server or
/// in a directory, and the databases failed tests kept.
#[derive(Args)]
#[command(version, after_help = AFTER_HELP)]
struct Cli {
    #[command(subcommand)]
    command: Command,
    #[command(flatten)]
    global: Global,
}

#[derive(Args)]
struct Global {
    /// The server (postgres://…, mysql://…, mariadb://…), or `sqlite` for SQLite files
    /// (under --dir) [default: PERSIST_TEST_DATABASE_URL, else SQLite files]
    #[arg(long, global = true, value_name = "URL")]
    database_url: Option<String>,
    /// The directory SQLite test directories are made in [default: PERSIST_TEST_DIR, else
    /// the temporary directory]
    #[arg(long, global = true, value_name = "DIR")]
    dir: Option<PathBuf>,
    /// Print JSON on stdout, for scripts (progress and notes stay on stderr)
    #[arg(long, global = true)]
    json: bool,
    /// When to colour the output
    #[arg(long, global = true, value_enum, default_value_t = ColorChoice::Auto, value_name = "WHEN")]
    color: ColorChoice,
}

/// When to colour the output.
#[derive(Clone, Copy, ValueEnum)]
enum ColorChoice {
    /// On a terminal, unless NO_COLOR is set
    Auto,
    /// Always
    Always,
    /// Never
    Never,
}

#[derive(Subcommand)]
enum Command {
    /// Build every template the workspace's persistence tests need, before the run
    ///
    /// Builds the test binaries (`cargo test --no-run`, with CARGO_ARGS, by default
    /// `--workspace`), finds their `#[persistence_test]`s, and has each set up its databases
    /// once and return without running its body. Made to be a nextest setup script:
    ///
    ///   experimental = ["setup-scripts"]
    ///   [scripts.setup.persist-prepare]
    ///   command = "cargo persist prepare"
    ///   [[profile.default.scripts]]
    ///   filter = "all()"
    ///   setup = "persist-prepare"
    #[command(verbatim_doc_comment)]
    Prepare {
        /// Prepare the `#[ignore]`d persistence tests too
        #[arg(long)]
        include_ignored: bool,
        /// Arguments for `cargo test --no-run` (packages, features, profile)
        #[arg(last = true, value_name = "CARGO_ARGS")]
        cargo_args: Vec<String>,
    },
    /// List the test databases: whose each is, whether its owner is alive, its size
    List,
    /// Drop every idle pool database and template (what a CI job runs last)
    Drain,
    /// Drop what tests of dead processes left
    Sweep,
    /// List the databases failed tests kept, newest first
    Kept,
    /// Open a kept database in sqlite3, psql or mysql
    Open {
        /// The test (its path, or the end of it: `isolation`, `suite::isolation`)
        test: String,
        /// `gateway` (the default) or an agent's name
        role: Option<String>,
        /// Print the command instead of running it
        #[arg(long)]
        print: bool,
    },
    /// Drop kept databases: a test's, or all of them
    Clean {
        /// The test whose kept databases to drop
        test: Option<String>,
        /// Drop every kept database (needed when no test is named)
        #[arg(long, conflicts_with = "test")]
        all: bool,
    },
    /// Print a kept test's databases as `assert_data_snapshot!` renders them
    Snapshot {
        /// The test (its path, or the end of it)
        test: String,
        /// Only these tables
        #[arg(long = "table", value_name = "TABLE")]
        tables: Vec<String>,
    },
}

fn main() -> ExitCode {
    let Cargo::Persist(cli) = Cargo::parse();
    let out = Out::new(cli.global.json, cli.global.color);
    match run(cli, &out) {
        Ok(code) => code,
        Err(error) => {
            out.error(&error);
            ExitCode::from(error.exit_code())
        }
    }
}

fn run(cli: Cli, out: &Out) -> Result<ExitCode, CliError> {
    // Nested in a test binary that `prepare` runs (a setup script calling itself): nothing.
    if matches!(cli.command, Command::Prepare { .. }) && prepare::nested() {
        return Ok(ExitCode::SUCCESS);
    }
    let place = Place::resolve(
        cli.global.database_url.as_deref(),
        cli.global.dir.as_deref(),
    )?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| CliError::Io {
            what: "starting the async runtime".into(),
            source: e,
        })?;
    runtime.block_on(async {
        match cli.command {
            Command::Prepare {
                cargo_args,
                include_ignored,
            } => prepare::run(&place, &cargo_args, include_ignored, out).await,
            Command::List => upkeep::list(&place, out).await,
            Command::Drain => upkeep::drain(&place, out).await,
            Command::Sweep => upkeep::sweep(&place, out).await,
            Command::Kept => kept::list(&place, out).await,
            Command::Open { test, role, print } => {
                kept::open(&place, &test, role.as_deref(), print, out).await
            }
            Command::Clean { test, all } => {
                if test.is_none() && !all {
                    return Err(CliError::Usage(
                        "name the test whose kept databases to drop, or give --all".into(),
                    ));
                }
                kept::clean(&place, test.as_deref(), out).await
            }
            Command::Snapshot { test, tables } => kept::snapshot(&place, &test, &tables, out).await,
        }
    })
}
