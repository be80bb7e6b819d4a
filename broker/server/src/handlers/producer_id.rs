use weir_protocol::kafka::ResponseError;
use weir_protocol::kafka::messages::{InitProducerIdRequest, InitProducerIdResponse, ProducerId};

use crate::broker::Broker;

/// InitProducerId for idempotent producers: a fresh producer id at epoch 0. The log then checks
/// each partition's sequence numbers (see weir-storage's producer_state.rs).
///
/// Transactional producers look up their coordinator with FindCoordinator first, which Weir
/// does not serve until transactions land, so a transactional id here is refused.
pub(crate) fn init_producer_id(
    broker: &Broker,
    req: InitProducerIdRequest,
) -> InitProducerIdResponse {
    let resp = InitProducerIdResponse::default()
        .with_producer_id(ProducerId(-1))
        .with_producer_epoch(-1);
    if req.transactional_id.is_some() {
        return resp.with_error_code(ResponseError::InvalidRequest.code());
    }
    match broker.allocate_producer_id() {
        Ok(id) => resp.with_producer_id(ProducerId(id)).with_producer_epoch(0),
        Err(e) => {
            tracing::error!(error = %e, "allocating a producer id failed");
            resp.with_error_code(e.kafka_code())
        }
    }
}
