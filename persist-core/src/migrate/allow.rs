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
