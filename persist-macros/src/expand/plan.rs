//! Which tests to generate: one per case, backend and transport, each with its name.
//
// Input:
//   #[persistence_test(backends = ["sqlite", "postgres"], http = ["router", "socket"])]
//   #[case(1)] #[case(2)]
//   async fn works(#[case] n: u32, …) { … }
//
// Output (the variants, in order):
//   case_1_sqlite_router, case_1_sqlite_socket, case_1_postgres_router, …, case_2_postgres_socket
//   (a test with no case, no `backends` and at most one transport is one test, named as the fn)

use quote::format_ident;

use crate::validate::Config;

/// One test to generate.
pub struct Variant<'a> {
    /// Its name: the function's, or its case, backend and transport.
    pub name: syn::Ident,
    /// Its case: number (from 1) and values.
    pub case: Option<(usize, &'a [syn::Expr])>,
    /// Its backend, from `backends = […]`.
    pub backend: Option<&'a str>,
    /// Its transport, from `http = …`.
    pub http: Option<&'a str>,
    /// The name its data snapshots go by: one for every backend and transport of a case.
    pub snapshot_name: String,
}

/// The tests to generate for one function.
pub struct Plan<'a> {
    pub variants: Vec<Variant<'a>>,
    /// One test, named as the function (no module around it).
    pub single: bool,
}

impl<'a> Plan<'a> {
    pub fn of(
        config: &'a Config,
        name: &syn::Ident,
        cases: &'a [(proc_macro2::Span, Vec<syn::Expr>)],
    ) -> Self {
        let case_list: Vec<Option<(usize, &[syn::Expr])>> = if cases.is_empty() {
            vec![None]
        } else {
            cases
                .iter()
                .enumerate()
                .map(|(i, (_, values))| Some((i + 1, values.as_slice())))
                .collect()
        };
        let backends = optional(&config.backends);
        let transports = optional(&config.http);
        let single = cases.is_empty() && config.backends.is_empty() && config.http.len() <= 1;
        let mut variants = Vec::new();
        for case in &case_list {
            for backend in &backends {
                for http in &transports {
                    variants.push(Variant {
                        name: if single {
                            name.clone()
                        } else {
                            variant_name(*case, *backend, *http, transports.len() > 1)
                        },
                        case: *case,
                        backend: *backend,
                        http: *http,
                        snapshot_name: match case {
                            Some((index, _)) => format!("{name}@case_{index}"),
                            None => name.to_string(),
                        },
                    });
                }
            }
        }
        Plan { variants, single }
    }
}

/// Each of `values`, or one `None` when there are none.
fn optional(values: &[String]) -> Vec<Option<&str>> {
    if values.is_empty() {
        vec![None]
    } else {
        values.iter().map(|v| Some(v.as_str())).collect()
    }
}

/// `case_2_sqlite_memory_socket`: the parts that tell the variant apart.
fn variant_name(
    case: Option<(usize, &[syn::Expr])>,
    backend: Option<&str>,
    http: Option<&str>,
    several_transports: bool,
) -> syn::Ident {
    let mut parts = Vec::new();
    if let Some((index, _)) = case {
        parts.push(format!("case_{index}"));
    }
    if let Some(backend) = backend {
        parts.push(backend.replace('-', "_"));
    }
    if several_transports && let Some(http) = http {
        parts.push(http.to_owned());
    }
    format_ident!("{}", parts.join("_"))
}
