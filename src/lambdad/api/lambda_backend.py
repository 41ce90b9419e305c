"""What the Lambda API's operations work with: the domain components, passed in explicitly."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from lambdad.api.code_links import CodeLinks
from lambdad.auth.authorizer import Authorizer
from lambdad.control.aliases import Aliases
from lambdad.control.code_staging import CodeStaging
from lambdad.control.function_urls import FunctionUrls
from lambdad.control.functions import FunctionRegistry
from lambdad.control.layers import Layers
from lambdad.control.permissions import Permissions
from lambdad.control.resolver import Resolver
from lambdad.control.tags import Tagging
from lambdad.control.versions import Versions
from lambdad.invoke.async_queue import AsyncQueue
from lambdad.invoke.concurrency import ConcurrencyLimiter
from lambdad.invoke.delivery_access import DeliveryAccess
from lambdad.invoke.invoker import Invoker
from lambdad.invoke.provisioned import ProvisionedConcurrency
from lambdad.invoke.reservations import Reservations
from lambdad.mappings.engine import MappingEngine
from lambdad.mappings.registry import Mappings


@dataclass(frozen=True, slots=True)
class LambdaLimits:
    region: str
    max_zip_bytes: int
    max_unzipped_bytes: int


@dataclass(frozen=True, slots=True)
class LambdaBackend:
    limits: LambdaLimits
    registry: FunctionRegistry
    resolver: Resolver
    versions: Versions
    aliases: Aliases
    layers: Layers
    tagging: Tagging
    permissions: Permissions
    function_urls: FunctionUrls
    provisioned: ProvisionedConcurrency
    reservations: Reservations
    limiter: ConcurrencyLimiter
    invoker: Invoker
    async_queue: AsyncQueue
    authorizer: Authorizer  # what a caller may see (environment variables)
    code_links: CodeLinks  # expiring download links of stored zips
    code_staging: CodeStaging  # uploads unpacked off the event loop
    delivery_access: DeliveryAccess  # may the execution role send to a destination
    mappings: Mappings | None = None  # event source mappings (api/lambda_mappings_api.py)
    mapping_engine: MappingEngine | None = None  # their pollers: what a mapping last did
    # A VpcConfig checked against EC2 (account, region, function, role, config; services/ec2/lambda_vpc.py)
    vpc_check: Callable[[str, str, str, str | None, dict[str, Any]], dict[str, Any]] | None = None
