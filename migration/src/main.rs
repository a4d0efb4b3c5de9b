//! The standard sea-orm-migration command line for the gateway schema:
//! `DATABASE_URL=sqlite://gateway.db?mode=rwc cargo run -p persist-mesh-migration -- status`.

use sea_orm_migration::prelude::*;

#[tokio::main]
async fn main() {
    cli::run_cli(migration::Migrator).await;
}
