"""lambdad: self-hosted serverless compute that speaks the AWS Lambda APIs.

Layout:
    cli.py, config.py, errors.py   commands; the settings registry; the error tree
    safejson.py                    JSON from clients, with a nesting cap
    server.py                      composition root: builds components, owns background tasks
    api/                           wire protocols from botocore's models (rest-json, json, query), SigV4;
                                   shapes.py validates input against the models before any handler runs
    auth/                          SigV4, credentials, master key, IAM policy evaluation, authorization hooks
    control/                       functions, versions, names, validation, code packages
    frontdoors/                    plain HTTP in, invocations out: function URLs, ALB listeners
    invoke/                        the invoke path: concurrency, routing, results and logs, SnapStart
    runtime/                       zygotes, environments, pools, sandbox, SnapStart templates; guest/ runs
                                   inside functions
    services/                      embedded services: function logs, SQS, SNS (+ filter policies), IAM, STS,
                                   audit, ELBv2
    store/                         SQLite store and content-addressed blobs
"""

__version__ = "0.1.0"
