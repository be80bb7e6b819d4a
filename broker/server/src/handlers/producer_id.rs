use weir_protocol::kafka::ResponseError;
use weir_protocol::kafka::messages::{InitProducerIdRequest, InitProducerIdResponse, ProducerId};

use std::sync::Arc;

use crate::broker::Broker;
use crate::txn::fenced_code;

/// InitProducerId for idempotent producers: a fresh producer id at epoch 0. The log then checks
/// each partition's sequence numbers (see weir-storage's producer_state.rs).
///
/// With a transactional id the transaction coordinator answers (see `txn/mod.rs`). From v3 a
/// producer recovering from an error names its producer id and epoch; both or neither must be
/// set, as Kafka checks.
pub(crate) async fn init_producer_id(
    broker: &Arc<Broker>,
    req: InitProducerIdRequest,
    version: i16,
) -> InitProducerIdResponse {
    let resp = InitProducerIdResponse::default()
        .with_producer_id(ProducerId(-1))
        .with_producer_epoch(-1);
    let expected = match (req.producer_id.0, req.producer_epoch) {
        (-1, -1) => None,
        (-1, _) | (_, -1) => {
            return resp.with_error_code(ResponseError::InvalidRequest.code());
        }
        (pid, epoch) => Some((pid, epoch)),
    };
    if let Some(id) = &req.transactional_id {
        return match broker
            .txns
            .init_producer(broker, id.as_str(), req.transaction_timeout_ms, expected)
            .await
        {
            Ok((pid, epoch)) => resp
                .with_producer_id(ProducerId(pid))
                .with_producer_epoch(epoch),
            // PRODUCER_FENCED came with InitProducerId v4.
            Err(code) => resp.with_error_code(fenced_code(code, version, 4)),
        };
    }
    match broker.allocate_producer_id() {
        Ok(id) => resp.with_producer_id(ProducerId(id)).with_producer_epoch(0),
        Err(e) => {
            tracing::error!(error = %e, "allocating a producer id failed");
            resp.with_error_code(e.kafka_code())
        }
    }
}
