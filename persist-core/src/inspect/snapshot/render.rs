//! Turning read rows into a snapshot's text: generated values redacted (the same id to the same
//! placeholder everywhere), rows in an order that does not depend on generated values, and
//! every value in one text form.
//!
//! Order: rows are sorted by their text with every id masked; rows alike but for their ids are
//! told apart by what refers to those ids (each id is labelled by the rows it appears in, a few
//! rounds over, like colour refinement of a graph). Ids are then numbered in the order the text
//! first shows them. None of it looks at an id's value, so two runs that store the same data
//! with other ids give the same text.

use std::collections::{BTreeMap, HashMap};
use std::fmt::Write as _;

use super::cells::Cell;

/// How one column is shown.
#[derive(Clone, Debug, Default)]
pub(super) struct Rule {
    /// Shown as stored: no redaction at all.
    pub(super) kept: bool,
    /// The whole value is a time.
    pub(super) time: bool,
    /// The whole value is an id.
    pub(super) id: bool,
    /// JSON pointers inside the value that are times.
    pub(super) time_pointers: Vec<String>,
    /// JSON pointers inside the value that are ids.
    pub(super) id_pointers: Vec<String>,
}

/// One table as read, with a rule per column.
pub(super) struct TableData {
    pub(super) name: String,
    pub(super) columns: Vec<String>,
    pub(super) rules: Vec<Rule>,
    pub(super) rows: Vec<Vec<Cell>>,
}

/// One database as read.
pub(super) struct DatabaseData {
    pub(super) label: String,
    pub(super) tables: Vec<TableData>,
}

/// A piece of a rendered value.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Piece {
    Lit(String),
    Id(usize),
    Time,
}

type Value = Vec<Piece>;

/// Ids by their (canonical) text, numbered as found.
#[derive(Default)]
struct Ids {
    by_text: HashMap<String, usize>,
    /// Values declared as ids: also found inside longer text when long enough to be unique.
    declared: Vec<String>,
}

/// Declared ids shorter than this are redacted only where they are the whole value.
const MIN_EMBEDDED_ID: usize = 8;

impl Ids {
    fn id(&mut self, text: &str) -> usize {
        let key = canonical_id(text);
        let next = self.by_text.len();
        *self.by_text.entry(key).or_insert(next)
    }

    fn declare(&mut self, text: &str) {
        if !text.is_empty() && !self.by_text.contains_key(&canonical_id(text)) {
            self.id(text);
            // UUIDs are found anywhere by their shape; only other ids are looked for by value.
            if !is_uuid(text) && text.chars().count() >= MIN_EMBEDDED_ID {
                self.declared.push(text.to_owned());
            }
        }
    }
}

fn canonical_id(text: &str) -> String {
    if is_uuid(text) {
        text.to_ascii_lowercase()
    } else {
        text.to_owned()
    }
}

fn is_uuid(text: &str) -> bool {
    let b = text.as_bytes();
    b.len() == 36
        && b.iter().enumerate().all(|(i, c)| match i {
            8 | 13 | 18 | 23 => *c == b'-',
            _ => c.is_ascii_hexdigit(),
        })
}

/// Renders the databases as the snapshot's text.
pub(super) fn render(databases: &[DatabaseData]) -> String {
    let mut ids = Ids::default();
    // Declared ids first, so that their occurrences inside text are found too.
    for table in databases.iter().flat_map(|d| &d.tables) {
        for row in &table.rows {
            for (cell, rule) in row.iter().zip(&table.rules) {
                if rule.kept {
                    continue;
                }
                if rule.id {
                    match cell {
                        Cell::Text(text) => ids.declare(text),
                        Cell::Int(n) => ids.declare(&n.to_string()),
                        _ => {}
                    }
                }
                if !rule.id_pointers.is_empty()
                    && let Some(json) = as_json(cell)
                {
                    for pointer in &rule.id_pointers {
                        match json.pointer(pointer) {
                            Some(serde_json::Value::String(s)) => ids.declare(s),
                            Some(serde_json::Value::Number(n)) => ids.declare(&n.to_string()),
                            _ => {}
                        }
                    }
                }
            }
        }
    }
    declared_longest_first(&mut ids);

    // Every row as pieces: (table index, cells).
    let mut rows: Vec<(usize, Vec<Value>)> = Vec::new();
    let mut tables = Vec::new();
    for database in databases {
        for table in &database.tables {
            let index = tables.len();
            tables.push(table);
            for row in &table.rows {
                let cells = row
                    .iter()
                    .zip(&table.rules)
                    .map(|(cell, rule)| value(cell, rule, &mut ids))
                    .collect();
                rows.push((index, cells));
            }
        }
    }
    let labels = refine(&rows, ids.by_text.len());

    // Rows of each table in order; ids numbered as the text first shows them.
    let mut order: Vec<usize> = (0..rows.len()).collect();
    let keys: Vec<(String, String)> = rows
        .iter()
        .map(|(_, cells)| {
            (
                text_of(cells, None, None),
                text_of(cells, Some(&labels), None),
            )
        })
        .collect();
    order.sort_by(|a, b| {
        rows[*a]
            .0
            .cmp(&rows[*b].0)
            .then_with(|| keys[*a].cmp(&keys[*b]))
    });
    let mut numbers: HashMap<usize, usize> = HashMap::new();
    let mut out = String::new();
    let mut next = order.iter().peekable();
    let mut table_index = 0;
    for database in databases {
        let _ = writeln!(out, "{}", database.label);
        for table in &database.tables {
            let count = table.rows.len();
            let _ = match count {
                0 => writeln!(out, "  {}: empty", table.name),
                1 => writeln!(out, "  {}: 1 row", table.name),
                n => writeln!(out, "  {}: {n} rows", table.name),
            };
            while let Some(&&row) = next.peek() {
                if rows[row].0 != table_index {
                    break;
                }
                next.next();
                for (i, (column, cell)) in table.columns.iter().zip(&rows[row].1).enumerate() {
                    let lead = if i == 0 { "    - " } else { "      " };
                    let _ = write!(out, "{lead}{column}: ");
                    for piece in cell {
                        match piece {
                            Piece::Lit(text) => out.push_str(text),
                            Piece::Time => out.push_str("[time]"),
                            Piece::Id(id) => {
                                let n = numbers.len() + 1;
                                let n = *numbers.entry(*id).or_insert(n);
                                let _ = write!(out, "[id-{n}]");
                            }
                        }
                    }
                    out.push('\n');
                }
            }
            table_index += 1;
        }
    }
    out
}

/// Longer declared ids are looked for first, so that one containing another is found whole.
fn declared_longest_first(ids: &mut Ids) {
    ids.declared
        .sort_by(|a, b| b.len().cmp(&a.len()).then_with(|| a.cmp(b)));
    ids.declared.dedup();
}

/// A cell's JSON, when it is JSON or text holding a JSON object or array.
fn as_json(cell: &Cell) -> Option<serde_json::Value> {
    match cell {
        Cell::Json(value) => Some(value.clone()),
        Cell::Text(text) => json_text(text),
        _ => None,
    }
}

fn json_text(text: &str) -> Option<serde_json::Value> {
    let trimmed = text.trim_start();
    if !(trimmed.starts_with('{') || trimmed.starts_with('[')) {
        return None;
    }
    serde_json::from_str(text).ok()
}

/// One cell as pieces.
fn value(cell: &Cell, rule: &Rule, ids: &mut Ids) -> Value {
    if rule.kept {
        return vec![Piece::Lit(plain(cell))];
    }
    if matches!(cell, Cell::Null) {
        return vec![Piece::Lit("null".into())];
    }
    if rule.time {
        return vec![Piece::Time];
    }
    match cell {
        Cell::Time(_) => vec![Piece::Time],
        Cell::Int(n) if rule.id => vec![Piece::Id(ids.id(&n.to_string()))],
        Cell::Text(text) if rule.id && !text.is_empty() => vec![Piece::Id(ids.id(text))],
        Cell::Text(text) => match json_text(text) {
            Some(json) => json_pieces(&json, rule, ids),
            None => match string(text, ids).as_slice() {
                // Text that is one id and nothing else shows as the id alone, as an id column does.
                [Piece::Lit(open), Piece::Id(id), Piece::Lit(close)]
                    if open == "\"" && close == "\"" =>
                {
                    vec![Piece::Id(*id)]
                }
                other => other.to_vec(),
            },
        },
        Cell::Json(json) => json_pieces(json, rule, ids),
        other => vec![Piece::Lit(plain(other))],
    }
}

/// A cell as stored, without redaction.
fn plain(cell: &Cell) -> String {
    match cell {
        Cell::Null => "null".into(),
        Cell::Bool(b) => b.to_string(),
        Cell::Int(n) => n.to_string(),
        Cell::Float(f) => {
            serde_json::Number::from_f64(*f).map_or_else(|| f.to_string(), |n| n.to_string())
        }
        Cell::Text(text) => match json_text(text) {
            Some(json) => canonical_json(&json),
            None => quote(text),
        },
        Cell::Json(json) => canonical_json(json),
        Cell::Time(millis) => sea_orm::prelude::DateTimeUtc::from_timestamp_millis(*millis)
            .map_or_else(
                || millis.to_string(),
                |t| t.format("%Y-%m-%dT%H:%M:%S%.3fZ").to_string(),
            ),
        Cell::Bytes(bytes) => {
            let mut hex = String::from("0x");
            for b in bytes {
                let _ = write!(hex, "{b:02x}");
            }
            hex
        }
    }
}

fn quote(text: &str) -> String {
    serde_json::Value::String(text.to_owned()).to_string()
}

/// JSON as stored, in one form: keys sorted, no spaces.
fn canonical_json(json: &serde_json::Value) -> String {
    use serde_json::Value as J;
    match json {
        J::Object(map) => {
            let sorted: BTreeMap<&String, &J> = map.iter().collect();
            let fields: Vec<String> = sorted
                .into_iter()
                .map(|(key, value)| format!("{}:{}", quote(key), canonical_json(value)))
                .collect();
            format!("{{{}}}", fields.join(","))
        }
        J::Array(items) => {
            let items: Vec<String> = items.iter().map(canonical_json).collect();
            format!("[{}]", items.join(","))
        }
        other => other.to_string(),
    }
}

/// A quoted string, its ids found: UUIDs anywhere, declared ids where they occur.
fn string(text: &str, ids: &mut Ids) -> Value {
    let mut pieces = vec![Piece::Lit("\"".into())];
    let mut literal = String::new();
    let mut rest = text;
    'scan: while !rest.is_empty() {
        if rest.len() >= 36 && rest.is_char_boundary(36) && is_uuid(&rest[..36]) {
            flush(&mut pieces, &mut literal);
            pieces.push(Piece::Id(ids.id(&rest[..36])));
            rest = &rest[36..];
            continue;
        }
        for declared in &ids.declared {
            if rest.starts_with(declared.as_str()) {
                flush(&mut pieces, &mut literal);
                let id = ids.by_text[&canonical_id(declared)];
                pieces.push(Piece::Id(id));
                rest = &rest[declared.len()..];
                continue 'scan;
            }
        }
        let c = rest.chars().next().unwrap_or_default();
        literal.push(c);
        rest = &rest[c.len_utf8()..];
    }
    flush(&mut pieces, &mut literal);
    pieces.push(Piece::Lit("\"".into()));
    merge(pieces)
}

fn flush(pieces: &mut Value, literal: &mut String) {
    if !literal.is_empty() {
        let quoted = quote(literal);
        pieces.push(Piece::Lit(quoted[1..quoted.len() - 1].to_owned()));
        literal.clear();
    }
}

/// Joins neighbouring literals.
fn merge(pieces: Value) -> Value {
    let mut out: Value = Vec::with_capacity(pieces.len());
    for piece in pieces {
        match (out.last_mut(), piece) {
            (Some(Piece::Lit(last)), Piece::Lit(text)) => last.push_str(&text),
            (_, piece) => out.push(piece),
        }
    }
    out
}

/// JSON in one form (keys sorted, no spaces), its ids and times redacted.
fn json_pieces(json: &serde_json::Value, rule: &Rule, ids: &mut Ids) -> Value {
    let mut pieces = Vec::new();
    walk(json, "", rule, ids, &mut pieces);
    merge(pieces)
}

fn walk(json: &serde_json::Value, path: &str, rule: &Rule, ids: &mut Ids, out: &mut Value) {
    use serde_json::Value as J;
    if !matches!(json, J::Null) {
        if rule.time_pointers.iter().any(|p| p == path) {
            out.push(Piece::Time);
            return;
        }
        if rule.id_pointers.iter().any(|p| p == path) {
            match json {
                J::String(s) if !s.is_empty() => {
                    out.push(Piece::Lit("\"".into()));
                    out.push(Piece::Id(ids.id(s)));
                    out.push(Piece::Lit("\"".into()));
                    return;
                }
                J::Number(n) => {
                    out.push(Piece::Id(ids.id(&n.to_string())));
                    return;
                }
                _ => {}
            }
        }
    }
    match json {
        J::Object(map) => {
            let sorted: BTreeMap<&String, &J> = map.iter().collect();
            out.push(Piece::Lit("{".into()));
            for (i, (key, value)) in sorted.into_iter().enumerate() {
                if i > 0 {
                    out.push(Piece::Lit(",".into()));
                }
                out.extend(string(key, ids));
                out.push(Piece::Lit(":".into()));
                let escaped = key.replace('~', "~0").replace('/', "~1");
                walk(value, &format!("{path}/{escaped}"), rule, ids, out);
            }
            out.push(Piece::Lit("}".into()));
        }
        J::Array(items) => {
            out.push(Piece::Lit("[".into()));
            for (i, value) in items.iter().enumerate() {
                if i > 0 {
                    out.push(Piece::Lit(",".into()));
                }
                walk(value, &format!("{path}/{i}"), rule, ids, out);
            }
            out.push(Piece::Lit("]".into()));
        }
        J::String(s) => out.extend(string(s, ids)),
        other => out.push(Piece::Lit(other.to_string())),
    }
}

/// A row's text for ordering: ids as their label (or all alike without labels), `me` marked.
fn text_of(cells: &[Value], labels: Option<&[usize]>, me: Option<usize>) -> String {
    let mut text = String::new();
    for cell in cells {
        for piece in cell {
            match piece {
                Piece::Lit(lit) => text.push_str(lit),
                Piece::Time => text.push('\u{3}'),
                Piece::Id(id) if Some(*id) == me => text.push('\u{2}'),
                Piece::Id(id) => {
                    text.push('\u{1}');
                    if let Some(labels) = labels {
                        let _ = write!(text, "{}", labels[*id]);
                    }
                }
            }
        }
        text.push('\u{1f}');
    }
    text
}

/// Labels each id by where it appears, refined until stable (or a few rounds): two ids get
/// one label only if nothing in the data tells them apart.
fn refine(rows: &[(usize, Vec<Value>)], count: usize) -> Vec<usize> {
    let mut appears: Vec<Vec<usize>> = vec![Vec::new(); count];
    for (index, (_, cells)) in rows.iter().enumerate() {
        for piece in cells.iter().flatten() {
            if let Piece::Id(id) = piece
                && appears[*id].last() != Some(&index)
            {
                appears[*id].push(index);
            }
        }
    }
    let mut labels = vec![0usize; count];
    let mut classes = 1;
    for _ in 0..6 {
        let signatures: Vec<(usize, Vec<(usize, String)>)> = (0..count)
            .map(|id| {
                let mut seen: Vec<(usize, String)> = appears[id]
                    .iter()
                    .map(|&row| (rows[row].0, text_of(&rows[row].1, Some(&labels), Some(id))))
                    .collect();
                seen.sort();
                (labels[id], seen)
            })
            .collect();
        let mut distinct: Vec<&(usize, Vec<(usize, String)>)> = signatures.iter().collect();
        distinct.sort();
        distinct.dedup();
        let next: Vec<usize> = signatures
            .iter()
            .map(|s| distinct.binary_search(&s).unwrap_or(0))
            .collect();
        labels = next;
        if distinct.len() == classes {
            break;
        }
        classes = distinct.len();
    }
    labels
}

#[cfg(test)]
mod tests {
    use super::*;

    fn table(name: &str, columns: &[&str], rules: Vec<Rule>, rows: Vec<Vec<Cell>>) -> TableData {
        TableData {
            name: name.into(),
            columns: columns.iter().map(|c| (*c).to_owned()).collect(),
            rules,
            rows,
        }
    }

    fn text(s: &str) -> Cell {
        Cell::Text(s.into())
    }

    const A: &str = "6f9619ff-8b86-d011-b42d-00cf4fc964ff";
    const B: &str = "0b2e4c1d-3f5a-4e6b-8c7d-9e0f1a2b3c4d";

    /// Two sessions alike but for their messages, the agent's state naming the session of
    /// message "a"; `swap` gives the sessions each other's ids and writes every row the other
    /// way round.
    fn sessions(swap: bool) -> String {
        let (of_a, of_b) = if swap { (B, A) } else { (A, B) };
        let (first, second, one, two) = if swap {
            (of_b, of_a, "b", "a")
        } else {
            (of_a, of_b, "a", "b")
        };
        let id = Rule {
            id: true,
            ..Rule::default()
        };
        let gateway = DatabaseData {
            label: "gateway".into(),
            tables: vec![
                table(
                    "messages",
                    &["session", "text"],
                    vec![Rule::default(), Rule::default()],
                    vec![vec![text(first), text(one)], vec![text(second), text(two)]],
                ),
                table(
                    "sessions",
                    &["id", "user"],
                    vec![id.clone(), Rule::default()],
                    vec![vec![text(second), text("u")], vec![text(first), text("u")]],
                ),
            ],
        };
        let agent = DatabaseData {
            label: "agent A".into(),
            tables: vec![table(
                "state",
                &["data"],
                vec![Rule::default()],
                vec![vec![Cell::Json(serde_json::json!({ "s": of_a, "n": 1 }))]],
            )],
        };
        render(&[gateway, agent])
    }

    #[test]
    fn ids_become_placeholders_shared_across_databases_whatever_their_values_or_order() {
        let text = sessions(false);
        assert_eq!(text, sessions(true));
        assert!(!text.contains(A) && !text.contains(B), "{text}");
        // The session of message "a" is the one the agent's state names.
        let placeholder = |line_with: &str| {
            let lines: Vec<&str> = text.lines().collect();
            let at = lines.iter().position(|l| l.contains(line_with)).unwrap();
            lines[at - 1]
                .trim()
                .trim_start_matches("- session: ")
                .to_owned()
        };
        assert!(
            text.contains(&format!(
                "{{\"n\":1,\"s\":\"{}\"}}",
                placeholder("text: \"a\"")
            )),
            "{text}"
        );
    }

    #[test]
    fn declared_short_ids_are_replaced_only_where_they_are_the_whole_value() {
        let id = Rule {
            id: true,
            ..Rule::default()
        };
        let db = DatabaseData {
            label: "gateway".into(),
            tables: vec![table(
                "t",
                &["id", "note"],
                vec![id, Rule::default()],
                vec![
                    vec![text("42"), text("42 apples")],
                    vec![text("ticket-000042"), text("see ticket-000042")],
                    vec![text(""), text("no id")],
                ],
            )],
        };
        let out = render(&[db]);
        assert!(out.contains("note: \"42 apples\""), "{out}");
        // Short or long, an id column's value is a placeholder; an empty one is shown as is.
        assert!(!out.contains("id: \"42\""), "{out}");
        assert!(out.contains("- id: \"\"\n      note: \"no id\""), "{out}");
        assert!(out.contains("note: \"see [id-"), "{out}");
    }

    /// The placeholder of each line holding `needle`: the `[id-N]` it shows.
    fn placeholders(out: &str, needle: &str) -> Vec<String> {
        out.lines()
            .filter(|l| l.contains(needle))
            .flat_map(|l| {
                l.split("[id-")
                    .skip(1)
                    .map(|rest| rest[..rest.find(']').unwrap()].to_owned())
            })
            .collect()
    }

    #[test]
    fn ids_declared_by_integer_columns_and_json_pointers_are_found_inside_text() {
        let id = Rule {
            id: true,
            ..Rule::default()
        };
        let pointers = Rule {
            id_pointers: vec!["/run".into(), "/number".into()],
            ..Rule::default()
        };
        let db = DatabaseData {
            label: "gateway".into(),
            tables: vec![
                table(
                    "orders",
                    &["id", "meta"],
                    vec![id, pointers],
                    vec![vec![
                        Cell::Int(1_234_567_890),
                        Cell::Json(
                            serde_json::json!({ "run": "run-abcdefgh", "number": 987_654_321 }),
                        ),
                    ]],
                ),
                table(
                    "notes",
                    &["text"],
                    vec![Rule::default()],
                    vec![
                        vec![text("order 1234567890 shipped")],
                        vec![text("by run-abcdefgh")],
                        vec![text("ticket 987654321")],
                        vec![text("see ref-abcdefgh")],
                    ],
                ),
                table(
                    "refs",
                    &["data"],
                    vec![Rule {
                        id_pointers: vec!["/ref".into()],
                        ..Rule::default()
                    }],
                    vec![vec![text("{\"ref\": \"ref-abcdefgh\"}")]],
                ),
            ],
        };
        let out = render(&[db]);
        for value in ["1234567890", "run-abcdefgh", "987654321", "ref-abcdefgh"] {
            assert!(!out.contains(value), "{value} is shown: {out}");
        }
        // Each note shows the placeholder its id has where it is declared.
        assert_eq!(
            placeholders(&out, "shipped"),
            placeholders(&out, "- id: "),
            "{out}"
        );
        assert_eq!(
            placeholders(&out, "by "),
            placeholders(&out, "meta: ")[1..],
            "{out}"
        );
        assert_eq!(
            placeholders(&out, "ticket "),
            placeholders(&out, "meta: ")[..1],
            "{out}"
        );
    }

    #[test]
    fn json_pointers_redact_their_ids_and_times_whatever_their_length() {
        let rule = Rule {
            id_pointers: vec!["/id".into(), "/n".into(), "/none".into()],
            time_pointers: vec!["/at".into()],
            ..Rule::default()
        };
        let db = DatabaseData {
            label: "agent".into(),
            tables: vec![table(
                "state",
                &["data"],
                vec![rule],
                vec![vec![Cell::Json(serde_json::json!({
                    "at": "2024-05-01T10:00:00Z",
                    "id": "r1",
                    "n": 7,
                    "none": "",
                    "text": "kept",
                }))]],
            )],
        };
        let out = render(&[db]);
        assert!(
            out.contains(
                "data: {\"at\":[time],\"id\":\"[id-1]\",\"n\":[id-2],\"none\":\"\",\"text\":\"kept\"}"
            ),
            "{out}"
        );
    }

    fn id_rule() -> Rule {
        Rule {
            id: true,
            ..Rule::default()
        }
    }

    /// `tables`, then `last (id, name)` holding a row for A and one for B alike but for their
    /// ids, rendered with those two rows read in either order: the text is the same.
    fn same_whatever_read_first(tables: impl Fn() -> Vec<TableData>, last: &str) {
        let render_read = |rows: Vec<Vec<Cell>>| {
            let mut all = tables();
            all.push(table(
                last,
                &["id", "name"],
                vec![id_rule(), Rule::default()],
                rows,
            ));
            render(&[DatabaseData {
                label: "gateway".into(),
                tables: all,
            }])
        };
        let a_first = render_read(vec![vec![text(A), text("n")], vec![text(B), text("n")]]);
        let b_first = render_read(vec![vec![text(B), text("n")], vec![text(A), text("n")]]);
        assert_eq!(a_first, b_first);
    }

    /// Rows alike but for their ids are ordered by where each id is used elsewhere, here by
    /// which end of a link it is, whatever order they were read in.
    #[test]
    fn rows_alike_but_for_their_ids_are_ordered_by_what_refers_to_them() {
        let links = || {
            vec![table(
                "links",
                &["from", "to"],
                vec![id_rule(), id_rule()],
                vec![vec![text(A), text(B)]],
            )]
        };
        same_whatever_read_first(links, "names");
    }

    /// Two members alike but for the group they are in, the groups alike but for their kind:
    /// telling the members apart takes a second round (a member is told by its group, a group
    /// by its kind).
    #[test]
    fn rows_told_apart_only_through_another_row_are_ordered_the_same_whatever_read_first() {
        const C: &str = "1c2d3e4f-5a6b-4c7d-8e9f-0a1b2c3d4e5f";
        const D: &str = "9f8e7d6c-5b4a-4392-8170-6f5e4d3c2b1a";
        let groups = || {
            vec![
                table(
                    "groups",
                    &["id", "kind"],
                    vec![id_rule(), Rule::default()],
                    vec![vec![text(C), text("a")], vec![text(D), text("b")]],
                ),
                table(
                    "links",
                    &["member", "group"],
                    vec![id_rule(), id_rule()],
                    vec![vec![text(A), text(C)], vec![text(B), text(D)]],
                ),
            ]
        };
        same_whatever_read_first(groups, "members");
    }

    #[test]
    fn an_id_that_holds_another_is_found_whole() {
        let id = Rule {
            id: true,
            ..Rule::default()
        };
        let db = DatabaseData {
            label: "gateway".into(),
            tables: vec![
                table(
                    "a",
                    &["id"],
                    vec![id.clone()],
                    vec![vec![text("job-12345678")]],
                ),
                table(
                    "b",
                    &["id", "note"],
                    vec![id, Rule::default()],
                    vec![vec![
                        text("job-12345678-retry"),
                        text("after job-12345678-retry"),
                    ]],
                ),
            ],
        };
        let out = render(&[db]);
        assert!(out.contains("note: \"after [id-2]\""), "{out}");
    }

    #[test]
    fn kept_columns_times_nulls_and_values_in_one_form() {
        let rules = vec![
            Rule {
                kept: true,
                ..Rule::default()
            },
            Rule {
                time: true,
                ..Rule::default()
            },
            Rule::default(),
            Rule::default(),
            Rule::default(),
        ];
        let db = DatabaseData {
            label: "gateway".into(),
            tables: vec![table(
                "t",
                &["a", "b", "c", "d", "e"],
                rules,
                vec![vec![
                    Cell::Json(serde_json::json!({ "b": A, "a": 1 })),
                    Cell::Int(1_700_000_000_000),
                    Cell::Null,
                    text("{\"z\": 1, \"a\": [true, null]}"),
                    Cell::Bool(false),
                ]],
            )],
        };
        let out = render(&[db]);
        assert!(
            out.contains(&format!("a: {{\"a\":1,\"b\":\"{A}\"}}")),
            "{out}"
        );
        assert!(out.contains("b: [time]"), "{out}");
        assert!(out.contains("c: null"), "{out}");
        assert!(out.contains("d: {\"a\":[true,null],\"z\":1}"), "{out}");
        assert!(out.contains("e: false"), "{out}");
    }
}
