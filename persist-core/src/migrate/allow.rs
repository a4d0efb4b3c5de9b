//! [`Allow`]: differences a drift check lets through, named out loud.

use super::snapshot::Difference;

/// A difference a drift check lets through: known and intended, said out loud.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Allow {
    /// Differences whose [`Difference::path`] matches: `table`, `table.column`,
    /// `table.primary_key`, `table.index(a,b)` or `table.foreign_key(a)`, where `*` matches
    /// any run of characters (`*.index(*)`: every index).
    Path(String),
    /// A string column whose type differs only by its length: `varchar` or `varchar(255)` in
    /// the entities (SeaORM's defaults for `String`), `varchar(64)` in the migrations.
    StringLengths,
}

impl Allow {
    /// Allows the differences at `pattern` (see [`Allow::Path`]).
    pub fn path(pattern: impl Into<String>) -> Self {
        Allow::Path(pattern.into())
    }

    /// Allows every difference in `table`: the table itself and everything in it.
    pub fn table(table: &str) -> Self {
        Allow::Path(format!("{table}*"))
    }

    /// Whether this lets `difference` through.
    pub fn allows(&self, difference: &Difference) -> bool {
        match self {
            Allow::Path(pattern) => glob(pattern, &difference.path()),
            Allow::StringLengths => match difference {
                Difference::Column {
                    expected: Some(a),
                    found: Some(b),
                    ..
                } => {
                    a.nullable == b.nullable
                        && a.default == b.default
                        && unsized_string(&a.data_type, &b.data_type)
                }
                _ => false,
            },
        }
    }
}

/// `a` and `b` are the same string type but for a length (which either may leave out).
fn unsized_string(a: &str, b: &str) -> bool {
    let base = |t: &str| t.split('(').next().unwrap_or_default().trim().to_owned();
    let (x, y) = (base(a), base(b));
    x == y && ["varchar", "character varying", "char", "character"].contains(&x.as_str())
}

/// `*` matches any run of characters; everything else matches itself.
fn glob(pattern: &str, text: &str) -> bool {
    match pattern.split_once('*') {
        None => pattern == text,
        Some((head, tail)) => {
            let Some(rest) = text.strip_prefix(head) else {
                return false;
            };
            (0..=rest.len())
                .filter(|i| rest.is_char_boundary(*i))
                .any(|i| glob(tail, &rest[i..]))
        }
    }
}

/// A loss an upgrade makes on purpose, said out loud: at one step, one table may lose rows or
/// go (its rows moved elsewhere, or dropped by design), or one column may lose its values
/// (dropped, or set to NULL, once what it held was carried elsewhere). Any other loss still
/// fails the [`upgrade`](super::upgrade_allowing) check.
///
/// ```
/// use persist_core::migrate::Loss;
///
/// // The third migration folds `chat_messages` into `chat_tasks` and drops it.
/// let by_number = Loss::at(3, "chat_messages");
/// let by_name = Loss::at("m20250301_000003_chat_tasks", "chat_messages");
/// assert_ne!(by_number, by_name);
/// // The fourth backfills `organization_id` from `user_id`, then drops `user_id`.
/// let column = Loss::column(4, "messages", "user_id");
/// assert_eq!(column.column_name(), Some("user_id"));
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Loss {
    pub(crate) step: MigrationStep,
    pub(crate) table: String,
    pub(crate) column: Option<String>,
}

/// A migration step: its number (the first migration is step 1) or its name.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum MigrationStep {
    /// The `n`th migration, from 1.
    Number(usize),
    /// The migration of this name.
    Name(String),
}

impl From<usize> for MigrationStep {
    fn from(n: usize) -> Self {
        MigrationStep::Number(n)
    }
}

impl From<&str> for MigrationStep {
    fn from(name: &str) -> Self {
        MigrationStep::Name(name.to_owned())
    }
}

impl From<String> for MigrationStep {
    fn from(name: String) -> Self {
        MigrationStep::Name(name)
    }
}

impl Loss {
    /// At `step`, `table` may lose rows or be dropped (and its columns their values).
    pub fn at(step: impl Into<MigrationStep>, table: impl Into<String>) -> Self {
        Loss {
            step: step.into(),
            table: table.into(),
            column: None,
        }
    }

    /// At `step`, `column` of `table` may lose its values: be dropped holding them, or have
    /// them set to NULL. The table's rows must all stay.
    pub fn column(
        step: impl Into<MigrationStep>,
        table: impl Into<String>,
        column: impl Into<String>,
    ) -> Self {
        Loss {
            step: step.into(),
            table: table.into(),
            column: Some(column.into()),
        }
    }

    /// The column it is about, for a column's loss.
    pub fn column_name(&self) -> Option<&str> {
        self.column.as_deref()
    }

    /// The step's index among `names` (the migrator's), or why it names none.
    pub(crate) fn index(&self, names: &[String]) -> std::result::Result<usize, String> {
        match &self.step {
            MigrationStep::Number(n) if (1..=names.len()).contains(n) => Ok(n - 1),
            MigrationStep::Number(n) => Err(format!(
                "step {n} does not exist: the migrator has steps 1 to {}",
                names.len()
            )),
            MigrationStep::Name(name) => names.iter().position(|m| m == name).ok_or_else(|| {
                format!("no migration is named {name:?}; the migrator has {names:?}")
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::db::catalog::ColumnSchema;

    fn column(data_type: &str, nullable: bool, default: Option<&str>) -> ColumnSchema {
        ColumnSchema {
            data_type: data_type.to_owned(),
            nullable,
            default: default.map(str::to_owned),
        }
    }

    fn differs(expected: ColumnSchema, found: ColumnSchema) -> Difference {
        Difference::Column {
            table: "users".into(),
            column: "name".into(),
            expected: Some(expected),
            found: Some(found),
        }
    }

    #[test]
    fn string_lengths_let_through_a_length_and_nothing_else() {
        let allow = Allow::StringLengths;
        // The entities' `varchar` against the migrations' `varchar(64)`: only a length.
        let length = differs(
            column("varchar", false, None),
            column("varchar(64)", false, None),
        );
        assert!(allow.allows(&length));
        let sized = differs(
            column("character varying(255)", true, Some("''")),
            column("character varying(64)", true, Some("''")),
        );
        assert!(allow.allows(&sized));
        // A length and something more is drift: nullability, a default, another type.
        let nullable = differs(
            column("varchar", false, None),
            column("varchar(64)", true, None),
        );
        assert!(!allow.allows(&nullable));
        let default = differs(
            column("varchar", false, None),
            column("varchar(64)", false, Some("'x'")),
        );
        assert!(!allow.allows(&default));
        for (a, b) in [
            ("varchar", "text"),
            ("integer", "bigint"),
            ("char(2)", "varchar(2)"),
        ] {
            let other = differs(column(a, false, None), column(b, false, None));
            assert!(!allow.allows(&other), "{a} / {b}");
        }
        // A column one side lacks is not a length.
        let missing = Difference::Column {
            table: "users".into(),
            column: "name".into(),
            expected: Some(column("varchar", false, None)),
            found: None,
        };
        assert!(!allow.allows(&missing));
    }

    #[test]
    fn a_loss_says_which_column_it_is_about() {
        assert_eq!(
            Loss::column(4, "messages", "user_id").column_name(),
            Some("user_id")
        );
        // A table's loss is about no one column.
        assert_eq!(Loss::at(3, "chat_messages").column_name(), None);
    }
}
