//! DescribeAcls, CreateAcls and DeleteAcls. Weir has no authorizer, so it answers them as a
//! Kafka broker without `authorizer.class.name` does: SECURITY_DISABLED with Kafka's message,
//! which `kafka-acls` and `Admin.describeAcls` report as "Security features are disabled"
//! rather than as an API the broker does not know.

use weir_protocol::kafka::ResponseError;
use weir_protocol::kafka::messages::create_acls_response::AclCreationResult;
use weir_protocol::kafka::messages::delete_acls_response::DeleteAclsFilterResult;
use weir_protocol::kafka::messages::{
    CreateAclsRequest, CreateAclsResponse, DeleteAclsRequest, DeleteAclsResponse,
    DescribeAclsResponse,
};

use super::str_bytes;

const NO_AUTHORIZER: &str = "No Authorizer is configured on the broker";

fn code() -> i16 {
    ResponseError::SecurityDisabled.code()
}

pub(crate) fn describe() -> DescribeAclsResponse {
    DescribeAclsResponse::default()
        .with_error_code(code())
        .with_error_message(Some(str_bytes(NO_AUTHORIZER)))
}

pub(crate) fn create(req: CreateAclsRequest) -> CreateAclsResponse {
    let results = req
        .creations
        .iter()
        .map(|_| {
            AclCreationResult::default()
                .with_error_code(code())
                .with_error_message(Some(str_bytes(NO_AUTHORIZER)))
        })
        .collect();
    CreateAclsResponse::default().with_results(results)
}

pub(crate) fn delete(req: DeleteAclsRequest) -> DeleteAclsResponse {
    let results = req
        .filters
        .iter()
        .map(|_| {
            DeleteAclsFilterResult::default()
                .with_error_code(code())
                .with_error_message(Some(str_bytes(NO_AUTHORIZER)))
        })
        .collect();
    DeleteAclsResponse::default().with_filter_results(results)
}
