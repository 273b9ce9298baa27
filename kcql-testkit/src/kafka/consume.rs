//! Reading a whole topic back for a check ([`super::consume_all`], [`super::consume_exactly`]).

use std::time::Duration;

use rdkafka::consumer::{Consumer, StreamConsumer};
use rdkafka::{Offset, TopicPartitionList};

use super::{
    consumer_config_at, partitions_of_at, to_consumed, unique_group, wait_reachable_at,
    ConsumedRecord, TestContext,
};

/// How long [`consume_all`] waits for a consumer's first record before replacing it.
const CONSUMER_STALL: Duration = Duration::from_secs(20);

/// A consumer (new group, commits nothing) assigned every partition of `topic` from the
/// beginning: a checker reads the whole topic, which is what assignment means (a group would
/// only add a join round trip and leave a group behind).
fn assigned_consumer(
    brokers: &str,
    topic: &str,
    partitions: &[i32],
) -> StreamConsumer<TestContext> {
    let consumer: StreamConsumer<TestContext> =
        consumer_config_at(brokers, &unique_group("consume_all"))
            .create_with_context(TestContext)
            .unwrap_or_else(|e| panic!("cannot create consumer: {e}"));
    let mut assignment = TopicPartitionList::new();
    for p in partitions {
        assignment
            .add_partition_offset(topic, *p, Offset::Beginning)
            .unwrap_or_else(|e| panic!("cannot assign {topic}/{p}: {e}"));
    }
    consumer
        .assign(&assignment)
        .unwrap_or_else(|e| panic!("assign {topic} failed: {e}"));
    consumer
}

pub(super) async fn consume_inner(
    brokers: &str,
    topic: &str,
    expected: usize,
    timeout: Duration,
    settle: Option<Duration>,
) -> Vec<ConsumedRecord> {
    wait_reachable_at(brokers);
    let partitions = partitions_of_at(brokers, topic).await;
    let mut consumer = assigned_consumer(brokers, topic, &partitions);
    let deadline = tokio::time::Instant::now() + timeout;
    // A consumer that has read nothing after CONSUMER_STALL is replaced by a new one: once in a
    // while one made right after the broker started never fetched (0 records in 60 s, no
    // error) while a second one read everything. Nothing read means nothing can be read twice.
    let mut stall = tokio::time::Instant::now() + CONSUMER_STALL;
    let mut out = Vec::with_capacity(expected);
    let mut errors: Vec<String> = Vec::new();
    while out.len() < expected {
        let wake = if out.is_empty() {
            stall.min(deadline)
        } else {
            deadline
        };
        match tokio::time::timeout_at(wake, consumer.recv()).await {
            Ok(Ok(m)) => out.push(to_consumed(&m)),
            Ok(Err(e)) => {
                if errors.len() < 20 {
                    errors.push(e.to_string());
                }
            }
            Err(_) if out.is_empty() && wake < deadline => {
                eprintln!("consume_all({topic}): nothing read in {CONSUMER_STALL:?}; new consumer");
                consumer = assigned_consumer(brokers, topic, &partitions);
                stall = tokio::time::Instant::now() + CONSUMER_STALL;
            }
            Err(_) => panic!(
                "consume_all({topic}): only {} of {expected} records arrived within {timeout:?} \
                 (consumer errors: {errors:?})",
                out.len()
            ),
        }
    }
    if let Some(settle) = settle {
        let settle_deadline = tokio::time::Instant::now() + settle;
        while let Ok(r) = tokio::time::timeout_at(settle_deadline, consumer.recv()).await {
            if let Ok(m) = r {
                out.push(to_consumed(&m));
            }
        }
        if out.len() > expected {
            panic!(
                "consume_exactly({topic}): expected {expected} records, got {} (extra: {:?})",
                out.len(),
                &out[expected..]
            );
        }
    }
    out
}
