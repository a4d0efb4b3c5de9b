//! A multi-user workload for the reference mesh: N users × M sessions × K messages across the
//! agents, all at once, with renames, deletes and model failures mixed in; then a check that
//! nothing was lost, duplicated, orphaned or shown to the wrong session or user.
//!
//! `tests/tests/mesh_load.rs` runs it as a test (small by default); the `mesh_load` example runs
//! it as a benchmark on each configured backend.

use std::collections::{BTreeMap, HashSet};
use std::fmt;
use std::time::{Duration, Instant};

use persist_core::mesh::GatewayComponent;
use persist_core::prelude::*;

/// The size of a run.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Shape {
    /// Users, each working at the same time.
    pub users: usize,
    /// Sessions per user, spread over the agents.
    pub sessions: usize,
    /// Messages per session, sent one after another.
    pub messages: usize,
}

impl Shape {
    /// `PERSIST_LOAD` as `USERSxSESSIONSxMESSAGES` (`50x4x20`), or `default`.
    pub fn from_env(default: Shape) -> Shape {
        std::env::var("PERSIST_LOAD")
            .ok()
            .and_then(|v| Shape::parse(&v))
            .unwrap_or(default)
    }

    /// Parses `50x4x20`.
    pub fn parse(text: &str) -> Option<Shape> {
        let parts: Vec<usize> = text
            .trim()
            .split('x')
            .map(|p| p.trim().parse().ok())
            .collect::<Option<_>>()?;
        match parts[..] {
            [users, sessions, messages] if users * sessions * messages > 0 => Some(Shape {
                users,
                sessions,
                messages,
            }),
            _ => None,
        }
    }

    /// Turns attempted.
    pub fn turns(&self) -> usize {
        self.users * self.sessions * self.messages
    }
}

impl fmt::Display for Shape {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}x{}x{}", self.users, self.sessions, self.messages)
    }
}

/// What one session went through, as its driver saw it.
#[derive(Clone, Debug)]
struct Driven {
    user: String,
    agent: String,
    id: String,
    /// The messages whose turns succeeded, in order.
    stored: Vec<String>,
    /// The messages whose turns failed (the model was made to fail).
    failed: Vec<String>,
    name: Option<String>,
    deleted: bool,
    latencies: Vec<Duration>,
}

/// The result of a run.
#[derive(Clone, Debug)]
pub struct Outcome {
    /// The run's size.
    pub shape: Shape,
    /// Turns stored.
    pub turns: usize,
    /// Turns that failed because the model was made to fail (and stored nothing).
    pub failed_turns: usize,
    /// Sessions renamed and deleted.
    pub renames: usize,
    /// Sessions deleted.
    pub deletes: usize,
    /// Wall time of the traffic (not the checks).
    pub elapsed: Duration,
    /// Each stored turn's latency, sorted.
    pub latencies: Vec<Duration>,
}

impl Outcome {
    /// Stored turns per second.
    pub fn throughput(&self) -> f64 {
        self.turns as f64 / self.elapsed.as_secs_f64()
    }

    /// The `p`-th percentile latency (`p` in 0–100).
    pub fn percentile(&self, p: f64) -> Duration {
        if self.latencies.is_empty() {
            return Duration::ZERO;
        }
        let rank = ((p / 100.0) * (self.latencies.len() - 1) as f64).round() as usize;
        self.latencies[rank.min(self.latencies.len() - 1)]
    }
}

/// Drives the workload through `gateway`, whose agents answer through `llm`, then checks every
/// database. Every 7th session has its model fail once; every session is renamed halfway;
/// the last session of every 5th user is deleted at the end.
pub async fn run(
    gateway: &GatewayComponent,
    llm: &ScriptedLlm,
    inspector: &CrossDatabaseInspector,
    agents: &[&str],
    shape: Shape,
) -> Outcome {
    let started = Instant::now();
    let mut tasks = Vec::new();
    for u in 0..shape.users {
        for s in 0..shape.sessions {
            let gateway = gateway.clone();
            let llm = llm.clone();
            let user = format!("user-{u}");
            let agent = agents[(u + s) % agents.len()].to_owned();
            let delete = u % 5 == 4 && s == shape.sessions - 1;
            tasks.push(tokio::spawn(async move {
                drive(&gateway, &llm, user, agent, u, s, shape.messages, delete).await
            }));
        }
    }
    let mut driven = Vec::new();
    for task in futures::future::join_all(tasks).await {
        driven.push(task.expect("a session's driver panicked"));
    }
    let elapsed = started.elapsed();
    check(gateway, llm, inspector, &driven).await;

    let mut latencies: Vec<Duration> = driven.iter().flat_map(|d| d.latencies.clone()).collect();
    latencies.sort();
    Outcome {
        shape,
        turns: driven.iter().map(|d| d.stored.len()).sum(),
        failed_turns: driven.iter().map(|d| d.failed.len()).sum(),
        renames: driven.iter().filter(|d| d.name.is_some()).count(),
        deletes: driven.iter().filter(|d| d.deleted).count(),
        elapsed,
        latencies,
    }
}

#[allow(clippy::too_many_arguments)]
async fn drive(
    gateway: &GatewayComponent,
    llm: &ScriptedLlm,
    user: String,
    agent: String,
    u: usize,
    s: usize,
    messages: usize,
    delete: bool,
) -> Driven {
    let session = gateway.create_session(&user, &agent).await.unwrap();
    let mut driven = Driven {
        user: user.clone(),
        agent: agent.clone(),
        id: session.id.clone(),
        stored: Vec::new(),
        failed: Vec::new(),
        name: None,
        deleted: false,
        latencies: Vec::new(),
    };
    let fail_at = (u * 31 + s).is_multiple_of(7).then_some(messages / 3);
    for k in 0..messages {
        let text = format!("{user} s{s} m{k}");
        if fail_at == Some(k) {
            // The model fails for this session's agent: whichever turn of that agent comes
            // next fails, this one or another session's, and stores nothing.
            llm.queue_failure(&agent, "load: injected failure");
        }
        let start = Instant::now();
        match gateway.send_message(&user, &session.id, &text).await {
            Ok(turn) => {
                assert_eq!(turn.session_id, session.id);
                driven.latencies.push(start.elapsed());
                driven.stored.push(text);
            }
            Err(PersistError::Llm { .. }) => driven.failed.push(text),
            Err(other) => panic!("{text}: {other}"),
        }
        if k == messages / 2 {
            let name = format!("{user} session {s}");
            gateway
                .rename_session(&user, &session.id, &name)
                .await
                .unwrap();
            driven.name = Some(name);
        }
    }
    if delete {
        assert!(gateway.delete_session(&user, &session.id).await.unwrap());
        driven.deleted = true;
    }
    driven
}

/// Nothing lost, duplicated or orphaned; both sides in one order; every user's view exactly
/// their own; every context exactly its session's.
async fn check(
    gateway: &GatewayComponent,
    llm: &ScriptedLlm,
    inspector: &CrossDatabaseInspector,
    driven: &[Driven],
) {
    inspector
        .verify_integrity()
        .await
        .unwrap_or_else(|e| panic!("integrity after the load: {e}"));

    let mut by_user: BTreeMap<&str, HashSet<&str>> = BTreeMap::new();
    for d in driven {
        let mine = by_user.entry(d.user.as_str()).or_default();
        if !d.deleted {
            mine.insert(d.id.as_str());
        }
    }
    for (user, expected) in &by_user {
        let listed: HashSet<String> = gateway
            .list_sessions(user)
            .await
            .unwrap()
            .into_iter()
            .map(|s| s.id)
            .collect();
        let listed: HashSet<&str> = listed.iter().map(String::as_str).collect();
        assert_eq!(&listed, expected, "{user} sees exactly their own sessions");
    }

    let requests = llm.requests();
    for d in driven {
        let gateway_rows = inspector.gateway_messages(&d.id).await.unwrap();
        let agent_rows = inspector
            .agent_messages(&d.agent, Some(&d.id))
            .await
            .unwrap();
        if d.deleted {
            assert!(
                gateway_rows.is_empty() && agent_rows.is_empty(),
                "{} deleted",
                d.id
            );
            assert!(inspector.gateway_session(&d.id).await.unwrap().is_none());
            continue;
        }
        let asked: Vec<&str> = gateway_rows
            .iter()
            .filter(|m| m.sender_type == "user")
            .map(|m| m.message.as_str())
            .collect();
        assert_eq!(
            asked, d.stored,
            "{}: every stored turn once, in order",
            d.id
        );
        let told: Vec<&str> = agent_rows
            .iter()
            .filter(|m| m.role == "user")
            .map(|m| m.content.as_str())
            .collect();
        assert_eq!(told, d.stored, "{}: the agent holds the same turns", d.id);
        let row = inspector.gateway_session(&d.id).await.unwrap().unwrap();
        assert_eq!(row.name, d.name, "{}: renamed", d.id);
        assert_eq!(row.user_id, d.user);
        // Every context the model was shown is a prefix of this session's own history.
        let history: Vec<&str> = agent_rows.iter().map(|m| m.content.as_str()).collect();
        for request in requests.iter().filter(|r| r.session_id == d.id) {
            assert_eq!(request.user_id, d.user);
            let shown: Vec<&str> = request.context.iter().map(|c| c.content.as_str()).collect();
            assert!(
                history.starts_with(&shown),
                "{}: a context that is not this session's history: {shown:?}",
                d.id
            );
        }
    }
}
