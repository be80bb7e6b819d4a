//! One batch through a chain of plugins.

use weir_wasm::{KafkaRecord, Outcome, Outcomes, RawBatch};

use super::{FailurePolicy, Input, Plugins, Step};

/// A record sent to the dead-letter topic, with why and by whom.
#[derive(Debug, Clone)]
pub(crate) struct DeadLetter {
    pub(crate) record: KafkaRecord,
    pub(crate) reason: String,
    pub(crate) plugin: String,
    pub(crate) version: String,
}

/// What a chain decided for a batch.
#[derive(Debug, Default)]
pub(crate) struct ChainOutput {
    /// Records left for the source topic (or, in a pipeline, the output), in order.
    pub(crate) kept: Vec<KafkaRecord>,
    /// Each kept record's position in the input batch.
    pub(crate) kept_positions: Vec<usize>,
    /// Whether `kept` differs from the input (anything replaced, dropped, moved).
    pub(crate) changed: bool,
    /// Records moved to other topics.
    pub(crate) routed: Vec<(String, KafkaRecord)>,
    pub(crate) dead: Vec<DeadLetter>,
    /// Refused records: their index in the input batch and the message. Non-empty means the
    /// produce fails (records a plugin rejects under the dead-letter policy are in `dead`).
    pub(crate) rejected: Vec<(usize, String)>,
}

/// How a chain treats rejections and failures.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Policy {
    pub(crate) reject_to_dlq: bool,
    pub(crate) failure: FailurePolicy,
}

impl Plugins {
    /// Runs `records` through `steps` in order: each plugin sees the records the previous ones
    /// kept or replaced. Blocking (plugins run on the calling thread).
    pub(crate) fn run_chain(
        &self,
        topic: &str,
        steps: &[Step],
        policy: Policy,
        records: Vec<KafkaRecord>,
    ) -> ChainOutput {
        self.run_steps(topic, steps, policy, records, None)
    }

    /// [`Plugins::run_chain`] for a producer's batch, given as its records region: while the
    /// steps are ABI 0.2.0 plugins that keep the whole batch, nothing is decoded. The first
    /// step that does anything else (or takes records) gets the records from `decode`, and the
    /// chain goes on as `run_chain` does. An unchanged batch comes back with `changed` false
    /// and `kept` empty: the caller appends the producer's bytes.
    pub(crate) fn run_chain_raw<E>(
        &self,
        topic: &str,
        steps: &[Step],
        policy: Policy,
        raw: &RawBatch<'_>,
        decode: impl FnOnce() -> Result<Vec<KafkaRecord>, E>,
    ) -> Result<ChainOutput, E> {
        let n = raw.count as usize;
        // Like `run_chain`, no plugin is called for a batch without records.
        let steps = if n == 0 { &[][..] } else { steps };
        for (i, step) in steps.iter().enumerate() {
            if !self.takes_raw(step) {
                return Ok(self.run_steps(topic, &steps[i..], policy, decode()?, None));
            }
            self.count(topic, &step.name, "in", n);
            match self.invoke(topic, step, Input::Raw(raw)) {
                Ok(Outcomes::KeepAll) => self.count(topic, &step.name, "kept", n),
                other => {
                    let records = decode()?;
                    return Ok(self.run_steps(topic, &steps[i..], policy, records, Some(other)));
                }
            }
        }
        Ok(ChainOutput {
            kept_positions: (0..n).collect(),
            ..ChainOutput::default()
        })
    }

    /// Runs `records` through `steps`; `first`, when given, is what the first step already
    /// answered for these records (its "in" already counted).
    fn run_steps(
        &self,
        topic: &str,
        steps: &[Step],
        policy: Policy,
        records: Vec<KafkaRecord>,
        mut first: Option<Result<Outcomes, String>>,
    ) -> ChainOutput {
        let mut out = ChainOutput::default();
        let mut index: Vec<usize> = (0..records.len()).collect();
        let mut live = records;
        for step in steps {
            if live.is_empty() {
                break;
            }
            let answer = match first.take() {
                Some(answer) => answer,
                None => {
                    self.count(topic, &step.name, "in", live.len());
                    self.invoke(topic, step, Input::Records(&live))
                }
            };
            let outcomes = match answer {
                Ok(Outcomes::Each(o)) => o,
                Ok(Outcomes::KeepAll) => {
                    // Nothing changes: the next step sees the same records.
                    self.count(topic, &step.name, "kept", live.len());
                    continue;
                }
                Err(msg) => {
                    match policy.failure {
                        FailurePolicy::Fail => {
                            out.rejected = index.iter().map(|&i| (i, msg.clone())).collect();
                            return out;
                        }
                        FailurePolicy::DeadLetter => {
                            self.count(topic, &step.name, "dead_lettered", live.len());
                            out.changed = true;
                            out.dead.extend(live.drain(..).map(|record| DeadLetter {
                                record,
                                reason: msg.clone(),
                                plugin: step.name.clone(),
                                version: step.version.clone(),
                            }));
                            index.clear();
                        }
                        FailurePolicy::Pass => self.count(topic, &step.name, "passed", live.len()),
                    }
                    continue;
                }
            };
            let mut next = Vec::with_capacity(live.len());
            let mut next_index = Vec::with_capacity(live.len());
            let mut counts = [0usize; 6];
            for ((i, mut record), outcome) in index.into_iter().zip(live).zip(outcomes) {
                match outcome {
                    Outcome::Keep => {
                        counts[0] += 1;
                        next.push(record);
                        next_index.push(i);
                    }
                    Outcome::Replace(r) => {
                        counts[1] += 1;
                        record.key = r.key;
                        record.value = r.value;
                        record.headers = r.headers;
                        out.changed = true;
                        next.push(record);
                        next_index.push(i);
                    }
                    Outcome::Drop => {
                        counts[2] += 1;
                        out.changed = true;
                    }
                    Outcome::Reject(reason) => {
                        counts[3] += 1;
                        if policy.reject_to_dlq {
                            out.changed = true;
                            out.dead.push(DeadLetter {
                                record,
                                reason,
                                plugin: step.name.clone(),
                                version: step.version.clone(),
                            });
                        } else {
                            out.rejected
                                .push((i, format!("rejected by plugin '{}': {reason}", step.name)));
                        }
                    }
                    Outcome::DeadLetter(reason) => {
                        counts[4] += 1;
                        out.changed = true;
                        out.dead.push(DeadLetter {
                            record,
                            reason,
                            plugin: step.name.clone(),
                            version: step.version.clone(),
                        });
                    }
                    Outcome::Route(topics) => {
                        counts[5] += 1;
                        let stays = topics.iter().any(|t| t == topic);
                        for t in topics.into_iter().filter(|t| t != topic) {
                            out.routed.push((t, record.clone()));
                        }
                        if stays {
                            next.push(record);
                            next_index.push(i);
                        } else {
                            out.changed = true;
                        }
                    }
                }
            }
            for (n, name) in counts.into_iter().zip([
                "kept",
                "replaced",
                "dropped",
                "rejected",
                "dead_lettered",
                "routed",
            ]) {
                self.count(topic, &step.name, name, n);
            }
            if let Some((_, first)) = out.rejected.first() {
                // Clients on older Produce versions (kafkajs, librdkafka) cannot show the reason:
                // the plugin's log can.
                self.note_host(
                    &step.name,
                    weir_wasm::Level::Warn,
                    format!(
                        "[{topic}] rejected {} record(s) of a batch, which fails: {first}",
                        out.rejected.len()
                    ),
                );
                // The produce fails; later plugins need not run.
                return out;
            }
            live = next;
            index = next_index;
        }
        out.kept = live;
        out.kept_positions = index;
        out
    }
}
