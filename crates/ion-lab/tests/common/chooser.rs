//! The user, played by a chooser command (the consent protocol's other
//! implementation, configured with `[dialog] command`): a shell script
//! that records each request and answers what the test put in its answer
//! file.

use std::path::PathBuf;

use anyhow::Result;
use ion_lab::testbed::Testbed;

use super::{world, World};

/// The chooser's files in the testbed's root.
pub struct Chooser {
    pub asked: PathBuf,
    pub answer: PathBuf,
}

impl Chooser {
    pub fn install(testbed: &Testbed) -> Result<(Self, String)> {
        let root = &testbed.paths().root;
        let chooser = Self {
            asked: root.join("asked.jsonl"),
            answer: root.join("answer.json"),
        };
        let script = root.join("chooser.sh");
        std::fs::write(
            &script,
            format!(
                "#!/bin/sh\n# Plays the user: records the request, gives the answer.\ncat >> '{asked}'\necho >> '{asked}'\ncat '{answer}'\n",
                asked = chooser.asked.display(),
                answer = chooser.answer.display()
            ),
        )?;
        let policy = format!(
            "[dialog]\ncommand = [\"sh\", \"{}\"]\ntimeout = 30\n",
            script.display()
        );
        Ok((chooser, policy))
    }

    pub fn answer(&self, json: &str) -> Result<()> {
        std::fs::write(&self.answer, format!("{json}\n"))?;
        Ok(())
    }

    pub fn asked(&self) -> Vec<serde_json::Value> {
        std::fs::read_to_string(&self.asked)
            .unwrap_or_default()
            .lines()
            .filter(|l| !l.trim().is_empty())
            .filter_map(|l| serde_json::from_str(l).ok())
            .collect()
    }
}

/// A world whose policy has no rule: every session goes to the chooser.
pub async fn world_with_chooser() -> Result<(World, Chooser)> {
    let mut w = world().await?;
    let (chooser, policy) = Chooser::install(&w.testbed)?;
    w.testbed.set_policy(policy)?;
    Ok((w, chooser))
}
