use weir_protocol::kafka::messages::{InitProducerIdRequest, InitProducerIdResponse, ProducerId};

use std::sync::Arc;

use crate::broker::Broker;

/// InitProducerId for idempotent producers: a fresh producer id at epoch 0. The log then checks
/// each partition's sequence numbers (see weir-storage's producer_state.rs).
///
/// With a transactional id the transaction coordinator answers (see `txn/mod.rs`).
pub(crate) async fn init_producer_id(
    broker: &Arc<Broker>,
    req: InitProducerIdRequest,
) -> InitProducerIdResponse {
    let resp = InitProducerIdResponse::default()
        .with_producer_id(ProducerId(-1))
        .with_producer_epoch(-1);
    if let Some(id) = &req.transactional_id {
        return match broker
            .txns
            .init_producer(broker, id.as_str(), req.transaction_timeout_ms)
            .await
        {
            Ok((pid, epoch)) => resp
                .with_producer_id(ProducerId(pid))
                .with_producer_epoch(epoch),
            Err(code) => resp.with_error_code(code),
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
