//! Databases kept for a person (`keep = "on_failure"`): where each one is, and dropping them
//! once the person is done. Kept databases are never swept; only this drops them.

use sea_orm::Statement;

use super::{ADMIN, drop_owned, ensure_table, placeholder};
use crate::backend::server::connect::url_for;
use crate::backend::server::owner_connection;
use crate::error::{DbContext, Error, Result};

/// The URL of database `name` on the server at `admin_url`: the admin URL with `name` as its
/// database (and `mysql://` for `mariadb://`), what a client such as `psql` or `mysql` opens.
pub fn database_url(admin_url: &str, name: &str) -> Result<String> {
    url_for(admin_url, Some(name))
}

/// Drops the kept databases `names` on the server at `admin_url` and forgets them, returning
/// those dropped. Each is first taken from the kept state by one conditional update, so a
/// database that is not (or no longer) kept is never touched: asking for one is an
/// [`Error::NotKept`]. One the server refuses to drop is recorded as stuck, as any drop is,
/// and the sweeps try it again.
pub async fn drop_kept(admin_url: &str, names: &[String]) -> Result<Vec<String>> {
    crate::env::check()?;
    let (admin, me) = owner_connection(admin_url).await?;
    let result = async {
        ensure_table(&admin).await?;
        let backend = admin.get_database_backend();
        let mut dropped = Vec::new();
        for name in names {
            let sql = format!(
                "UPDATE {} SET state = 'claimed', owner = {me} WHERE db_name = {} AND state = 'kept'",
                super::REGISTRY_TABLE,
                placeholder(backend)
            );
            let taken = admin
                .execute_raw(Statement::from_sql_and_values(
                    backend,
                    sql,
                    [name.as_str().into()],
                ))
                .await
                .context(ADMIN, format!("taking kept database {name}"))?;
            if taken.rows_affected() != 1 {
                return Err(Error::NotKept { name: name.clone() });
            }
            if drop_owned(&admin, name, me).await?.is_dropped() {
                dropped.push(name.clone());
            }
        }
        Ok(dropped)
    }
    .await;
    let _ = admin.close().await;
    result
}

use sea_orm::ConnectionTrait as _;
