//! Idempotent producers: InitProducerId, retries acknowledged once, sequence gaps and old
//! epochs refused, state kept across restarts; transactional producers fenced by a new instance.

mod common;

use std::io::Write;
use std::net::TcpStream;
use std::time::Duration;

use bytes::Bytes;
use common::{Weir, consume, runtime};
use kafka_protocol::messages::add_partitions_to_txn_request::AddPartitionsToTxnTopic;
use kafka_protocol::messages::produce_request::{PartitionProduceData, TopicProduceData};
use kafka_protocol::messages::{
    AddOffsetsToTxnRequest, AddOffsetsToTxnResponse, AddPartitionsToTxnRequest,
    AddPartitionsToTxnResponse, ApiKey, EndTxnRequest, EndTxnResponse, GroupId,
    InitProducerIdRequest, InitProducerIdResponse, ProduceRequest, ProduceResponse, ProducerId,
    ResponseHeader, TopicName, TransactionalId,
};
use kafka_protocol::protocol::{Decodable, Encodable, StrBytes};
use rdkafka::consumer::Consumer;
use rdkafka::message::Message;
use rdkafka::producer::FutureRecord;

const T: Duration = Duration::from_secs(15);

#[test]
fn librdkafka_idempotent_producer_keeps_going_across_a_restart() {
    let mut weir = Weir::start(&[]);
    let rt = runtime();
    let producer = weir.producer(&[
        ("enable.idempotence", "true"),
        ("linger.ms", "2"),
        ("message.timeout.ms", "30000"),
    ]);
    let send = |range: std::ops::Range<i32>| {
        rt.block_on(async {
            let values: Vec<String> = range.map(|i| format!("v{i}")).collect();
            let fs: Vec<_> = values
                .iter()
                .map(|v| producer.send(FutureRecord::to("idem").key("k").payload(v), T))
                .collect();
            for f in fs {
                f.await.expect("delivered");
            }
        })
    };
    send(0..500);
    weir.stop();
    weir.restart();
    // The same producer (same producer id, sequences continuing at 500) carries on.
    send(500..1000);
    let c = weir.consumer();
    assert_eq!(
        c.fetch_watermarks("idem", 0, T).expect("wm"),
        (0, 1000),
        "exactly once each"
    );
    let got = consume(&c, "idem", 0, 0, 1000);
    for (i, m) in got.iter().enumerate() {
        assert_eq!(m.payload(), Some(format!("v{i}").as_bytes()));
    }
}

fn roundtrip(s: &mut TcpStream, api: ApiKey, version: i16, body: &impl Encodable) -> Bytes {
    s.write_all(&common::raw_request(api, version, body))
        .expect("write");
    let mut b = common::read_raw_response(s).expect("response");
    ResponseHeader::decode(&mut b, api.response_header_version(version)).expect("header");
    b
}

/// Creates `topic` the way a producer's first Metadata request does (auto-creation).
fn auto_create(s: &mut TcpStream, topic: &'static str) {
    let md = kafka_protocol::messages::MetadataRequest::default()
        .with_topics(Some(vec![
            kafka_protocol::messages::metadata_request::MetadataRequestTopic::default()
                .with_name(Some(TopicName(StrBytes::from_static_str(topic)))),
        ]))
        .with_allow_auto_topic_creation(true);
    roundtrip(s, ApiKey::Metadata, 9, &md);
}

fn batch(pid: i64, epoch: i16, seq: i32) -> Bytes {
    common::raw_batch(&format!("seq {seq}"), pid, epoch, seq)
}

/// `(error_code, base_offset)` of a one-batch produce.
fn produce(s: &mut TcpStream, records: Bytes) -> (i16, i64) {
    let req = ProduceRequest::default()
        .with_acks(-1)
        .with_timeout_ms(5000)
        .with_topic_data(vec![
            TopicProduceData::default()
                .with_name(TopicName(StrBytes::from_static_str("raw-idem")))
                .with_partition_data(vec![
                    PartitionProduceData::default()
                        .with_index(0)
                        .with_records(Some(records)),
                ]),
        ]);
    let mut b = roundtrip(s, ApiKey::Produce, 9, &req);
    let resp = ProduceResponse::decode(&mut b, 9).expect("produce response");
    let p = &resp.responses[0].partition_responses[0];
    (p.error_code, p.base_offset)
}

#[test]
fn retries_are_acknowledged_once_and_gaps_and_old_epochs_are_refused() {
    let weir = Weir::start(&[]);
    let mut s = TcpStream::connect(&weir.kafka).expect("connect");
    s.set_read_timeout(Some(T)).expect("timeout");
    let mut b = roundtrip(
        &mut s,
        ApiKey::InitProducerId,
        4,
        &InitProducerIdRequest::default()
            .with_transactional_id(None)
            .with_transaction_timeout_ms(60000),
    );
    let init = InitProducerIdResponse::decode(&mut b, 4).expect("init");
    assert_eq!(init.error_code, 0);
    assert_eq!(init.producer_epoch, 0);
    let pid = init.producer_id.0;
    let mut b = roundtrip(
        &mut s,
        ApiKey::InitProducerId,
        4,
        &InitProducerIdRequest::default().with_transactional_id(None),
    );
    let second = InitProducerIdResponse::decode(&mut b, 4).expect("init");
    assert_ne!(
        second.producer_id.0, pid,
        "every InitProducerId gets a new id"
    );

    auto_create(&mut s, "raw-idem");
    assert_eq!(produce(&mut s, batch(pid, 0, 0)), (0, 0));
    assert_eq!(produce(&mut s, batch(pid, 0, 1)), (0, 1));
    assert_eq!(
        produce(&mut s, batch(pid, 0, 1)),
        (0, 1),
        "a retry gets the original offset"
    );
    assert_eq!(
        produce(&mut s, batch(pid, 0, 5)).0,
        45,
        "OUT_OF_ORDER_SEQUENCE_NUMBER"
    );
    assert_eq!(produce(&mut s, batch(pid, 0, 2)), (0, 2));
    assert_eq!(
        produce(&mut s, batch(pid, 1, 0)),
        (0, 3),
        "a new epoch restarts the sequence"
    );
    assert_eq!(
        produce(&mut s, batch(pid, 0, 3)).0,
        47,
        "INVALID_PRODUCER_EPOCH"
    );
    let mut b = roundtrip(
        &mut s,
        ApiKey::InitProducerId,
        4,
        &InitProducerIdRequest::default()
            .with_transactional_id(Some(StrBytes::from_static_str("tx").into())),
    );
    assert_eq!(
        InitProducerIdResponse::decode(&mut b, 4)
            .expect("init")
            .error_code,
        50,
        "INVALID_TRANSACTION_TIMEOUT for a transactional id with no timeout"
    );
}

/// InitProducerId for a transactional id, naming the producer's own id and epoch when
/// `expected` is set (a producer recovering from an error, KIP-360); `(error, pid, epoch)`.
fn init_txn(
    s: &mut TcpStream,
    version: i16,
    txn_id: &str,
    expected: Option<(i64, i16)>,
) -> (i16, i64, i16) {
    let (pid, epoch) = expected.unwrap_or((-1, -1));
    let req = InitProducerIdRequest::default()
        .with_transactional_id(Some(StrBytes::from_string(txn_id.to_string()).into()))
        .with_transaction_timeout_ms(60_000)
        .with_producer_id(ProducerId(pid))
        .with_producer_epoch(epoch);
    let mut b = roundtrip(s, ApiKey::InitProducerId, version, &req);
    let r = InitProducerIdResponse::decode(&mut b, version).expect("init");
    (r.error_code, r.producer_id.0, r.producer_epoch)
}

/// The error codes a producer at `(pid, epoch)` gets from AddPartitionsToTxn, AddOffsetsToTxn
/// and EndTxn at `version`.
fn txn_calls(s: &mut TcpStream, version: i16, txn_id: &str, pid: i64, epoch: i16) -> [i16; 3] {
    let id = || TransactionalId(StrBytes::from_string(txn_id.to_string()));
    let add = AddPartitionsToTxnRequest::default()
        .with_v3_and_below_transactional_id(id())
        .with_v3_and_below_producer_id(ProducerId(pid))
        .with_v3_and_below_producer_epoch(epoch)
        .with_v3_and_below_topics(vec![
            AddPartitionsToTxnTopic::default()
                .with_name(TopicName(StrBytes::from_static_str("raw-txn")))
                .with_partitions(vec![0]),
        ]);
    let mut b = roundtrip(s, ApiKey::AddPartitionsToTxn, version, &add);
    let added = AddPartitionsToTxnResponse::decode(&mut b, version).expect("add partitions");
    let offsets = AddOffsetsToTxnRequest::default()
        .with_transactional_id(id())
        .with_producer_id(ProducerId(pid))
        .with_producer_epoch(epoch)
        .with_group_id(GroupId(StrBytes::from_static_str("raw-txn-group")));
    let mut b = roundtrip(s, ApiKey::AddOffsetsToTxn, version, &offsets);
    let offsets = AddOffsetsToTxnResponse::decode(&mut b, version).expect("add offsets");
    let end = EndTxnRequest::default()
        .with_transactional_id(id())
        .with_producer_id(ProducerId(pid))
        .with_producer_epoch(epoch)
        .with_committed(false);
    let mut b = roundtrip(s, ApiKey::EndTxn, version, &end);
    let end = EndTxnResponse::decode(&mut b, version).expect("end txn");
    [
        added.results_by_topic_v3_and_below[0].results_by_partition[0].partition_error_code,
        offsets.error_code,
        end.error_code,
    ]
}

const FENCED: i16 = 90;
const INVALID_EPOCH: i16 = 47;

#[test]
fn a_replaced_transactional_producer_is_fenced_with_the_code_its_version_knows() {
    let mut weir = Weir::start(&[]);
    let connect = |weir: &Weir| {
        let s = TcpStream::connect(&weir.kafka).expect("connect");
        s.set_read_timeout(Some(T)).expect("timeout");
        s
    };
    let mut s = connect(&weir);
    auto_create(&mut s, "raw-txn");
    let (err, pid, epoch) = init_txn(&mut s, 4, "fence-me", None);
    assert_eq!((err, epoch), (0, 0));
    assert_eq!(
        init_txn(&mut s, 4, "fence-me", None),
        (0, pid, 1),
        "a new instance bumps the epoch"
    );

    // The first instance, at epoch 0, is fenced: PRODUCER_FENCED from v2 on, and
    // INVALID_PRODUCER_EPOCH for requests from before that code existed.
    assert_eq!(txn_calls(&mut s, 3, "fence-me", pid, 0), [FENCED; 3]);
    assert_eq!(txn_calls(&mut s, 2, "fence-me", pid, 0), [FENCED; 3]);
    assert_eq!(txn_calls(&mut s, 1, "fence-me", pid, 0), [INVALID_EPOCH; 3]);
    // The current instance is not: its (empty) transaction aborts.
    assert_eq!(txn_calls(&mut s, 3, "fence-me", pid, 1), [0; 3]);

    // A fenced instance recovering with its old epoch cannot take the id back (v4 says
    // PRODUCER_FENCED, v3 INVALID_PRODUCER_EPOCH), and the current epoch stays.
    assert_eq!(init_txn(&mut s, 4, "fence-me", Some((pid, 0))).0, FENCED);
    assert_eq!(
        init_txn(&mut s, 3, "fence-me", Some((pid, 0))).0,
        INVALID_EPOCH
    );
    assert_eq!(
        init_txn(&mut s, 4, "fence-me", Some((pid + 1000, 1))).0,
        FENCED,
        "another producer id"
    );
    assert_eq!(
        init_txn(&mut s, 4, "fence-me", Some((pid, -1))).0,
        42,
        "INVALID_REQUEST: a producer id without an epoch"
    );
    assert_eq!(txn_calls(&mut s, 3, "fence-me", pid, 1), [0; 3]);

    // The current instance bumps its own epoch; a retry of that call (its answer lost) gets
    // the same epoch back rather than a second bump, also after a restart.
    assert_eq!(init_txn(&mut s, 4, "fence-me", Some((pid, 1))), (0, pid, 2));
    assert_eq!(init_txn(&mut s, 4, "fence-me", Some((pid, 1))), (0, pid, 2));
    drop(s);
    weir.stop();
    weir.restart();
    let mut s = connect(&weir);
    assert_eq!(init_txn(&mut s, 4, "fence-me", Some((pid, 1))), (0, pid, 2));
    assert_eq!(txn_calls(&mut s, 3, "fence-me", pid, 1), [FENCED; 3]);
    assert_eq!(txn_calls(&mut s, 3, "fence-me", pid, 2), [0; 3]);

    // A new instance fences it, and the retry no longer works.
    assert_eq!(init_txn(&mut s, 4, "fence-me", None), (0, pid, 3));
    assert_eq!(init_txn(&mut s, 4, "fence-me", Some((pid, 1))).0, FENCED);
    assert_eq!(init_txn(&mut s, 4, "fence-me", Some((pid, 2))).0, FENCED);
}

/// KIP-447 and KIP-345 checks on a transaction's offsets: TxnOffsetCommit names the consumer's
/// member, generation and instance, and a zombie (an old generation, an unknown member, an
/// instance taken over by a newer process) is refused; OffsetFetch with `require_stable`
/// reports offsets of an open transaction as UNSTABLE_OFFSET_COMMIT until it ends.
#[test]
fn transactional_offsets_are_fenced_by_group_membership_and_unstable_until_the_end() {
    use kafka_protocol::messages::join_group_request::JoinGroupRequestProtocol;
    use kafka_protocol::messages::leave_group_request::MemberIdentity;
    use kafka_protocol::messages::offset_fetch_request::OffsetFetchRequestTopic;
    use kafka_protocol::messages::txn_offset_commit_request::{
        TxnOffsetCommitRequestPartition, TxnOffsetCommitRequestTopic,
    };
    use kafka_protocol::messages::*;

    let weir = Weir::start(&["--group-initial-rebalance-delay-ms", "0"]);
    let mut s = TcpStream::connect(&weir.kafka).expect("connect");
    s.set_read_timeout(Some(T)).expect("timeout");
    auto_create(&mut s, "raw-txn");
    let sb = |v: &str| StrBytes::from_string(v.to_string());
    let group = || GroupId(sb("zombie-group"));
    let join = |s: &mut TcpStream| {
        let req = JoinGroupRequest::default()
            .with_group_id(group())
            .with_session_timeout_ms(30_000)
            .with_rebalance_timeout_ms(30_000)
            .with_group_instance_id(Some(sb("inst-a")))
            .with_protocol_type(sb("consumer"))
            .with_protocols(vec![
                JoinGroupRequestProtocol::default()
                    .with_name(sb("range"))
                    .with_metadata(Bytes::from_static(&[0, 0, 0, 0, 0, 0, 255, 255, 255, 255])),
            ]);
        let mut b = roundtrip(s, ApiKey::JoinGroup, 5, &req);
        let r = JoinGroupResponse::decode(&mut b, 5).expect("join");
        assert_eq!(r.error_code, 0);
        (r.member_id.to_string(), r.generation_id)
    };
    let (old_member, generation) = join(&mut s);
    assert!(old_member.starts_with("inst-a-"), "{old_member}");
    let sync = SyncGroupRequest::default()
        .with_group_id(group())
        .with_generation_id(generation)
        .with_member_id(sb(&old_member))
        .with_group_instance_id(Some(sb("inst-a")));
    let mut b = roundtrip(&mut s, ApiKey::SyncGroup, 3, &sync);
    assert_eq!(
        SyncGroupResponse::decode(&mut b, 3)
            .expect("sync")
            .error_code,
        0
    );

    let (err, pid, epoch) = init_txn(&mut s, 4, "zombie-txn", None);
    assert_eq!(err, 0);
    let add = AddOffsetsToTxnRequest::default()
        .with_transactional_id(TransactionalId(sb("zombie-txn")))
        .with_producer_id(ProducerId(pid))
        .with_producer_epoch(epoch)
        .with_group_id(group());
    let mut b = roundtrip(&mut s, ApiKey::AddOffsetsToTxn, 3, &add);
    assert_eq!(
        AddOffsetsToTxnResponse::decode(&mut b, 3)
            .expect("add")
            .error_code,
        0
    );
    let commit = |s: &mut TcpStream, generation: i32, member: &str, instance: Option<&str>| {
        let req = TxnOffsetCommitRequest::default()
            .with_transactional_id(TransactionalId(sb("zombie-txn")))
            .with_group_id(group())
            .with_producer_id(ProducerId(pid))
            .with_producer_epoch(epoch)
            .with_generation_id(generation)
            .with_member_id(sb(member))
            .with_group_instance_id(instance.map(sb))
            .with_topics(vec![
                TxnOffsetCommitRequestTopic::default()
                    .with_name(TopicName(sb("raw-txn")))
                    .with_partitions(vec![
                        TxnOffsetCommitRequestPartition::default()
                            .with_partition_index(0)
                            .with_committed_offset(7),
                    ]),
            ]);
        let mut b = roundtrip(s, ApiKey::TxnOffsetCommit, 3, &req);
        TxnOffsetCommitResponse::decode(&mut b, 3)
            .expect("txn commit")
            .topics[0]
            .partitions[0]
            .error_code
    };
    assert_eq!(
        commit(&mut s, generation - 1, &old_member, Some("inst-a")),
        22,
        "ILLEGAL_GENERATION"
    );
    assert_eq!(
        commit(&mut s, generation, "zombie", None),
        25,
        "UNKNOWN_MEMBER_ID"
    );
    assert_eq!(commit(&mut s, generation, &old_member, Some("inst-a")), 0);

    let fetch = |s: &mut TcpStream, stable: bool| {
        let req = OffsetFetchRequest::default()
            .with_group_id(group())
            .with_require_stable(stable)
            .with_topics(Some(vec![
                OffsetFetchRequestTopic::default()
                    .with_name(TopicName(sb("raw-txn")))
                    .with_partition_indexes(vec![0]),
            ]));
        let mut b = roundtrip(s, ApiKey::OffsetFetch, 7, &req);
        let r = OffsetFetchResponse::decode(&mut b, 7).expect("fetch");
        let p = &r.topics[0].partitions[0];
        (p.error_code, p.committed_offset)
    };
    assert_eq!(
        fetch(&mut s, true),
        (88, -1),
        "UNSTABLE_OFFSET_COMMIT while open"
    );
    assert_eq!(fetch(&mut s, false), (0, -1), "nothing committed yet");

    // The same instance starts again in a new process: the old member id is fenced.
    let (new_member, _) = join(&mut s);
    assert_ne!(new_member, old_member);
    assert_eq!(
        commit(&mut s, generation, &old_member, Some("inst-a")),
        82,
        "FENCED_INSTANCE_ID"
    );
    let hb = |s: &mut TcpStream, member: &str| {
        let req = HeartbeatRequest::default()
            .with_group_id(group())
            .with_generation_id(generation)
            .with_member_id(sb(member))
            .with_group_instance_id(Some(sb("inst-a")));
        let mut b = roundtrip(s, ApiKey::Heartbeat, 3, &req);
        HeartbeatResponse::decode(&mut b, 3)
            .expect("heartbeat")
            .error_code
    };
    assert_eq!(hb(&mut s, &old_member), 82);
    let leave = LeaveGroupRequest::default()
        .with_group_id(group())
        .with_members(vec![
            MemberIdentity::default()
                .with_member_id(sb(&old_member))
                .with_group_instance_id(Some(sb("inst-a"))),
        ]);
    let mut b = roundtrip(&mut s, ApiKey::LeaveGroup, 3, &leave);
    let r = LeaveGroupResponse::decode(&mut b, 3).expect("leave");
    assert_eq!(
        r.members[0].error_code, 82,
        "a stale LeaveGroup does not remove the live member"
    );
    assert_eq!(hb(&mut s, &new_member), 0);

    let end = EndTxnRequest::default()
        .with_transactional_id(TransactionalId(sb("zombie-txn")))
        .with_producer_id(ProducerId(pid))
        .with_producer_epoch(epoch)
        .with_committed(true);
    let mut b = roundtrip(&mut s, ApiKey::EndTxn, 3, &end);
    assert_eq!(
        EndTxnResponse::decode(&mut b, 3).expect("end").error_code,
        0
    );
    assert_eq!(
        fetch(&mut s, true),
        (0, 7),
        "stable and committed once the transaction ends"
    );
}

/// `(producer id, last sequence)` of every producer DescribeProducers lists for raw-idem/0.
fn described_producers(s: &mut TcpStream) -> Vec<(i64, i32)> {
    use kafka_protocol::messages::describe_producers_request::TopicRequest;
    use kafka_protocol::messages::{DescribeProducersRequest, DescribeProducersResponse};
    let req = DescribeProducersRequest::default().with_topics(vec![
        TopicRequest::default()
            .with_name(TopicName(StrBytes::from_static_str("raw-idem")))
            .with_partition_indexes(vec![0]),
    ]);
    let mut b = roundtrip(s, ApiKey::DescribeProducers, 0, &req);
    let r = DescribeProducersResponse::decode(&mut b, 0).expect("describe producers");
    let p = &r.topics[0].partitions[0];
    assert_eq!(p.error_code, 0);
    p.active_producers
        .iter()
        .map(|a| (a.producer_id.0, a.last_sequence))
        .collect()
}

/// The transactional ids ListTransactions lists.
fn listed_transactions(s: &mut TcpStream) -> Vec<String> {
    use kafka_protocol::messages::{ListTransactionsRequest, ListTransactionsResponse};
    let mut b = roundtrip(
        s,
        ApiKey::ListTransactions,
        0,
        &ListTransactionsRequest::default(),
    );
    let r = ListTransactionsResponse::decode(&mut b, 0).expect("list transactions");
    assert_eq!(r.error_code, 0);
    r.transaction_states
        .iter()
        .map(|t| t.transactional_id.to_string())
        .collect()
}

fn eventually(what: &str, mut ok: impl FnMut() -> bool) {
    let deadline = std::time::Instant::now() + T;
    while !ok() {
        assert!(
            std::time::Instant::now() < deadline,
            "timed out waiting for {what}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn idle_producers_and_transactional_ids_expire() {
    let weir = Weir::start(&[
        "--producer-id-expiration-ms",
        "1000",
        "--transactional-id-expiration-ms",
        "1000",
        "--log-retention-check-interval-ms",
        "100",
    ]);
    let mut s = TcpStream::connect(&weir.kafka).expect("connect");
    s.set_read_timeout(Some(T)).expect("timeout");

    // An idempotent producer's state goes once it has been idle for producer.id.expiration.ms.
    let mut b = roundtrip(
        &mut s,
        ApiKey::InitProducerId,
        4,
        &InitProducerIdRequest::default().with_transactional_id(None),
    );
    let pid = InitProducerIdResponse::decode(&mut b, 4)
        .expect("init")
        .producer_id
        .0;
    auto_create(&mut s, "raw-idem");
    assert_eq!(produce(&mut s, batch(pid, 0, 0)), (0, 0));
    assert_eq!(produce(&mut s, batch(pid, 0, 1)), (0, 1));
    assert_eq!(described_producers(&mut s), [(pid, 1)]);
    eventually("the idle producer to expire", || {
        described_producers(&mut s).is_empty()
    });
    // When it sends again, its next batch is accepted where its sequence is (as in Kafka,
    // KIP-360), not refused as out of order, and it is tracked again.
    assert_eq!(produce(&mut s, batch(pid, 0, 2)), (0, 2));
    assert_eq!(described_producers(&mut s), [(pid, 2)]);
    assert_eq!(
        produce(&mut s, batch(pid, 0, 2)),
        (0, 2),
        "retries are recognised again"
    );

    // A transactional id with no open transaction goes after transactional.id.expiration.ms; a
    // producer that comes back with it gets a new producer id.
    // One with a transaction open stays.
    let (err, open_pid, open_epoch) = init_txn(&mut s, 4, "open", None);
    assert_eq!(err, 0);
    let begin = AddOffsetsToTxnRequest::default()
        .with_transactional_id(TransactionalId(StrBytes::from_static_str("open")))
        .with_producer_id(ProducerId(open_pid))
        .with_producer_epoch(open_epoch)
        .with_group_id(GroupId(StrBytes::from_static_str("expiry-group")));
    let mut b = roundtrip(&mut s, ApiKey::AddOffsetsToTxn, 3, &begin);
    assert_eq!(
        AddOffsetsToTxnResponse::decode(&mut b, 3)
            .expect("add offsets")
            .error_code,
        0
    );
    let (err, first_pid, _) = init_txn(&mut s, 4, "expiring", None);
    assert_eq!(err, 0);
    assert!(listed_transactions(&mut s).contains(&"expiring".to_string()));
    eventually("the transactional id to expire", || {
        !listed_transactions(&mut s).contains(&"expiring".to_string())
    });
    assert!(
        listed_transactions(&mut s).contains(&"open".to_string()),
        "an open transaction keeps its id"
    );
    let (err, again, epoch) = init_txn(&mut s, 4, "expiring", None);
    assert_eq!(err, 0);
    assert_ne!(again, first_pid, "a new producer id");
    assert_eq!(epoch, 0);
}
