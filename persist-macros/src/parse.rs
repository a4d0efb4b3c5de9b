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
    "system",
    "setup",
    "crate",
];

/// An argument's value with the span of the token that gave it.
#[derive(Clone)]
pub struct WithSpan<T> {
    pub value: T,
    pub span: Span,
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
                let s = string("setup", &nv.value)?;
                let path = s.parse::<syn::Path>().map_err(|_| {
                    syn::Error::new(
                        s.span(),
                        "`setup` takes the path of a function, like setup = \"my::configure\"",
                    )
                })?;
                set(&mut self.setup, &nv.path, path, span)
            }
            "system" => {
                let s = string("system", &nv.value)?;
                let path = s.parse::<syn::Path>().map_err(|_| {
                    syn::Error::new(
                        s.span(),
                        "`system` takes the path of a type that implements `persist_core::System`, like system = \"my_app::TestSystem\"",
                    )
                })?;
                // Spanned on the string, so a type that is not a system is reported there.
                let path = respanned(path, s.span());
                set(&mut self.system, &nv.path, path, span)
            }
            "crate" => {
                let s = string("crate", &nv.value)?;
                let path = s.parse_with(syn::Path::parse_mod_style)?;
                set(&mut self.krate, &nv.path, path, span)
            }
            _ => Err(syn::Error::new(
                nv.path.span(),
                format!(
                    "unknown argument `{}`; valid keys: {}",
                    quote::ToTokens::to_token_stream(&nv.path),
                    KEYS.join(", ")
                ),
            )),
        }
    }
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

fn agent_list(value: &Expr) -> syn::Result<Vec<LitStr>> {
    let Expr::Array(array) = value else {
        return Err(syn::Error::new(
            value.span(),
            "`agents` takes an array of string literals, like agents = [\"AgentA\", \"AgentB\"]",
        ));
    };
    array
        .elems
        .iter()
        .map(|elem| match elem {
            Expr::Lit(ExprLit {
                lit: Lit::Str(s), ..
            }) => Ok(s.clone()),
            other => Err(syn::Error::new(
                other.span(),
                "agent names are string literals, like \"AgentA\"",
            )),
        })
        .collect()
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
}

/// Splits `#[agent("Name")]` off a parameter. Other attributes stay on the parameter.
pub fn param(mut pat_type: syn::PatType) -> syn::Result<Param> {
    let mut agent = None;
    let mut kept = Vec::new();
    for attr in std::mem::take(&mut pat_type.attrs) {
        if attr.path().is_ident("agent") {
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
        } else {
            kept.push(attr);
        }
    }
    pat_type.attrs = kept;
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
    })
}
