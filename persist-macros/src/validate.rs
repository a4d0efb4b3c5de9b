//! Validation: the arguments checked together, and the function's shape.

use std::collections::HashSet;

use proc_macro2::Span;
use syn::spanned::Spanned;

use crate::parse::{FixtureArg, Param, RawArgs};

/// The runtime flavor.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Flavor {
    CurrentThread,
    MultiThread,
}

/// The validated, immutable configuration of one test.
pub struct Config {
    pub agents: Vec<String>,
    pub flavor: Flavor,
    pub worker_threads: Option<u64>,
    pub keep: Option<String>,
    pub timeout_ms: Option<u64>,
    pub backend: Option<String>,
    pub setup: Option<syn::Path>,
    pub system: Option<syn::Path>,
    pub seed: Option<syn::Path>,
    pub fixtures: Vec<FixtureArg>,
    /// The backend matrix: one test per backend (empty: one test).
    pub backends: Vec<String>,
    /// The HTTP transports: one test each (empty: the gateway directly); with more than one,
    /// the transport goes into the tests' names.
    pub http: Vec<String>,
    pub krate: syn::Path,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            agents: Vec::new(),
            flavor: Flavor::CurrentThread,
            worker_threads: None,
            keep: None,
            timeout_ms: None,
            backend: None,
            setup: None,
            system: None,
            seed: None,
            fixtures: Vec::new(),
            backends: Vec::new(),
            http: Vec::new(),
            krate: syn::parse_quote!(::persist_core),
        }
    }
}

use persist_config::{Backend, Keep, Transport};

struct Errors(Option<syn::Error>);

impl Errors {
    fn push(&mut self, span: Span, message: impl std::fmt::Display) {
        let e = syn::Error::new(span, message);
        match &mut self.0 {
            Some(all) => all.combine(e),
            None => self.0 = Some(e),
        }
    }
}

impl RawArgs {
    /// Checks the arguments together; on error, every problem found is reported.
    pub fn build(self) -> syn::Result<Config> {
        let mut errors = Errors(None);
        let mut config = Config::default();

        if let Some(agents) = self.agents {
            let mut seen = HashSet::new();
            for name in agents.value {
                let value = name.value();
                if value.trim().is_empty() {
                    errors.push(name.span(), "agent names must not be blank");
                } else if !seen.insert(value.clone()) {
                    errors.push(name.span(), format!("agent \"{value}\" is listed twice"));
                } else {
                    config.agents.push(value);
                }
            }
        }

        if let Some(flavor) = &self.flavor {
            match flavor.value.as_str() {
                "current_thread" => config.flavor = Flavor::CurrentThread,
                "multi_thread" => config.flavor = Flavor::MultiThread,
                other => errors.push(
                    flavor.span,
                    format!("unknown flavor \"{other}\"; expected \"current_thread\" or \"multi_thread\""),
                ),
            }
        }

        if let Some(threads) = self.worker_threads {
            if threads.value == 0 {
                errors.push(threads.span, "`worker_threads` must be a positive integer");
            } else if self
                .flavor
                .as_ref()
                .is_none_or(|f| f.value != "multi_thread")
            {
                errors.push(
                    threads.span,
                    "`worker_threads` needs flavor = \"multi_thread\" (the default flavor, current_thread, has one thread)",
                );
            } else {
                config.worker_threads = Some(threads.value);
            }
        }

        if let Some(keep) = self.keep {
            match Keep::parse(&keep.value) {
                Some(policy) => config.keep = Some(policy.name().to_owned()),
                None => errors.push(
                    keep.span,
                    format!(
                        "unknown keep policy \"{}\"; expected {}",
                        keep.value,
                        Keep::EXPECTED
                    ),
                ),
            }
        }

        if let Some(timeout) = self.timeout {
            match parse_duration_ms(&timeout.value) {
                Ok(ms) => config.timeout_ms = Some(ms),
                Err(why) => errors.push(timeout.span, why),
            }
        }

        if let Some(backend) = self.backend {
            let value = backend.value.trim();
            if Backend::parse_or_url(value).is_some() {
                config.backend = Some(value.to_owned());
            } else {
                errors.push(
                    backend.span,
                    format!(
                        "unknown backend \"{value}\"; expected {}",
                        Backend::EXPECTED
                    ),
                );
            }
        }

        if let Some(backends) = self.backends {
            if let Some(backend) = &config.backend {
                errors.push(
                    backends.span,
                    format!("`backends` runs the test on each backend; it cannot go with `backend = \"{backend}\"`: keep one of them"),
                );
            }
            if backends.value.is_empty() {
                errors.push(backends.span, "`backends` lists no backend");
            }
            for name in &backends.value {
                let value = name.value();
                if Backend::parse(&value).is_none() {
                    let names: Vec<&str> = Backend::NAMES.iter().map(|(n, _)| *n).collect();
                    errors.push(
                        name.span(),
                        format!(
                            "unknown backend \"{value}\" in `backends`; expected names from {} (servers come from the environment)",
                            names.join(", ")
                        ),
                    );
                } else if config.backends.contains(&value) {
                    errors.push(name.span(), format!("backend \"{value}\" is listed twice"));
                } else {
                    config.backends.push(value);
                }
            }
        }

        if let Some(http) = self.http {
            if http.value.is_empty() {
                errors.push(http.span, "`http` lists no transport");
            }
            for name in &http.value {
                let value = name.value();
                if Transport::parse(&value).is_none() {
                    errors.push(
                        name.span(),
                        format!(
                            "unknown transport \"{value}\" in `http`; expected {}",
                            Transport::EXPECTED
                        ),
                    );
                } else if config.http.contains(&value) {
                    errors.push(
                        name.span(),
                        format!("transport \"{value}\" is listed twice"),
                    );
                } else {
                    config.http.push(value);
                }
            }
        }

        if let Some(fixtures) = self.fixtures {
            for fixture in fixtures.value {
                if fixture.path.value().trim().is_empty() {
                    errors.push(fixture.path.span(), "a fixture's path must not be blank");
                } else if let Some(agent) = &fixture.agent
                    && !config.agents.contains(&agent.value())
                {
                    errors.push(
                        agent.span(),
                        format!(
                            "agent \"{}\" is not in `agents = [...]`; a fixture goes into the database of a listed agent",
                            agent.value()
                        ),
                    );
                } else {
                    config.fixtures.push(fixture);
                }
            }
        }

        config.seed = self.seed.map(|seed| seed.value);
        config.setup = self.setup.map(|setup| setup.value);
        config.system = self.system.map(|system| system.value);

        if let Some(krate) = self.krate {
            config.krate = krate.value;
        }

        match errors.0 {
            Some(e) => Err(e),
            None => Ok(config),
        }
    }
}

/// `"500ms"`, `"30s"`, `"2m"`, `"1h"` → milliseconds.
fn parse_duration_ms(text: &str) -> Result<u64, String> {
    let bad = || {
        format!(
            "invalid timeout \"{text}\"; expected a positive duration like \"500ms\", \"30s\", \"2m\" or \"1h\""
        )
    };
    let text = text.trim();
    let split = text.find(|c: char| !c.is_ascii_digit()).ok_or_else(bad)?;
    let (digits, unit) = text.split_at(split);
    let amount: u64 = digits.parse().map_err(|_| bad())?;
    let scale = match unit.trim() {
        "ms" => 1,
        "s" => 1_000,
        "m" | "min" => 60_000,
        "h" => 3_600_000,
        _ => return Err(bad()),
    };
    match amount.checked_mul(scale) {
        Some(0) | None => Err(bad()),
        Some(ms) => Ok(ms),
    }
}

/// Checks what the attribute needs of the function itself.
pub fn signature(func: &syn::ItemFn) -> syn::Result<()> {
    let mut errors = Errors(None);
    let sig = &func.sig;
    if sig.asyncness.is_none() {
        errors.push(
            sig.fn_token.span,
            "`#[persistence_test]` needs an `async fn`",
        );
    }
    if !sig.generics.params.is_empty() || sig.generics.where_clause.is_some() {
        errors.push(
            sig.generics.span(),
            "a `#[persistence_test]` cannot be generic: its parameters are injected by their concrete types",
        );
    }
    for input in &sig.inputs {
        if let syn::FnArg::Receiver(receiver) = input {
            errors.push(
                receiver.span(),
                "a `#[persistence_test]` cannot take `self`",
            );
        }
    }
    for attr in &func.attrs {
        let last = attr.path().segments.last().map(|s| s.ident.to_string());
        match last.as_deref() {
            Some("test") => errors.push(
                attr.span(),
                "remove this attribute: `#[persistence_test]` already makes the function a test",
            ),
            Some("persistence_test") => {
                errors.push(attr.span(), "`#[persistence_test]` is given more than once")
            }
            _ => {}
        }
    }
    match errors.0 {
        Some(e) => Err(e),
        None => Ok(()),
    }
}

/// Checks that every `#[agent("Name")]` names one of the test's agents.
/// Checks the `#[case(…)]` attributes against the `#[case]` parameters.
pub fn cases(params: &[Param], cases: &[(Span, Vec<syn::Expr>)], fn_span: Span) -> syn::Result<()> {
    let mut errors = Errors(None);
    let wanted = params.iter().filter(|p| p.case.is_some()).count();
    if wanted > 0 && cases.is_empty() {
        errors.push(
            fn_span,
            "this test has `#[case]` parameters but no `#[case(…)]` attribute to give them values",
        );
    }
    if wanted == 0 && !cases.is_empty() {
        errors.push(
            cases[0].0,
            "`#[case(…)]` gives values to `#[case]` parameters, and this test has none: mark the parameters with `#[case]`",
        );
    }
    for (span, values) in cases {
        if wanted > 0 && values.len() != wanted {
            errors.push(
                *span,
                format!(
                    "this case gives {} value{}, and the test has {wanted} `#[case]` parameter{}",
                    values.len(),
                    if values.len() == 1 { "" } else { "s" },
                    if wanted == 1 { "" } else { "s" }
                ),
            );
        }
    }
    match errors.0 {
        Some(e) => Err(e),
        None => Ok(()),
    }
}

pub fn agent_params(params: &[Param], agents: &[String]) -> syn::Result<()> {
    let mut errors = Errors(None);
    for param in params {
        if let Some(name) = &param.agent
            && !agents.contains(&name.value())
        {
            let listed = if agents.is_empty() {
                "this test lists no agents".to_owned()
            } else {
                format!("this test's agents are: {}", agents.join(", "))
            };
            errors.push(
                name.span(),
                format!(
                    "agent \"{}\" is not in `agents = [...]`; {listed}",
                    name.value()
                ),
            );
        }
    }
    match errors.0 {
        Some(e) => Err(e),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::parse_duration_ms;

    #[test]
    fn durations() {
        assert_eq!(parse_duration_ms("500ms"), Ok(500));
        assert_eq!(parse_duration_ms("30s"), Ok(30_000));
        assert_eq!(parse_duration_ms("2m"), Ok(120_000));
        assert_eq!(parse_duration_ms("1h"), Ok(3_600_000));
        for bad in ["", "s", "0s", "10", "10 parsecs", "-1s", "1.5s"] {
            assert!(parse_duration_ms(bad).is_err(), "{bad}");
        }
    }
}
