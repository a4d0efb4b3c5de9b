// Every name the environment takes, the attribute takes: aliases, and keep policies in any case.
use persist_core::prelude::*;

#[persistence_test(agents = ["A"], backend = "mariadb", keep = "on-failure")]
async fn on_mariadb(manager: MultiDatabaseManager) {
    let _ = manager;
}

#[persistence_test(agents = ["A"], backend = "postgresql")]
async fn on_postgresql(manager: MultiDatabaseManager) {
    let _ = manager;
}

#[persistence_test(agents = ["A"], backends = ["memory", "sqlite-file"])]
async fn on_sqlite(manager: MultiDatabaseManager) {
    let _ = manager;
}

fn main() {}
