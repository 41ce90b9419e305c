"""API Gateway's errors, as both of its APIs (apigateway, apigatewayv2) answer them.

    ApiError
     └── ApiGatewayError            the botocore models' error shapes: `{"message": ...}` and x-amzn-ErrorType
          ├── BadRequestException   400: malformed or contradictory input
          ├── NotFoundException     404: no such API, route, stage, ... in the caller's account and region
          └── ConflictException     409: a name or key already taken
"""

from __future__ import annotations

from lambdad.errors import ApiError


class ApiGatewayError(ApiError):
    message_key = "message"


class BadRequestException(ApiGatewayError):
    code = "BadRequestException"


class NotFoundException(ApiGatewayError):
    status = 404
    code = "NotFoundException"


class ConflictException(ApiGatewayError):
    status = 409
    code = "ConflictException"
