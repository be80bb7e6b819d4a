//! Malformed and hostile requests over a raw socket: the broker answers with Kafka's error codes
//! or closes that one connection, and keeps serving everyone else.

mod common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use bytes::{BufMut, Bytes, BytesMut};
use common::{Weir, serve_output};
use kafka_protocol::messages::produce_request::{PartitionProduceData, TopicProduceData};
use kafka_protocol::messages::{
    ApiKey, ApiVersionsResponse, ProduceRequest, ProduceResponse, ResponseHeader, TopicName,
};
use kafka_protocol::protocol::{Decodable, StrBytes};

fn connect(weir: &Weir) -> TcpStream {
    let s = TcpStream::connect(&weir.kafka).expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(10)))
        .expect("timeout");
    s
}

fn request<T: kafka_protocol::protocol::Encodable>(api: ApiKey, version: i16, body: &T) -> Vec<u8> {
    common::raw_request(api, version, body)
}

fn read_response(s: &mut TcpStream) -> Option<Bytes> {
    common::read_raw_response(s)
}

/// True when the broker closed the connection (EOF) rather than answering.
fn closed(s: &mut TcpStream) -> bool {
    let mut b = [0u8; 1];
    matches!(s.read(&mut b), Ok(0))
        || matches!(s.read(&mut b), Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset)
}

fn still_serving(weir: &Weir) {
    let mut s = connect(weir);
    s.write_all(&request(
        ApiKey::ApiVersions,
        3,
        &kafka_protocol::messages::ApiVersionsRequest::default()
            .with_client_software_name(StrBytes::from_static_str("t"))
            .with_client_software_version(StrBytes::from_static_str("1")),
    ))
    .expect("write");
    let mut r = read_response(&mut s).expect("ApiVersions answered after bad input");
    let header = ResponseHeader::decode(&mut r, 0).expect("header");
    assert_eq!(header.correlation_id, common::RAW_CORRELATION_ID);
    let body = ApiVersionsResponse::decode(&mut r, 3).expect("body");
    assert_eq!(body.error_code, 0);
}

#[test]
fn oversized_negative_truncated_and_garbage_frames_close_only_that_connection() {
    let weir = Weir::start(&["--socket-request-max-bytes", "1048576"]);
    for frame in [
        i32::MAX.to_be_bytes().to_vec(),
        (-5i32).to_be_bytes().to_vec(),
        2_000_000i32.to_be_bytes().to_vec(),
        {
            let mut v = 12i32.to_be_bytes().to_vec();
            v.extend_from_slice(b"garbage!1234");
            v
        },
        {
            let mut v = 6i32.to_be_bytes().to_vec();
            v.extend_from_slice(&[0x7f, 0x7f, 0, 0, 0, 1]); // unknown api key, too short header
            v
        },
    ] {
        let mut s = connect(&weir);
        s.write_all(&frame).expect("write");
        assert!(
            closed(&mut s),
            "frame {frame:?} should close the connection"
        );
        still_serving(&weir);
    }
    // A frame that promises more than it sends, then hangs up.
    let mut s = connect(&weir);
    s.write_all(&100i32.to_be_bytes()).expect("write");
    s.write_all(&[0, 3, 0]).expect("write");
    drop(s);
    still_serving(&weir);
}

/// Socket buffer sizes are -1 (the OS's) or positive, as in Kafka: zero is refused at start
/// with the flag named, before anything binds.
#[test]
fn a_socket_buffer_of_zero_is_refused_at_start() {
    for flag in [
        "--socket-send-buffer-bytes",
        "--socket-receive-buffer-bytes",
    ] {
        let (ok, text) = serve_output(&[flag, "0"]);
        assert!(!ok, "{flag} 0 should be refused: {text}");
        assert!(
            text.contains(&flag[2..]) && text.contains("positive"),
            "{text}"
        );
    }
}

#[test]
fn unknown_api_versions_version_gets_the_v0_fallback() {
    let weir = Weir::start(&[]);
    let mut s = connect(&weir);
    let mut frame = BytesMut::new();
    frame.put_i32(10);
    frame.put_i16(ApiKey::ApiVersions as i16);
    frame.put_i16(99);
    frame.put_i32(77);
    frame.put_i16(-1);
    s.write_all(&frame).expect("write");
    let mut r = read_response(&mut s).expect("fallback response");
    let header = ResponseHeader::decode(&mut r, 0).expect("header");
    assert_eq!(header.correlation_id, 77);
    let body = ApiVersionsResponse::decode(&mut r, 0).expect("v0 body");
    assert_eq!(body.error_code, 35, "UNSUPPORTED_VERSION");
    let produce = body
        .api_keys
        .iter()
        .find(|k| k.api_key == ApiKey::Produce as i16)
        .expect("Produce listed");
    assert!(produce.max_version >= 9);
}

#[test]
fn hostile_array_length_and_unsupported_version_close_the_connection() {
    let weir = Weir::start(&[]);
    // Produce v9 whose topic array claims ~4 billion entries in a 30-byte frame.
    let mut f = BytesMut::new();
    f.put_i16(ApiKey::Produce as i16);
    f.put_i16(9);
    f.put_i32(1);
    f.put_i16(-1);
    f.put_u8(0);
    f.put_u8(0);
    f.put_i16(1);
    f.put_i32(1000);
    f.put_slice(&[0xff, 0xff, 0xff, 0xff, 0x0f]);
    let mut framed = (f.len() as i32).to_be_bytes().to_vec();
    framed.extend_from_slice(&f);
    let mut s = connect(&weir);
    s.write_all(&framed).expect("write");
    assert!(closed(&mut s));
    still_serving(&weir);
    // Produce v2 is below what Weir (and Kafka 4) serve.
    let mut s = connect(&weir);
    let mut raw = request(ApiKey::Produce, 3, &ProduceRequest::default());
    raw[6..8].copy_from_slice(&2i16.to_be_bytes());
    s.write_all(&raw).expect("write");
    assert!(closed(&mut s));
    still_serving(&weir);
}

fn batch(value: &str) -> Bytes {
    common::raw_batch(value, -1, -1, -1)
}

fn produce(weir: &Weir, topic: &str, acks: i16, records: Bytes) -> (i16, Option<String>) {
    let req = ProduceRequest::default()
        .with_acks(acks)
        .with_timeout_ms(5000)
        .with_topic_data(vec![
            TopicProduceData::default()
                .with_name(TopicName(StrBytes::from_string(topic.into())))
                .with_partition_data(vec![
                    PartitionProduceData::default()
                        .with_index(0)
                        .with_records(Some(records)),
                ]),
        ]);
    let mut s = connect(weir);
    s.write_all(&request(ApiKey::Produce, 9, &req))
        .expect("write");
    let mut r = read_response(&mut s).expect("produce response");
    ResponseHeader::decode(&mut r, 1).expect("header");
    let resp = ProduceResponse::decode(&mut r, 9).expect("body");
    let p = &resp.responses[0].partition_responses[0];
    (
        p.error_code,
        p.error_message.as_ref().map(|m| m.to_string()),
    )
}

#[test]
fn corrupt_and_invalid_batches_get_kafka_error_codes() {
    let weir = Weir::start(&[]);
    // Create the topic through auto-creation with a good record first.
    let mut md = connect(&weir);
    md.write_all(&request(
        ApiKey::Metadata,
        9,
        &kafka_protocol::messages::MetadataRequest::default()
            .with_topics(Some(vec![
                kafka_protocol::messages::metadata_request::MetadataRequestTopic::default()
                    .with_name(Some(TopicName(StrBytes::from_static_str("raw")))),
            ]))
            .with_allow_auto_topic_creation(true),
    ))
    .expect("write");
    read_response(&mut md).expect("metadata");
    assert_eq!(produce(&weir, "raw", 1, batch("good")).0, 0);

    let mut corrupt = batch("bad crc").to_vec();
    let n = corrupt.len();
    corrupt[n - 1] ^= 0x55;
    let (code, msg) = produce(&weir, "raw", 1, Bytes::from(corrupt));
    assert_eq!(code, 2, "CORRUPT_MESSAGE");
    assert!(msg.unwrap_or_default().contains("CRC"));

    let mut old_magic = batch("magic").to_vec();
    old_magic[16] = 1;
    assert_eq!(
        produce(&weir, "raw", 1, Bytes::from(old_magic)).0,
        87,
        "INVALID_RECORD"
    );
    assert_eq!(produce(&weir, "raw", 1, Bytes::from_static(b"short")).0, 2);
    assert_eq!(
        produce(&weir, "raw", 7, batch("acks")).0,
        21,
        "INVALID_REQUIRED_ACKS"
    );
    assert_eq!(
        produce(&weir, "nope", 1, batch("x")).0,
        3,
        "UNKNOWN_TOPIC_OR_PARTITION"
    );
    // Nothing bad was appended: the next good record lands at offset 1.
    let mut s = connect(&weir);
    let req = kafka_protocol::messages::ListOffsetsRequest::default().with_topics(vec![
        kafka_protocol::messages::list_offsets_request::ListOffsetsTopic::default()
            .with_name(TopicName(StrBytes::from_static_str("raw")))
            .with_partitions(vec![
                kafka_protocol::messages::list_offsets_request::ListOffsetsPartition::default()
                    .with_partition_index(0)
                    .with_timestamp(-1),
            ]),
    ]);
    s.write_all(&request(ApiKey::ListOffsets, 7, &req))
        .expect("write");
    let mut r = read_response(&mut s).expect("list offsets");
    ResponseHeader::decode(&mut r, 1).expect("header");
    let resp = kafka_protocol::messages::ListOffsetsResponse::decode(&mut r, 7).expect("body");
    assert_eq!(resp.topics[0].partitions[0].offset, 1);
}

/// Partition counts of the topics the broker lists, through librdkafka's metadata.
fn topic_partitions(weir: &Weir) -> std::collections::BTreeMap<String, usize> {
    use rdkafka::consumer::Consumer;
    let md = weir
        .consumer()
        .fetch_metadata(None, Duration::from_secs(10))
        .expect("metadata");
    md.topics()
        .iter()
        .map(|t| (t.name().to_string(), t.partitions().len()))
        .collect()
}

/// With fewer open files than new partitions need (each keeps its segment files open), a
/// create is refused whole with POLICY_VIOLATION and a message that names the limit and how to
/// raise it. Before, the topic was created in the metadata with only some of its logs opened,
/// and the broker then failed to start on that data directory.
#[test]
fn partitions_beyond_the_open_file_limit_are_refused_whole() {
    use rdkafka::admin::{AdminOptions, NewPartitions, NewTopic, TopicReplication};
    use rdkafka::types::RDKafkaErrorCode;

    let mut weir = Weir::start_with_open_files(256, 256, &[]);
    let mut s = connect(&weir);
    let req = kafka_protocol::messages::CreateTopicsRequest::default()
        .with_topics(vec![
            kafka_protocol::messages::create_topics_request::CreatableTopic::default()
                .with_name(TopicName(StrBytes::from_static_str("wide")))
                .with_num_partitions(100)
                .with_replication_factor(1),
        ])
        .with_timeout_ms(15_000);
    s.write_all(&request(ApiKey::CreateTopics, 5, &req))
        .expect("write");
    let mut r = read_response(&mut s).expect("create topics answered");
    ResponseHeader::decode(&mut r, 1).expect("header");
    let resp = kafka_protocol::messages::CreateTopicsResponse::decode(&mut r, 5).expect("body");
    let topic = &resp.topics[0];
    assert_eq!(topic.error_code, 44, "POLICY_VIOLATION");
    let message = topic
        .error_message
        .as_deref()
        .unwrap_or_default()
        .to_string();
    assert!(
        message.contains("100 more partition(s)")
            && message.contains("limit of 256")
            && message.contains("ulimit -n"),
        "{message}"
    );

    weir.create_topic("narrow", 10);
    let admin = weir.admin();
    let opts = AdminOptions::new().operation_timeout(Some(Duration::from_secs(15)));
    let rt = common::runtime();
    let grown = rt
        .block_on(admin.create_partitions(&[NewPartitions::new("narrow", 200)], &opts))
        .expect("create partitions");
    assert!(
        matches!(grown[0], Err((_, RDKafkaErrorCode::PolicyViolation))),
        "{grown:?}"
    );
    let created = rt
        .block_on(admin.create_topics(
            &[NewTopic::new("wide", 100, TopicReplication::Fixed(1))],
            &opts,
        ))
        .expect("create topics");
    assert!(
        matches!(created[0], Err((_, RDKafkaErrorCode::PolicyViolation))),
        "{created:?}"
    );

    let listed = topic_partitions(&weir);
    assert_eq!(listed.get("narrow"), Some(&10));
    assert!(!listed.contains_key("wide"), "{listed:?}");
    // The topic that fits works, up to its last partition.
    let producer = weir.producer(&[]);
    let sent = rt.block_on(
        producer.send(
            rdkafka::producer::FutureRecord::<(), str>::to("narrow")
                .partition(9)
                .payload("fits"),
            Duration::from_secs(15),
        ),
    );
    assert!(sent.is_ok(), "{sent:?}");

    // It starts again under the same limit, with the same topics.
    weir.stop();
    weir.restart();
    still_serving(&weir);
    let listed = topic_partitions(&weir);
    assert_eq!(listed.get("narrow"), Some(&10));
    assert!(!listed.contains_key("wide"), "{listed:?}");
}

/// A soft open-file limit below the hard one is raised to it at start, as the JVM raises
/// Kafka's: 200 partitions (600 files) fit although the broker was started with a soft limit
/// of 256.
#[test]
fn the_soft_open_file_limit_is_raised_to_the_hard_limit() {
    let weir = Weir::start_with_open_files(256, 4096, &[]);
    let limits = std::fs::read_to_string(format!("/proc/{}/limits", weir.pid())).expect("limits");
    let open_files = limits
        .lines()
        .find(|l| l.starts_with("Max open files"))
        .expect("open files line");
    assert_eq!(
        open_files.split_whitespace().collect::<Vec<_>>()[3..5],
        ["4096", "4096"],
        "{open_files}"
    );
    weir.create_topic("wide", 200);
    assert_eq!(topic_partitions(&weir).get("wide"), Some(&200));
}

/// A connection that sends nothing for `connections.max.idle.ms` is closed, as Kafka closes it;
/// one that keeps sending requests, waits on a long-polling fetch, or sends a request slowly
/// stays open.
#[test]
fn connections_idle_past_connections_max_idle_ms_are_closed() {
    use kafka_protocol::messages::fetch_request::{FetchPartition, FetchTopic};
    use kafka_protocol::messages::{FetchRequest, FetchResponse};

    let weir = Weir::start(&["--connections-max-idle-ms", "1000"]);
    weir.create_topic("quiet", 1);
    let mut silent = connect(&weir);
    let mut busy = connect(&weir);
    let api_versions = request(
        ApiKey::ApiVersions,
        3,
        &kafka_protocol::messages::ApiVersionsRequest::default()
            .with_client_software_name(StrBytes::from_static_str("t"))
            .with_client_software_version(StrBytes::from_static_str("1")),
    );
    let started = std::time::Instant::now();
    while started.elapsed() < Duration::from_millis(2500) {
        busy.write_all(&api_versions).expect("write");
        let mut r = read_response(&mut busy).expect("a connection in use stays open");
        ResponseHeader::decode(&mut r, 0).expect("header");
        std::thread::sleep(Duration::from_millis(300));
    }
    assert!(closed(&mut silent), "the silent connection was closed");

    // A fetch that long-polls past the idle time is answered on the same connection.
    let fetch = FetchRequest::default()
        .with_replica_id(kafka_protocol::messages::BrokerId(-1))
        .with_max_wait_ms(1500)
        .with_min_bytes(1)
        .with_max_bytes(1 << 20)
        .with_session_epoch(-1)
        .with_topics(vec![
            FetchTopic::default()
                .with_topic(TopicName(StrBytes::from_static_str("quiet")))
                .with_partitions(vec![
                    FetchPartition::default()
                        .with_partition(0)
                        .with_fetch_offset(0)
                        .with_partition_max_bytes(1 << 20),
                ]),
        ]);
    busy.write_all(&request(ApiKey::Fetch, 12, &fetch))
        .expect("write");
    let asked = std::time::Instant::now();
    let mut r = read_response(&mut busy).expect("the long poll answered");
    assert!(asked.elapsed() >= Duration::from_millis(1000), "it waited");
    ResponseHeader::decode(&mut r, 1).expect("header");
    let resp = FetchResponse::decode(&mut r, 12).expect("body");
    assert_eq!(resp.error_code, 0);
    assert_eq!(resp.responses[0].partitions[0].error_code, 0);
    busy.write_all(&api_versions).expect("write");
    assert!(
        read_response(&mut busy).is_some(),
        "still open after the fetch"
    );

    // A request that has begun to arrive is read whole, however slowly.
    busy.write_all(&api_versions[..2]).expect("write");
    std::thread::sleep(Duration::from_millis(1500));
    busy.write_all(&api_versions[2..]).expect("write");
    assert!(
        read_response(&mut busy).is_some(),
        "a slow request is answered"
    );
    still_serving(&weir);
}
