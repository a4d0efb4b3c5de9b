//! Parsing: attribute arguments into a builder that keeps each value with its span, and the
//! test function's parameters into a list of injection requests.

use proc_macro2::Span;
use syn::punctuated::Punctuated;
use syn::spanned::Spanned;
use syn::{Expr, ExprLit, Lit, LitStr, Meta, Token};

/// Every key the attribute accepts, in the order the docs list them.
pub const KEYS: &[&str] = &[
    "agents",
    "flavor",
    "worker_threads",
    "keep",
    "timeout",
    "backend",
    "backends",
    "http",
    "system",
    "setup",
    "fixtures",
    "seed",
    "crate",
];

/// An argument's value with the span of the token that gave it.
#[derive(Clone)]
pub struct WithSpan<T> {
    pub value: T,
    pub span: Span,
}

/// One SQL fixture: a file (relative to the crate's root) and the agent whose database it goes
/// into (`None`: the gateway's).
#[derive(Clone)]
pub struct FixtureArg {
    pub agent: Option<LitStr>,
    pub path: LitStr,
}

/// The raw arguments, each at most once. `build` (in `validate.rs`) checks them together.
#[derive(Default)]
pub struct RawArgs {
    pub agents: Option<WithSpan<Vec<LitStr>>>,
    pub flavor: Option<WithSpan<String>>,
    pub worker_threads: Option<WithSpan<u64>>,
    pub keep: Option<WithSpan<String>>,
    pub timeout: Option<WithSpan<String>>,
    pub backend: Option<WithSpan<String>>,
    pub setup: Option<WithSpan<syn::Path>>,
    pub system: Option<WithSpan<syn::Path>>,
    pub seed: Option<WithSpan<syn::Path>>,
    pub fixtures: Option<WithSpan<Vec<FixtureArg>>>,
    pub backends: Option<WithSpan<Vec<LitStr>>>,
    /// `http = "router"` or `http = ["router", "socket"]`: always a list here.
    pub http: Option<WithSpan<Vec<LitStr>>>,
    pub krate: Option<WithSpan<syn::Path>>,
}

fn duplicate(key: &str, span: Span) -> syn::Error {
    syn::Error::new(span, format!("`{key}` is given more than once"))
}

fn set<T>(
    slot: &mut Option<WithSpan<T>>,
    key: &syn::Path,
    value: T,
    span: Span,
) -> syn::Result<()> {
    if slot.is_some() {
        let name = key.get_ident().map(ToString::to_string).unwrap_or_default();
        return Err(duplicate(&name, key.span()));
    }
    *slot = Some(WithSpan { value, span });
    Ok(())
}

fn string(key: &str, value: &Expr) -> syn::Result<LitStr> {
    match value {
        Expr::Lit(ExprLit {
            lit: Lit::Str(s), ..
        }) => Ok(s.clone()),
        other => Err(syn::Error::new(
            other.span(),
            format!("`{key}` takes a string literal, like {key} = \"…\""),
        )),
    }
}

impl RawArgs {
    /// Parses `key = value, …`, collecting every error rather than stopping at the first.
    pub fn parse(args: proc_macro2::TokenStream) -> (RawArgs, Option<syn::Error>) {
        let mut raw = RawArgs::default();
        let mut errors: Option<syn::Error> = None;
        let metas =
            match syn::parse::Parser::parse2(Punctuated::<Meta, Token![,]>::parse_terminated, args)
            {
                Ok(metas) => metas,
                Err(e) => return (raw, Some(e)),
            };
        for meta in metas {
            if let Err(e) = raw.add(&meta) {
                match &mut errors {
                    Some(all) => all.combine(e),
                    None => errors = Some(e),
                }
            }
        }
        (raw, errors)
    }

    fn add(&mut self, meta: &Meta) -> syn::Result<()> {
        let Meta::NameValue(nv) = meta else {
            return Err(syn::Error::new(
                meta.span(),
                format!("expected `key = value`; valid keys: {}", KEYS.join(", ")),
            ));
        };
        let key = nv
            .path
            .get_ident()
            .map(ToString::to_string)
            .unwrap_or_default();
        let span = nv.value.span();
        match key.as_str() {
            "agents" => {
                let agents = agent_list(&nv.value)?;
                set(&mut self.agents, &nv.path, agents, nv.path.span())
            }
            "flavor" => {
                let s = string("flavor", &nv.value)?;
                set(&mut self.flavor, &nv.path, s.value(), span)
            }
            "worker_threads" => {
                let n = match &nv.value {
                    Expr::Lit(ExprLit {
                        lit: Lit::Int(n), ..
                    }) => n.base10_parse::<u64>()?,
                    other => {
                        return Err(syn::Error::new(
                            other.span(),
                            "`worker_threads` takes a positive integer, like worker_threads = 2",
                        ));
                    }
                };
                set(&mut self.worker_threads, &nv.path, n, span)
            }
            "keep" => {
                let s = string("keep", &nv.value)?;
                set(&mut self.keep, &nv.path, s.value(), span)
            }
            "timeout" => {
                let s = string("timeout", &nv.value)?;
                set(&mut self.timeout, &nv.path, s.value(), span)
            }
            "backend" => {
                let s = string("backend", &nv.value)?;
                set(&mut self.backend, &nv.path, s.value(), span)
            }
            "setup" => {
                let path = path_value(
                    &nv.value,
                    "`setup` takes the path of a `fn(ManagerBuilder) -> ManagerBuilder`, like setup = my::configure (quoted or not)",
                )?;
                set(&mut self.setup, &nv.path, path, span)
            }
            "system" => {
                let path = path_value(
                    &nv.value,
                    "`system` takes the path of a type that implements `persist_core::System`, like system = my_app::TestSystem (quoted or not)",
                )?;
                set(&mut self.system, &nv.path, path, span)
            }
            "seed" => {
                let path = path_value(
                    &nv.value,
                    "`seed` takes the path of an `async fn(&TestContext)`, like seed = my::seed (quoted or not)",
                )?;
                set(&mut self.seed, &nv.path, path, span)
            }
            "fixtures" => {
                let fixtures = fixture_list(&nv.value)?;
                set(&mut self.fixtures, &nv.path, fixtures, span)
            }
            "backends" => {
                const BACKENDS: &str = "`backends` takes an array of backend names, like backends = [\"sqlite\", \"postgres\", \"mysql\"]";
                let backends = string_list(&nv.value, BACKENDS, BACKENDS)?;
                set(&mut self.backends, &nv.path, backends, span)
            }
            "http" => {
                const HTTP: &str = "`http` takes \"direct\", \"router\" or \"socket\", or an array of them, like http = [\"direct\", \"router\", \"socket\"]";
                let transports = match &nv.value {
                    Expr::Lit(ExprLit {
                        lit: Lit::Str(s), ..
                    }) => vec![s.clone()],
                    other => string_list(other, HTTP, HTTP)?,
                };
                set(&mut self.http, &nv.path, transports, span)
            }
            "crate" => {
                let s = string("crate", &nv.value)?;
                let path = s.parse_with(syn::Path::parse_mod_style)?;
                set(&mut self.krate, &nv.path, path, span)
            }
            _ => {
                let given = quote::ToTokens::to_token_stream(&nv.path).to_string();
                let keys = KEYS.join(", ");
                let message = match closest(&given) {
                    Some(key) => format!(
                        "unknown argument `{given}`; did you mean `{key}`? Valid keys: {keys}"
                    ),
                    None => format!("unknown argument `{given}`; valid keys: {keys}"),
                };
                Err(syn::Error::new(nv.path.span(), message))
            }
        }
    }
}

/// A path given bare (`setup = my::configure`) or as a string (`setup = "my::configure"`). A
/// string's tokens all take the literal's span, so errors about the path point at it.
fn path_value(value: &Expr, message: &str) -> syn::Result<syn::Path> {
    match value {
        Expr::Path(path) if path.qself.is_none() => Ok(path.path.clone()),
        Expr::Lit(ExprLit {
            lit: Lit::Str(s), ..
        }) => s
            .parse::<syn::Path>()
            .map(|path| respanned(path, s.span()))
            .map_err(|_| syn::Error::new(s.span(), message)),
        other => Err(syn::Error::new(other.span(), message)),
    }
}

/// The valid key nearest to `given` (at most two edits away), for "did you mean".
fn closest(given: &str) -> Option<&'static str> {
    KEYS.iter()
        .map(|key| (edit_distance(given, key), *key))
        .filter(|(distance, _)| *distance <= 2)
        .min()
        .map(|(_, key)| key)
}

/// Levenshtein distance between two short identifiers.
fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut previous = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let substitution = previous + usize::from(ca != *cb);
            previous = row[j + 1];
            row[j + 1] = substitution.min(row[j] + 1).min(previous + 1);
        }
    }
    row[b.len()]
}

/// A path parsed from a string literal, with every token at the literal's span.
fn respanned(path: syn::Path, span: Span) -> syn::Path {
    let tokens: proc_macro2::TokenStream = quote::ToTokens::to_token_stream(&path)
        .into_iter()
        .map(|mut token| {
            token.set_span(span);
            token
        })
        .collect();
    syn::parse2(tokens).unwrap_or(path)
}

const FIXTURE_FORMS: &str = "a fixture is \"file.sql\" (into the gateway's database), gateway(\"file.sql\") or agent(\"AgentName\", \"file.sql\"); paths are relative to the crate's root";

fn fixture_list(value: &Expr) -> syn::Result<Vec<FixtureArg>> {
    let Expr::Array(array) = value else {
        return Err(syn::Error::new(
            value.span(),
            format!("`fixtures` takes an array; {FIXTURE_FORMS}"),
        ));
    };
    array.elems.iter().map(fixture).collect()
}

fn fixture(elem: &Expr) -> syn::Result<FixtureArg> {
    let bad = |span: Span| syn::Error::new(span, FIXTURE_FORMS);
    let literal = |expr: &Expr| match expr {
        Expr::Lit(ExprLit {
            lit: Lit::Str(s), ..
        }) => Ok(s.clone()),
        other => Err(bad(other.span())),
    };
    match elem {
        Expr::Lit(_) => Ok(FixtureArg {
            agent: None,
            path: literal(elem)?,
        }),
        Expr::Call(call) => {
            let function = match &*call.func {
                Expr::Path(p) => p.path.get_ident().map(ToString::to_string),
                _ => None,
            };
            let args: Vec<&Expr> = call.args.iter().collect();
            match (function.as_deref(), args.as_slice()) {
                (Some("gateway"), [path]) => Ok(FixtureArg {
                    agent: None,
                    path: literal(path)?,
                }),
                (Some("agent"), [agent, path]) => Ok(FixtureArg {
                    agent: Some(literal(agent)?),
                    path: literal(path)?,
                }),
                _ => Err(bad(call.span())),
            }
        }
        other => Err(bad(other.span())),
    }
}

/// An array of string literals; `not_array` and `not_string` say what was expected.
fn string_list(value: &Expr, not_array: &str, not_string: &str) -> syn::Result<Vec<LitStr>> {
    let Expr::Array(array) = value else {
        return Err(syn::Error::new(value.span(), not_array));
    };
    array
        .elems
        .iter()
        .map(|elem| match elem {
            Expr::Lit(ExprLit {
                lit: Lit::Str(s), ..
            }) => Ok(s.clone()),
            other => Err(syn::Error::new(other.span(), not_string)),
        })
        .collect()
}

fn agent_list(value: &Expr) -> syn::Result<Vec<LitStr>> {
    string_list(
        value,
        "`agents` takes an array of string literals, like agents = [\"AgentA\", \"AgentB\"]",
        "agent names are string literals, like \"AgentA\"",
    )
}

/// One parameter of the test function: what to inject and how to pass it.
pub struct Param {
    /// The parameter as the inner function declares it, with our attributes removed.
    pub declared: syn::PatType,
    /// The type to inject (for `&T`, this is `T`).
    pub injected: syn::Type,
    /// Whether the body takes it by shared reference.
    pub by_ref: bool,
    /// `#[agent("Name")]`, if given.
    pub agent: Option<LitStr>,
    /// `#[case]`: the value comes from the test's `#[case(…)]` attributes, not from injection.
    pub case: Option<Span>,
}

/// Parameter attributes that only rstest gives meaning to.
pub const RSTEST_PARAM_ATTRS: &[&str] = &[
    "values", "ignore", "from", "with", "future", "files", "by_ref",
];

/// Splits `#[agent("Name")]` off a parameter. Other attributes stay on the parameter.
pub fn param(mut pat_type: syn::PatType) -> syn::Result<Param> {
    let mut agent = None;
    let mut case = None;
    let mut kept = Vec::new();
    for attr in std::mem::take(&mut pat_type.attrs) {
        if attr.path().is_ident("case") {
            if !matches!(attr.meta, Meta::Path(_)) {
                return Err(syn::Error::new(
                    attr.span(),
                    "a parameter takes a bare `#[case]`; the values go in `#[case(…)]` on the function",
                ));
            }
            case = Some(attr.span());
        } else if attr.path().is_ident("agent") {
            if agent.is_some() {
                return Err(syn::Error::new(
                    attr.span(),
                    "`#[agent]` is given more than once",
                ));
            }
            let name: LitStr = attr
                .parse_args()
                .map_err(|_| syn::Error::new(attr.span(), "expected `#[agent(\"AgentName\")]`"))?;
            agent = Some(name);
        } else if let Some(name) = RSTEST_PARAM_ATTRS
            .iter()
            .find(|name| attr.path().is_ident(name))
        {
            return Err(syn::Error::new(
                attr.span(),
                format!(
                    "`#[{name}]` is rstest's: put `#[rstest]` above `#[persistence_test]` (or below it), and mark the parameters `#[persistence_test]` injects with `#[ignore]`"
                ),
            ));
        } else {
            kept.push(attr);
        }
    }
    pat_type.attrs = kept;
    if case.is_some() {
        let injected = (*pat_type.ty).clone();
        return Ok(Param {
            declared: pat_type,
            injected,
            by_ref: false,
            agent: None,
            case,
        });
    }
    let (injected, by_ref) = match &*pat_type.ty {
        syn::Type::Reference(r) if r.mutability.is_some() => {
            return Err(syn::Error::new(
                r.span(),
                "injected parameters are taken by value or by shared reference, not `&mut`",
            ));
        }
        syn::Type::Reference(r) => ((*r.elem).clone(), true),
        other => (other.clone(), false),
    };
    Ok(Param {
        declared: pat_type,
        injected,
        by_ref,
        agent,
        case: None,
    })
}

/// Takes the `#[case(…)]` attributes off the function: one list of values per case.
pub fn cases(attrs: &mut Vec<syn::Attribute>) -> syn::Result<Vec<(Span, Vec<Expr>)>> {
    let mut cases = Vec::new();
    let mut kept = Vec::new();
    for attr in std::mem::take(attrs) {
        if attr.path().is_ident("case") {
            let values = attr
                .parse_args_with(Punctuated::<Expr, Token![,]>::parse_terminated)
                .map_err(|e| {
                    syn::Error::new(
                        e.span(),
                        "expected `#[case(value, …)]`, one value per `#[case]` parameter",
                    )
                })?;
            cases.push((attr.span(), values.into_iter().collect()));
        } else {
            kept.push(attr);
        }
    }
    *attrs = kept;
    Ok(cases)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn near_misses_are_suggested() {
        assert_eq!(closest("agent"), Some("agents"));
        assert_eq!(closest("timout"), Some("timeout"));
        assert_eq!(closest("sytem"), Some("system"));
        assert_eq!(closest("database_url"), None);
        assert_eq!(edit_distance("kitten", "sitting"), 3);
    }
}
