"""The operation table of the SageMaker control plane, and the one call every request goes through."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from modelport.errors import InvalidArgument
from modelport.sagemaker import configs, endpoints, models, transforms
from modelport.sagemaker.context import Caller, Context
from modelport.sagemaker.records import RecordStore
from modelport.sagemaker.shapes import Members

if TYPE_CHECKING:
    from modelport.services import Services

Handler = Callable[[Context, Members], dict[str, Any]]

UNKNOWN_OPERATION = "UnknownOperationException"


@dataclass(frozen=True, slots=True)
class Operation:
    handler: Handler
    permission: str
    """``read`` (Describe*, List*) or ``admin`` (everything that changes something)."""


def _ops(**handlers: Handler) -> dict[str, Operation]:
    return {
        name: Operation(handler, "read" if name.startswith(("Describe", "List")) else "admin")
        for name, handler in handlers.items()
    }


OPERATIONS: dict[str, Operation] = _ops(
    CreateModel=models.create_model,
    DescribeModel=models.describe_model,
    ListModels=models.list_models,
    DeleteModel=models.delete_model,
    CreateEndpointConfig=configs.create_endpoint_config,
    DescribeEndpointConfig=configs.describe_endpoint_config,
    ListEndpointConfigs=configs.list_endpoint_configs,
    DeleteEndpointConfig=configs.delete_endpoint_config,
    CreateEndpoint=endpoints.create_endpoint,
    DescribeEndpoint=endpoints.describe_endpoint,
    UpdateEndpoint=endpoints.update_endpoint,
    UpdateEndpointWeightsAndCapacities=endpoints.update_weights,
    ListEndpoints=endpoints.list_endpoints,
    DeleteEndpoint=endpoints.delete_endpoint,
    CreateTransformJob=transforms.create_transform_job,
    DescribeTransformJob=transforms.describe_transform_job,
    ListTransformJobs=transforms.list_transform_jobs,
    StopTransformJob=transforms.stop_transform_job,
)


def operation(target: str | None) -> tuple[str, Operation]:
    """``SageMaker.CreateEndpoint`` → its name and entry; UnknownOperationException for anything else."""
    service, _, name = (target or "").partition(".")
    found = OPERATIONS.get(name) if service == "SageMaker" else None
    if found is None:
        shown = target if target else "(no X-Amz-Target header)"
        raise InvalidArgument(
            f"Unknown operation {shown}: this server speaks SageMaker.{{{', '.join(sorted(OPERATIONS))}}}",
            details={"aws_error": UNKNOWN_OPERATION},
        )
    return name, found


class ControlPlane:
    """Runs SageMaker operations on modelport's services (blocking: call it from a worker thread)."""

    def __init__(self, services: Services) -> None:
        self.services = services
        self.records = RecordStore(services.db)

    def call(self, name: str, body: Any, caller: Caller) -> dict[str, Any]:
        op = OPERATIONS[name]
        return op.handler(Context(self.services, self.records, caller), Members(body))
