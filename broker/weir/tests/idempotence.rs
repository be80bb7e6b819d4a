//! Idempotent producers: InitProducerId, retries acknowledged once, sequence gaps and old
//! epochs refused, state kept across restarts.

mod common;

use std::io::Write;
use std::net::TcpStream;
use std::time::Duration;

use bytes::Bytes;
use common::{Weir, consume, runtime};
use kafka_protocol::messages::produce_request::{PartitionProduceData, TopicProduceData};
use kafka_protocol::messages::{
    ApiKey, InitProducerIdRequest, InitProducerIdResponse, ProduceRequest, ProduceResponse,
    ResponseHeader, TopicName,
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

    // Auto-create the topic, then produce.
    let md = kafka_protocol::messages::MetadataRequest::default()
        .with_topics(Some(vec![
            kafka_protocol::messages::metadata_request::MetadataRequestTopic::default()
                .with_name(Some(TopicName(StrBytes::from_static_str("raw-idem")))),
        ]))
        .with_allow_auto_topic_creation(true);
    roundtrip(&mut s, ApiKey::Metadata, 9, &md);
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
    assert_ne!(
        InitProducerIdResponse::decode(&mut b, 4)
            .expect("init")
            .error_code,
        0,
        "transactions are not served yet"
    );
}
