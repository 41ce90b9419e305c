"""Every error lambdad raises on purpose, and how the API errors become AWS-shaped responses.

    LambdadError                      the root: everything lambdad raises on purpose
    ├── ApiError (below)              answered to a client: status, code, message; rendered per protocol
    ├── ServiceWithoutAuthorization   api/app.py: a service registered without authorization (start fails)
    ├── HeadersTooLarge               api/http_protocol.py: request line + headers above max_header_bytes (400)
    ├── ClientDisconnected            api/http_protocol.py: the client left (or timed out) mid-body
    ├── BodyTooLarge                  api/http_protocol.py: a body above the port's limit (413, connection closed)
    ├── SpoolFull                     api/http_protocol.py: the on-disk body spool is full (503)
    ├── TypeMismatch                  api/shapes.py: a JSON value of the wrong type for its shape
    ├── SigV4Error                    auth/sigv4.py: authentication failed; becomes AuthError at the edge
    ├── PolicyError                   auth/policy.py: a policy document IAM would refuse (MalformedPolicyDocument)
    ├── KeyringError                  auth/keyring.py: master key missing/malformed, or a secret does not open
    ├── CodeZipError                  control/codezip.py: an unacceptable deployment package
    ├── DestinationError              invoke/destinations.py: a destination could not take the record
    ├── _InitFailure                  invoke/invoker.py: an environment's init failed (with its logs)
    ├── LaunchError                   runtime/launcher.py: no environment could be made
    ├── ZygoteError                   runtime/zygote.py: the zygote did not start or could not fork
    ├── InitFailed                    runtime/environment.py: an environment did not finish init
    ├── TemplateFailed                runtime/template.py: a SnapStart template's init failed
    ├── RestoreFailed                 runtime/template.py: a SnapStart fork did not restore
    ├── InvalidEventPattern           event_patterns.py: an invalid event pattern (`.reason`: AWS's text)
    ├── TargetFailed                  services/events/delivery.py: an EventBridge target did not take an event
    ├── FilterPolicyError (+ValueError)  services/sns/filter_policy.py: an invalid SNS filter policy
    ├── BadProxyResponse (+ValueError)   frontdoors/proxy.py: a function's answer is no HTTP response (502)
    └── JsonTooDeep (+ValueError)        safejson.py: JSON nested deeper than the cap

    ApiError
    ├── LambdaError                   Lambda rest-json errors: body {"Type": "User", "message"|"Message": ...}
    │   ├── InvalidParameterValueException   (400) a parameter has a bad value
    │   ├── InvalidRequestContentException   (400) the body is not valid JSON / wrong shape
    │   ├── ResourceNotFoundException        (404) function, version, alias, layer... does not exist
    │   ├── ResourceConflictException        (409) already exists / in a state that forbids this
    │   ├── ResourceInUseException           (400) an event source mapping is busy changing state
    │   ├── PreconditionFailedException      (412) RevisionId or CodeSha256 guard mismatch
    │   ├── RequestTooLargeException         (413) payload above the sync/async limit
    │   ├── TooManyRequestsException         (429) throttled by a concurrency limit
    │   ├── UnsupportedMediaTypeException    (415)
    │   ├── SnapStartException               (400) an after-restore hook failed (invoke/snapstart.py)
    │   ├── SnapStartTimeoutException        (408) restoring took longer than 10 seconds
    │   └── ServiceException                 (500) a bug or a failed environment on our side
    ├── ValidationException           (400) the botocore model's constraint failed
    ├── AccessDeniedException         (403) authenticated but not authorized
    ├── AuthError                     (403) SigV4 failures (code carried per instance)
    ├── UnknownOperationException     (404) no route for this request
    ├── SqsError                      SQS errors; `code` is the query-protocol code
    │                                 (AWS.SimpleQueueService.NonExistentQueue), `json_type` the JSON
    │                                 protocol's (QueueDoesNotExist); raised by services/sqs/queues.py
    ├── SnsError                      SNS errors (InvalidParameter, NotFound, ...); services/sns/topics.py
    ├── EventsError                   EventBridge and EventBridge Scheduler errors (JSON protocol: ValidationException,
    │                                 ResourceNotFoundException, InvalidEventPatternException, ...); services/events/
    ├── S3Error                       S3 errors (NoSuchBucket 404, NoSuchKey 404, BucketAlreadyExists 409,
    │                                 InvalidArgument 400, AccessDenied 403, ...); `extra` becomes child
    │                                 elements of S3's <Error> (BucketName, Key, ...); services/s3/
    ├── LogsError                     CloudWatch Logs errors (InvalidParameterException, ResourceNotFoundException,
    │                                 ...); services/logs/ (InvalidFilterPattern: a pattern that does not parse)
    ├── IamError                      IAM and STS errors (NoSuchEntity 404, EntityAlreadyExists 409,
    │                                 MalformedPolicyDocument 400, DeleteConflict 409, LimitExceeded 409,
    │                                 ValidationError 400, AccessDenied 403); services/iam/
    └── KmsError                      KMS errors (NotFoundException, DisabledException,
                                      KMSInvalidStateException, InvalidCiphertextException,
                                      AccessDeniedException...; all 400 as KMS answers); services/kms/
    LambdaError also has LambdaKmsError: Lambda's KMSDisabledException, KMSAccessDeniedException,
    KMSNotFoundException, KMSInvalidStateException (502), a function whose KMS key cannot decrypt.

Two families stay outside the root on purpose:
- `lambdad.store` imports nothing of ours (the layer contract), so `StoreError` (store/errors.py: the
  database failed) and `DataDirError` (store/datadir.py: the data dir is unusable) derive from
  Exception; the API edge answers StoreError as a ServiceException (500).
- The guest (runtime/guest/) runs inside function interpreters and cannot import lambdad; its errors
  travel as frames and become InitFailed or a function error here.

Foreign errors (sqlite3, OSError, botocore, json) are translated where they enter, `raise X from exc`.
"""

from __future__ import annotations


class LambdadError(Exception):
    """The root of lambdad's own errors (API errors, configuration and start-up errors, store errors)."""


class ApiError(LambdadError):
    status: int = 400
    code: str = "ValidationException"
    #: Name of the message member in the JSON body, per the botocore model of the error.
    message_key: str = "message"
    sender_fault: bool = True

    def __init__(self, message: str = "", *, code: str | None = None, status: int | None = None,
                 **extra: object) -> None:
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code
        if status is not None:
            self.status = status
        self.extra = extra

    def body(self) -> dict[str, object]:
        out: dict[str, object] = {"Type": "User" if self.sender_fault else "Service",
                                  self.message_key: self.message}
        out.update(self.extra)
        return out


class LambdaError(ApiError):
    pass


class InvalidParameterValueException(LambdaError):
    code = "InvalidParameterValueException"


class InvalidRequestContentException(LambdaError):
    code = "InvalidRequestContentException"


class ResourceNotFoundException(LambdaError):
    status = 404
    code = "ResourceNotFoundException"
    message_key = "Message"


class ResourceConflictException(LambdaError):
    status = 409
    code = "ResourceConflictException"


class ResourceInUseException(LambdaError):
    code = "ResourceInUseException"
    message_key = "Message"


class PreconditionFailedException(LambdaError):
    status = 412
    code = "PreconditionFailedException"


class RequestTooLargeException(LambdaError):
    status = 413
    code = "RequestTooLargeException"


class TooManyRequestsException(LambdaError):
    status = 429
    code = "TooManyRequestsException"


class UnsupportedMediaTypeException(LambdaError):
    status = 415
    code = "UnsupportedMediaTypeException"


class SnapStartException(LambdaError):
    code = "SnapStartException"
    message_key = "Message"


class SnapStartTimeoutException(LambdaError):
    status = 408
    code = "SnapStartTimeoutException"
    message_key = "Message"


class ServiceException(LambdaError):
    status = 500
    code = "ServiceException"
    message_key = "Message"
    sender_fault = False


class ValidationException(ApiError):
    code = "ValidationException"


class AccessDeniedException(ApiError):
    status = 403
    code = "AccessDeniedException"
    message_key = "Message"


class AuthError(ApiError):
    """A SigV4 failure; the code (InvalidSignatureException, ...) is set per instance."""

    status = 403
    message_key = "message"


class UnknownOperationException(ApiError):
    status = 404
    code = "UnknownOperationException"


class SqsError(ApiError):
    """An SQS error. SQS speaks two protocols: the query protocol answers `code`
    (e.g. ``AWS.SimpleQueueService.NonExistentQueue``), the JSON protocol answers `json_type`
    (``QueueDoesNotExist``) plus an ``x-amzn-query-error: <code>;Sender`` header that botocore
    turns back into `code`."""

    code = "InvalidParameterValue"
    json_type = "InvalidParameterValueException"

    def __init__(self, message: str = "", *, code: str | None = None, json_type: str | None = None,
                 status: int | None = None) -> None:
        super().__init__(message, code=code, status=status)
        if json_type is not None:
            self.json_type = json_type
        elif code is not None:
            self.json_type = code


class KmsError(ApiError):
    """A KMS error (JSON protocol): the code is set per instance; KMS answers them all with 400."""

    code = "ValidationException"


class LambdaKmsError(LambdaError):
    """Lambda could not use a function's KMS key (502; the code, e.g. KMSDisabledException, per instance)."""

    status = 502
    code = "KMSAccessDeniedException"
    message_key = "Message"


class SnsError(ApiError):
    """An SNS error (query protocol): `code` such as InvalidParameter (400) or NotFound (404)."""

    code = "InvalidParameter"


class EventsError(ApiError):
    """An EventBridge (or EventBridge Scheduler) error: AWS's code; EventBridge answers every error 400
    (the Scheduler's rest-json errors pass their own status: 404, 409)."""

    code = "ValidationException"


class S3Error(ApiError):
    """An S3 error (rest-xml): AWS's code, message and status, and the extra elements S3 adds to its
    <Error> document (BucketName, Key, Condition, ...), given as keyword arguments."""

    code = "InvalidArgument"


class IamError(ApiError):
    """An IAM or STS error (query protocol): the code and status are set per instance."""

    code = "ValidationError"


class LogsError(ApiError):
    """A CloudWatch Logs error (JSON protocol): `code` such as InvalidParameterException (400) or
    ResourceNotFoundException (400, as Logs answers it)."""

    code = "InvalidParameterException"


class DynamoDbError(ApiError):
    """A DynamoDB (or DynamoDB Streams) error (JSON protocol 1.0): AWS's code, e.g. ValidationException,
    ConditionalCheckFailedException, ResourceNotFoundException; 400 unless set per instance. Extra
    members (``Item`` on a failed condition, ``CancellationReasons``) are keyword arguments."""

    code = "ValidationException"


class Ec2Error(ApiError):
    """An EC2 error (ec2 protocol: <Response><Errors><Error>): AWS's code such as
    ``InvalidVpcID.NotFound`` or ``InvalidParameterValue``; 400 unless set per instance."""

    code = "InvalidParameterValue"


class CloudWatchError(ApiError):
    """A CloudWatch (metrics and alarms) error: AWS's code such as InvalidParameterValue,
    MissingParameter or ResourceNotFound; 400 unless set per instance."""

    code = "InvalidParameterValue"
