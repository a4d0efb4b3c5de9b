//! The crate's floors: a module names only modules on floors below its own (or files of its
//! own module). An import that reaches up, or across to a neighbour on the same floor, fails
//! this test with the file, the line and the rule.
//!
//! ```text
//! 7  mesh  migrate          the reference mesh; migration testing
//! 6  runner                 what `#[persistence_test]` calls: provisioning, injection, teardown
//! 5  assertions  adapter    domain assertions; the adapters that drive a system's API
//! 4  inspect  http          the cross-database inspector; HTTP testing
//! 2  system                 the seams: `System`, `Layout`, the API traits, the scripted model
//! 1  error                  the error type
//! 0  db  env                the engine crate (persist-db), re-exported: databases, the environment
//! ```
//!
//! `lib.rs` sits above them all. Comments are not read: a doc link may point anywhere. The
//! engine crate has no floors of its own to keep, but the rules on files hold in both crates:
//! no circle of files, no file too long to read in one sitting, one file reads the environment.

use std::path::{Path, PathBuf};

/// Floors, bottom first.
const FLOORS: &[&[&str]] = &[
    &["db", "env"],
    &["error"],
    &["system"],
    &["inspect", "http"],
    &["assertions", "adapter"],
    &["runner"],
    &["mesh", "migrate"],
];

fn floor(module: &str) -> Option<usize> {
    FLOORS.iter().position(|f| f.contains(&module))
}

/// The source directories of the crates whose files are checked: this one and the engine.
fn crate_sources() -> [PathBuf; 2] {
    let here = Path::new(env!("CARGO_MANIFEST_DIR"));
    [here.join("src"), here.join("../persist-db/src")]
}

/// The module a file belongs to: its first path component under `src/`.
fn module_of(path: &Path, src: &Path) -> String {
    let relative = path.strip_prefix(src).unwrap();
    let first = relative.components().next().unwrap().as_os_str();
    first.to_string_lossy().trim_end_matches(".rs").to_owned()
}

/// The file's code, with comments, strings and character literals blanked out (line breaks
/// kept, so line numbers stay right).
fn code_only(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = String::with_capacity(text.len());
    let mut i = 0;
    while i < bytes.len() {
        let rest = &text[i..];
        if rest.starts_with("//") {
            let end = rest.find('\n').unwrap_or(rest.len());
            i += end;
        } else if rest.starts_with("/*") {
            let end = rest.find("*/").map_or(rest.len(), |e| e + 2);
            out.extend(rest[..end].chars().filter(|c| *c == '\n'));
            i += end;
        } else if rest.starts_with("r#\"") || rest.starts_with("r\"") {
            let hashes = rest[1..].chars().take_while(|c| *c == '#').count();
            let close = format!("\"{}", "#".repeat(hashes));
            let body = 2 + hashes;
            let end = rest[body..]
                .find(&close)
                .map_or(rest.len(), |e| body + e + close.len());
            out.extend(rest[..end].chars().filter(|c| *c == '\n'));
            i += end;
        } else if rest.starts_with('"') {
            let mut j = 1;
            let b = rest.as_bytes();
            while j < b.len() && b[j] != b'"' {
                j += if b[j] == b'\\' { 2 } else { 1 };
            }
            let end = (j + 1).min(rest.len());
            out.extend(rest[..end].chars().filter(|c| *c == '\n'));
            i += end;
        } else if rest.starts_with("'\\''") || rest.starts_with("'\"'") {
            i += 4.min(rest.len());
        } else {
            let c = rest.chars().next().unwrap();
            out.push(c);
            i += c.len_utf8();
        }
    }
    out
}

/// Every module named by `crate::` paths in `code`, with its line: `crate::db`, and each
/// name of a group such as `crate::{db, error::Result}`.
fn named_modules(code: &str) -> Vec<(usize, String)> {
    let mut found = Vec::new();
    for (n, line) in code.lines().enumerate() {
        let mut rest = line;
        while let Some(at) = rest.find("crate::") {
            let before = rest[..at].chars().last();
            rest = &rest[at + "crate::".len()..];
            if before.is_some_and(|c| c.is_alphanumeric() || c == '_') {
                continue; // `persist_crate::` or the like
            }
            if let Some(group) = rest.strip_prefix('{') {
                // A group may span lines: read it from the whole code.
                let start = code.lines().take(n).map(|l| l.len() + 1).sum::<usize>()
                    + (line.len() - group.len());
                let mut depth = 1;
                let mut item = String::new();
                let mut at_item_start = true;
                for c in code[start..].chars() {
                    match c {
                        '{' => depth += 1,
                        '}' => depth -= 1,
                        ',' if depth == 1 => at_item_start = true,
                        _ => {}
                    }
                    if depth == 0 {
                        break;
                    }
                    if depth == 1 && at_item_start {
                        if c.is_alphanumeric() || c == '_' {
                            item.push(c);
                        } else if !item.is_empty() {
                            found.push((n + 1, std::mem::take(&mut item)));
                            at_item_start = false;
                        }
                    }
                }
                if !item.is_empty() {
                    found.push((n + 1, item));
                }
            } else {
                let name: String = rest
                    .chars()
                    .take_while(|c| c.is_alphanumeric() || *c == '_')
                    .collect();
                found.push((n + 1, name));
            }
        }
    }
    found
}

fn rust_files(dir: &Path, into: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            rust_files(&path, into);
        } else if path.extension().is_some_and(|e| e == "rs") {
            into.push(path);
        }
    }
}

/// `super::` from a file directly under `src/` (or from a module's `mod.rs`) leaves its
/// module; from deeper files it stays inside. Upward `super::super::` chains are counted.
fn leaves_module_by_super(path: &Path, src: &Path, code: &str) -> Option<usize> {
    let relative = path.strip_prefix(src).unwrap();
    let mut depth = relative.components().count() - 1; // folders between src and the file
    if relative.file_name().is_some_and(|f| f == "mod.rs") {
        depth = depth.saturating_sub(1);
    }
    // A file at depth d is module crate::a::…(d+1 levels, or d for mod.rs). `super` repeated
    // more than d times (counting its own file level) reaches the crate root.
    // Inline modules (`mod tests { use super::*; }`) add a level: they come last, after
    // `#[cfg(test)]`, and are not read.
    for (n, line) in code
        .lines()
        .enumerate()
        .take_while(|(_, l)| !l.contains("#[cfg(test)]"))
    {
        let mut rest = line;
        while let Some(at) = rest.find("super::") {
            let mut count = 0;
            let mut tail = &rest[at..];
            while let Some(t) = tail.strip_prefix("super::") {
                count += 1;
                tail = t;
            }
            if count > depth {
                return Some(n + 1);
            }
            rest = tail;
        }
    }
    None
}

#[test]
fn no_module_names_one_above_or_beside_it() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    files.sort();
    let mut broken = Vec::new();
    for path in &files {
        let module = module_of(path, &src);
        if module == "lib" {
            continue;
        }
        let Some(own) = floor(&module) else {
            broken.push(format!(
                "{}: module `{module}` is on no floor; add it to FLOORS",
                path.display()
            ));
            continue;
        };
        let code = code_only(&std::fs::read_to_string(path).unwrap());
        if let Some(line) = leaves_module_by_super(path, &src, &code) {
            broken.push(format!(
                "{}:{line}: `super::` leaves module `{module}`; name the module with `crate::`",
                path.display()
            ));
        }
        for (line, named) in named_modules(&code) {
            if named == module || named.is_empty() || named == "self" {
                continue;
            }
            match floor(&named) {
                Some(theirs) if theirs < own => {}
                Some(theirs) => broken.push(format!(
                    "{}:{line}: `{module}` (floor {own}) names `{named}` (floor {theirs}); \
                     a module names only floors below its own",
                    path.display()
                )),
                // Items of the crate root (the macro, re-exports) are above every floor.
                None => broken.push(format!(
                    "{}:{line}: `{module}` names `crate::{named}`, which is no module's; \
                     name the module that defines it",
                    path.display()
                )),
            }
        }
    }
    assert!(broken.is_empty(), "\n{}\n", broken.join("\n"));
}

#[test]
fn the_check_reads_groups_and_ignores_comments() {
    let code = code_only(
        "use crate::{db::{A, B}, error::Result};\n// crate::mesh\nlet s = \"crate::http\";\nuse crate::system::X;\n",
    );
    let named: Vec<_> = named_modules(&code).into_iter().map(|(_, m)| m).collect();
    assert_eq!(named, ["db", "error", "system"]);
}

/// Non-test lines of a file: everything before its `#[cfg(test)]` module.
fn code_lines(text: &str) -> usize {
    text.lines()
        .take_while(|line| !line.starts_with("#[cfg(test)]"))
        .count()
}

#[test]
fn every_file_reads_in_one_sitting_and_only_env_reads_the_environment() {
    let mut files = Vec::new();
    for src in crate_sources() {
        rust_files(&src, &mut files);
    }
    let mut broken = Vec::new();
    for path in &files {
        let text = std::fs::read_to_string(path).unwrap();
        let lines = code_lines(&text);
        if lines > 500 {
            broken.push(format!(
                "{}: {lines} lines of non-test code; split it along its seams (at most 500)",
                path.display()
            ));
        }
        let code = code_only(&text);
        if path.file_name().is_some_and(|f| f != "env.rs")
            && (code.contains("std::env::var") || code.contains("use std::env"))
        {
            broken.push(format!(
                "{}: reads the environment; go through `crate::env`",
                path.display()
            ));
        }
    }
    assert!(broken.is_empty(), "\n{}\n", broken.join("\n"));
}

/// The module path of a file under `src/` (`db::backend::server` for `db/backend/server/mod.rs`).
fn module_path(path: &Path, src: &Path) -> Vec<String> {
    let relative = path.strip_prefix(src).unwrap();
    let mut parts: Vec<String> = relative
        .components()
        .map(|c| {
            c.as_os_str()
                .to_string_lossy()
                .trim_end_matches(".rs")
                .to_owned()
        })
        .collect();
    if parts.last().is_some_and(|p| p == "mod" || p == "lib") {
        parts.pop();
    }
    parts
}

/// Every path a file's `use` declarations name, each whole (`a::b::c` for `use a::b::{c, d}`
/// gives `a::b::c` and `a::b::d`); `*` and `self` end a path where they stand.
fn used_paths(code: &str) -> Vec<String> {
    declarations(code, false)
}

/// The paths of a file's re-exports (`pub use`, `pub(crate) use`, …).
fn reexported_paths(code: &str) -> Vec<String> {
    declarations(code, true)
}

fn declarations(code: &str, public_only: bool) -> Vec<String> {
    let mut paths = Vec::new();
    let mut rest = code;
    while let Some(at) = rest.find("use ") {
        let before = rest[..at].chars().last();
        let starts = before.is_none_or(|c| !(c.is_alphanumeric() || c == '_'));
        let public = rest[..at].trim_end().ends_with("pub")
            || rest[..at].trim_end().ends_with(')') && rest[..at].contains("pub(");
        rest = &rest[at + 4..];
        if !starts || (public_only && !public) {
            continue;
        }
        let Some(end) = rest.find(';') else { break };
        // An alias is marked before spaces go: `E as F` reads `E@F`.
        let tree: String = rest[..end]
            .replace(" as ", "@")
            .chars()
            .filter(|c| !c.is_whitespace())
            .collect();
        rest = &rest[end..];
        expand_tree("", &tree, &mut paths);
    }
    paths
}

fn expand_tree(prefix: &str, tree: &str, into: &mut Vec<String>) {
    if let Some(open) = tree.find('{') {
        let head = &tree[..open];
        let inner = &tree[open + 1..tree.rfind('}').unwrap_or(tree.len())];
        let mut depth = 0;
        let mut start = 0;
        for (i, c) in inner.char_indices() {
            match c {
                '{' => depth += 1,
                '}' => depth -= 1,
                ',' if depth == 0 => {
                    expand_tree(&format!("{prefix}{head}"), &inner[start..i], into);
                    start = i + 1;
                }
                _ => {}
            }
        }
        expand_tree(&format!("{prefix}{head}"), &inner[start..], into);
    } else if !tree.is_empty() {
        // The name is before its alias.
        let path = tree.split('@').next().unwrap_or(tree);
        into.push(format!("{prefix}{path}"));
    }
}

/// The file a `use` path names from the file at `own` (its module path): the deepest module
/// of the path that is a file of the crate. `None` for other crates.
fn resolve<'a>(
    own: &[String],
    declared: &[String],
    path: &str,
    files: &'a std::collections::BTreeMap<Vec<String>, PathBuf>,
) -> Option<&'a PathBuf> {
    resolve_at(own, declared, path, files, 0)
}

fn resolve_at<'a>(
    own: &[String],
    declared: &[String],
    path: &str,
    files: &'a std::collections::BTreeMap<Vec<String>, PathBuf>,
    depth: usize,
) -> Option<&'a PathBuf> {
    let segments: Vec<&str> = path.split("::").filter(|s| !s.is_empty()).collect();
    let (mut module, rest): (Vec<String>, &[&str]) = match segments.first().copied() {
        Some("crate") => (Vec::new(), &segments[1..]),
        Some("super") => {
            let mut module = own.to_vec();
            let mut rest = &segments[..];
            while rest.first() == Some(&"super") {
                module.pop();
                rest = &rest[1..];
            }
            (module, rest)
        }
        Some("self") => (own.to_vec(), &segments[1..]),
        Some(first) if declared.iter().any(|d| d == first) => (own.to_vec(), &segments[..]),
        _ => return None,
    };
    let mut best = files.get(&module).map(|f| (module.clone(), f));
    let mut item = None;
    for segment in rest {
        if *segment == "self" || *segment == "*" {
            break;
        }
        module.push((*segment).to_owned());
        match files.get(&module) {
            Some(file) => best = Some((module.clone(), file)),
            None => {
                item = Some(*segment);
                break;
            }
        }
    }
    let (module, file) = best?;
    // A name a module only re-exports is taken from where it is defined.
    if let (Some(item), true) = (item, depth < 8) {
        let code = code_only(&std::fs::read_to_string(file).unwrap());
        let declared = declared_modules(&code);
        for exported in reexported_paths(&code) {
            if exported.rsplit("::").next() == Some(item)
                && let Some(found) = resolve_at(&module, &declared, &exported, files, depth + 1)
            {
                return Some(found);
            }
        }
    }
    Some(file)
}

/// The modules a file declares (`mod x;`).
fn declared_modules(code: &str) -> Vec<String> {
    code.lines()
        .filter_map(|line| {
            let line = line.trim();
            let line = line
                .strip_prefix("pub(crate) ")
                .or_else(|| line.strip_prefix("pub "))
                .unwrap_or(line);
            line.strip_prefix("mod ")
                .and_then(|l| l.strip_suffix(';'))
                .map(str::to_owned)
        })
        .collect()
}

#[test]
fn no_circle_of_files_but_the_entity_pairs() {
    let circles: Vec<String> = crate_sources()
        .iter()
        .flat_map(|src| circles_in(src))
        .collect();
    assert!(circles.is_empty(), "\n{}\n", circles.join("\n"));
}

/// Every file of the crate at `src` that is in a circle of files, with the circle.
fn circles_in(src: &Path) -> Vec<String> {
    let mut list = Vec::new();
    rust_files(src, &mut list);
    let files: std::collections::BTreeMap<Vec<String>, PathBuf> = list
        .iter()
        .map(|p| (module_path(p, src), p.clone()))
        .collect();
    // Edges between files, but for a file naming one of its own ancestors (a module's files
    // use what their module defines): those are the module's inside, not a circle.
    let mut edges: std::collections::BTreeMap<PathBuf, std::collections::BTreeSet<PathBuf>> =
        Default::default();
    for (own, path) in &files {
        let code = code_only(&std::fs::read_to_string(path).unwrap());
        let code: String = code
            .lines()
            .take_while(|l| !l.contains("#[cfg(test)]"))
            .collect::<Vec<_>>()
            .join("\n");
        let declared = declared_modules(&code);
        for used in used_paths(&code) {
            let Some(target) = resolve(own, &declared, &used, &files) else {
                continue;
            };
            let target_module = module_path(target, src);
            if target == path || own.starts_with(&target_module) {
                continue;
            }
            edges
                .entry(path.clone())
                .or_default()
                .insert(target.clone());
        }
    }
    // Circles: files that reach each other.
    let reach = |from: &PathBuf| {
        let mut seen = std::collections::BTreeSet::new();
        let mut stack = vec![from.clone()];
        while let Some(at) = stack.pop() {
            for next in edges.get(&at).into_iter().flatten() {
                if seen.insert(next.clone()) {
                    stack.push(next.clone());
                }
            }
        }
        seen
    };
    let entity_pair = |p: &Path| p.to_string_lossy().contains("/mesh/entity/");
    let mut circles = Vec::new();
    for path in files.values() {
        if entity_pair(path) {
            continue;
        }
        let reached = reach(path);
        if reached.contains(path) {
            let members: Vec<String> = reached
                .iter()
                .filter(|other| reach(other).contains(path))
                .map(|p| p.strip_prefix(src).unwrap().display().to_string())
                .collect();
            circles.push(format!(
                "{} is in a circle of files: {}",
                path.strip_prefix(src).unwrap().display(),
                members.join(", ")
            ));
        }
    }
    circles
}

#[test]
fn the_circle_check_reads_use_trees() {
    let paths = used_paths("use crate::db::{a::B, c::{D, E as F}};\npub(crate) use super::x::Y;\n");
    assert_eq!(
        paths,
        [
            "crate::db::a::B",
            "crate::db::c::D",
            "crate::db::c::E",
            "super::x::Y"
        ]
    );
}
