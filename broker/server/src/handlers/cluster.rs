use weir_protocol::kafka::ResponseError;
use weir_protocol::kafka::messages::describe_cluster_response::DescribeClusterBroker;
use weir_protocol::kafka::messages::{BrokerId, DescribeClusterRequest, DescribeClusterResponse};

use super::str_bytes;
use crate::broker::Broker;

const ENDPOINT_BROKERS: i8 = 1;

pub(crate) fn describe_cluster(
    broker: &Broker,
    req: DescribeClusterRequest,
) -> DescribeClusterResponse {
    let resp = DescribeClusterResponse::default()
        .with_endpoint_type(ENDPOINT_BROKERS)
        .with_cluster_id(str_bytes(broker.metadata.cluster_id()))
        .with_controller_id(BrokerId(broker.config.node_id))
        .with_cluster_authorized_operations(if req.include_cluster_authorized_operations {
            super::metadata::CLUSTER_OPERATIONS
        } else {
            i32::MIN
        });
    if req.endpoint_type != ENDPOINT_BROKERS {
        return resp
            .with_error_code(ResponseError::UnsupportedEndpointType.code())
            .with_error_message(Some(str_bytes("only broker endpoints are served")));
    }
    let brokers = broker.metadata.read(|s| {
        s.active_brokers()
            .map(|b| {
                DescribeClusterBroker::default()
                    .with_broker_id(BrokerId(b.node_id))
                    .with_host(str_bytes(b.host.clone()))
                    .with_port(b.port)
                    .with_rack(b.rack.clone().map(str_bytes))
            })
            .collect()
    });
    resp.with_brokers(brokers)
}
