//! Black-box persistence testing for a SeaORM gateway-plus-agents mesh.

#![warn(missing_docs)]

pub mod db;
mod error;
pub mod inspect;
pub mod mesh;

pub use db::MultiDatabaseManager;
pub use error::{PersistError, Result};
