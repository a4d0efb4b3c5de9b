//! Proving a layout: each classic fault planted in turn, through the system's own layout, into
//! a test's real data, the checks run, and the data put back as it was. A user sees whether
//! their mapping lets a fault through: a part named wrong, a turn that cannot be traced, a
//! clock too coarse to show an order.

use std::fmt;

use serde::Serialize;

use super::CrossDatabaseInspector;
use crate::error::Result;

mod list;
mod plant;
mod rows;

/// A classic fault, as [`CrossDatabaseInspector::prove_layout`] plants it in an agent's store.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
#[non_exhaustive]
pub enum Fault {
    /// A message filed under another session of the same user.
    MovedToAnotherSession,
    /// A message filed under a session of another user.
    MovedToAnotherUser,
    /// A message of one agent's session stored by another agent.
    MovedToAnotherAgent,
    /// An agent's reply gone.
    LostReply,
    /// A session's first two turns in each other's place.
    TurnsSwapped,
    /// A message whose session does not exist.
    Orphan,
    /// A message stored twice.
    Duplicated,
    /// A reply stored before its question.
    ReplyBeforeQuestion,
}

impl Fault {
    /// Every fault, in the order they are planted.
    pub const ALL: [Fault; 8] = [
        Fault::MovedToAnotherSession,
        Fault::MovedToAnotherUser,
        Fault::MovedToAnotherAgent,
        Fault::LostReply,
        Fault::TurnsSwapped,
        Fault::Orphan,
        Fault::Duplicated,
        Fault::ReplyBeforeQuestion,
    ];

    /// What it is, in a few words.
    pub fn describe(self) -> &'static str {
        match self {
            Fault::MovedToAnotherSession => "a message moved to another session of its user",
            Fault::MovedToAnotherUser => "a message moved to another user's session",
            Fault::MovedToAnotherAgent => "a message of one agent's session stored by another",
            Fault::LostReply => "a reply lost",
            Fault::TurnsSwapped => "two turns swapped",
            Fault::Orphan => "a message of no session",
            Fault::Duplicated => "a message stored twice",
            Fault::ReplyBeforeQuestion => "a reply stored before its question",
        }
    }
}

impl fmt::Display for Fault {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.describe())
    }
}

/// What became of one fault.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct FaultOutcome {
    /// The fault.
    pub fault: Fault,
    /// The agent whose store it was planted in.
    pub agent: String,
    /// What was done to the data, or why nothing could be (the data lacks what the fault
    /// needs: a second session, another user, two turns; or the layout cannot say where).
    pub planted: std::result::Result<String, String>,
    /// The checks that caught it (`verify_integrity`, `verify_user_isolation`, …); empty when
    /// it went through.
    pub caught_by: Vec<String>,
    /// What those checks said, one error each (the first each check gave), in the order of
    /// `caught_by`: whether each fault was caught for the reason it should be (a lost reply by a
    /// count, two swapped turns by their order).
    pub findings: Vec<String>,
}

impl FaultOutcome {
    /// Planted, and caught by no check.
    pub fn missed(&self) -> bool {
        self.planted.is_ok() && self.caught_by.is_empty()
    }
}

/// What [`CrossDatabaseInspector::prove_layout`] found: each fault, where it was planted, and
/// which checks caught it. `Display` draws it as a table.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct LayoutProof {
    /// One outcome per fault and agent.
    pub outcomes: Vec<FaultOutcome>,
}

impl LayoutProof {
    /// The faults planted and caught by no check.
    pub fn missed(&self) -> Vec<&FaultOutcome> {
        self.outcomes.iter().filter(|o| o.missed()).collect()
    }

    /// The faults that could not be planted, with why.
    pub fn not_planted(&self) -> Vec<&FaultOutcome> {
        self.outcomes
            .iter()
            .filter(|o| o.planted.is_err())
            .collect()
    }

    /// Whether every fault was planted, for every agent, and caught.
    pub fn is_complete(&self) -> bool {
        self.outcomes
            .iter()
            .all(|o| o.planted.is_ok() && !o.caught_by.is_empty())
    }
}

impl fmt::Display for LayoutProof {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "layout proof: {} faults planted", self.outcomes.len())?;
        for o in &self.outcomes {
            let verdict = match (&o.planted, o.caught_by.is_empty()) {
                (Err(why), _) => format!("not planted: {why}"),
                (Ok(_), true) => "NOT CAUGHT".to_owned(),
                (Ok(_), false) => format!("caught by {}", o.caught_by.join(", ")),
            };
            writeln!(f, "  {:<8} {:<52} {verdict}", o.agent, o.fault.describe())?;
        }
        Ok(())
    }
}

impl CrossDatabaseInspector {
    /// Plants each classic [`Fault`] in turn into this test's data, through the system's own
    /// layout, in every agent's store: a message moved to another session, to another user,
    /// to another agent; a lost reply; two turns swapped; an orphan; a duplicated message; a
    /// reply stored before its question. After each, every check runs (session linking,
    /// database, context and user isolation, integrity), and the data is put back as it
    /// was. The outcome says, per fault and agent, what was done and which checks caught it.
    ///
    /// The data must pass every check before (else that error is returned), and hold what the
    /// faults need: per agent, a user with two sessions, the first with two turns; another
    /// user's session; another agent with a message. A fault the data or the layout cannot
    /// carry is reported as not planted, with why. Rows are changed on a connection of their
    /// own, past the foreign keys (on PostgreSQL that needs a superuser).
    ///
    /// ```
    /// use persist_core::prelude::*;
    ///
    /// #[persistence_test(agents = ["A", "B"])]
    /// async fn my_layout_sees_every_fault(
    ///     gateway: GatewayPersistenceAdapter,
    ///     inspector: CrossDatabaseInspector,
    /// ) -> Result<(), PersistError> {
    ///     for agent in ["A", "B"] {
    ///         let first = gateway.create_session("alice", agent).await?;
    ///         gateway.send_message(&first.id, "one", "alice").await?;
    ///         gateway.send_message(&first.id, "two", "alice").await?;
    ///         let second = gateway.create_session("alice", agent).await?;
    ///         gateway.send_message(&second.id, "three", "alice").await?;
    ///         let bobs = gateway.create_session("bob", agent).await?;
    ///         gateway.send_message(&bobs.id, "four", "bob").await?;
    ///     }
    ///     let proof = inspector.prove_layout().await?;
    ///     assert!(proof.is_complete(), "{proof}");
    ///     Ok(())
    /// }
    /// # fn main() {}
    /// ```
    pub async fn prove_layout(&self) -> Result<LayoutProof> {
        self.failing_checks(true).await?;
        let mut outcomes = Vec::new();
        let agents: Vec<String> = self.manager().agent_names().map(str::to_owned).collect();
        for agent in &agents {
            for fault in Fault::ALL {
                let planted = plant::plant(self, agent, fault).await?;
                let (planted, caught) = match planted {
                    Ok((what, undo)) => {
                        let caught = self.failing_checks(false).await;
                        undo.run(self).await?;
                        (Ok(what), caught?)
                    }
                    Err(why) => (Err(why), Vec::new()),
                };
                let (caught_by, findings) = caught.into_iter().unzip();
                outcomes.push(FaultOutcome {
                    fault,
                    agent: agent.clone(),
                    planted,
                    caught_by,
                    findings,
                });
            }
        }
        // Put back as it was: the checks pass again.
        self.failing_checks(true).await?;
        Ok(LayoutProof { outcomes })
    }

    /// The checks that fail on the data as it is, each with its first error; with `strict`,
    /// the first failure as an error.
    async fn failing_checks(&self, strict: bool) -> Result<Vec<(String, String)>> {
        let mut failed: Vec<(String, String)> = Vec::new();
        let mut note = |name: &str, result: Result<()>| -> Result<()> {
            match result {
                Ok(()) => Ok(()),
                Err(e) if strict || e.verification().is_none() => Err(e),
                Err(e) => {
                    if !failed.iter().any(|(f, _)| f == name) {
                        failed.push((name.to_owned(), e.to_string()));
                    }
                    Ok(())
                }
            }
        };
        let agents: Vec<String> = self.manager().agent_names().map(str::to_owned).collect();
        let sessions = self.all_gateway_sessions().await?;
        for session in sessions.iter().filter(|s| agents.contains(&s.agent_name)) {
            note(
                "verify_session_linking",
                self.verify_session_linking(&session.id, &session.agent_name)
                    .await
                    .map(drop),
            )?;
            note(
                "verify_session_context_isolation",
                self.verify_session_context_isolation(
                    &session.agent_name,
                    &session.id,
                    &session.id,
                )
                .await
                .map(drop),
            )?;
        }
        for (i, a) in agents.iter().enumerate() {
            for b in &agents[i + 1..] {
                note(
                    "verify_database_isolation",
                    self.verify_database_isolation(a, b).await.map(drop),
                )?;
            }
        }
        let mut users: Vec<&str> = sessions.iter().map(|s| s.user_id.as_str()).collect();
        users.sort_unstable();
        users.dedup();
        // The check looks at each of its two users alone: every user once, in pairs (a lone
        // last user with itself), a single user too.
        for pair in users.chunks(2) {
            note(
                "verify_user_isolation",
                self.verify_user_isolation(pair[0], pair[pair.len() - 1])
                    .await
                    .map(drop),
            )?;
        }
        note("verify_integrity", self.verify_integrity().await.map(drop))?;
        Ok(failed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_fault_is_told_in_its_own_words() {
        let words: std::collections::BTreeSet<String> =
            Fault::ALL.iter().map(ToString::to_string).collect();
        assert_eq!(words.len(), Fault::ALL.len(), "{words:?}");
        for fault in Fault::ALL {
            assert_eq!(fault.to_string(), fault.describe());
            assert!(!fault.describe().is_empty());
        }
    }

    #[test]
    fn a_proof_is_drawn_one_line_per_outcome_with_its_verdict() {
        let outcome = |fault, agent: &str, planted, caught_by: &[&str]| FaultOutcome {
            fault,
            agent: agent.into(),
            planted,
            caught_by: caught_by.iter().map(|c| (*c).to_owned()).collect(),
            findings: caught_by.iter().map(|c| format!("{c} failed")).collect(),
        };
        let proof = LayoutProof {
            outcomes: vec![
                outcome(
                    Fault::LostReply,
                    "A",
                    Ok("reply 7 deleted".into()),
                    &["verify_integrity", "verify_session_linking"],
                ),
                outcome(Fault::TurnsSwapped, "A", Ok("swapped".into()), &[]),
                outcome(Fault::Orphan, "B", Err("no session".into()), &[]),
            ],
        };
        let text = proof.to_string();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines[0], "layout proof: 3 faults planted", "{text}");
        assert_eq!(lines.len(), 4, "{text}");
        for (line, fault, agent, verdict) in [
            (
                lines[1],
                Fault::LostReply,
                "A",
                "caught by verify_integrity, verify_session_linking",
            ),
            (lines[2], Fault::TurnsSwapped, "A", "NOT CAUGHT"),
            (lines[3], Fault::Orphan, "B", "not planted: no session"),
        ] {
            let at = line.find(fault.describe()).expect(line);
            assert_eq!(line[..at].trim(), agent, "{text}");
            assert!(line.ends_with(verdict), "{text}");
        }
        // The agents and faults line up in columns.
        let starts: Vec<usize> = lines[1..]
            .iter()
            .zip([Fault::LostReply, Fault::TurnsSwapped, Fault::Orphan])
            .map(|(l, f)| l.find(f.describe()).unwrap())
            .collect();
        assert!(starts.iter().all(|s| *s == starts[0]), "{text}");

        // What was missed and what could not be planted.
        let missed: Vec<Fault> = proof.missed().iter().map(|o| o.fault).collect();
        assert_eq!(missed, [Fault::TurnsSwapped]);
        let not_planted: Vec<Fault> = proof.not_planted().iter().map(|o| o.fault).collect();
        assert_eq!(not_planted, [Fault::Orphan]);
        assert!(!proof.is_complete());
        let caught = LayoutProof {
            outcomes: proof.outcomes[..1].to_vec(),
        };
        assert!(
            caught.is_complete() && caught.missed().is_empty(),
            "{caught}"
        );
    }
}
