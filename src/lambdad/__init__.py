"""lambdad: self-hosted serverless compute that speaks the AWS Lambda APIs.

Layout (the layers are checked by `lint-imports`: see pyproject.toml and docs/DESIGN.md):
    cli.py, config.py, errors.py   commands; the settings registry; the error tree (root: LambdadError)
    server.py                      composition root: wiring only; Lambdad is an async context manager
    supervisor.py                  owns every background loop (crashes logged, counted, restarted)
    workers.py                     the server's threads for blocking work
    safejson.py, wildcards.py      JSON from clients with a nesting cap; linear-time wildcard matching
    api/                           wire protocols from botocore's models (rest-json, json, query), the
                                   Router and its own endpoints, the Lambda API and its authorization
    auth/                          who is calling and may they: SigV4, credentials, keyring, policy
                                   evaluation, the authorizer; knows no service
    control/                       functions, versions, aliases, names, validation, code packages
    frontdoors/                    plain HTTP in, invocations out: function URLs, ALB listeners
    invoke/                        the invoke path: concurrency, routing, results and logs, async queue,
                                   destinations, triggers, SnapStart
    runtime/                       zygotes, environments, pools, sandbox, SnapStart templates; guest/ runs
                                   inside functions
    services/                      embedded services, one package each (domain, wire, authz): sqs, sns,
                                   iam (+ sts), logs, elbv2 (docs/ADDING_A_SERVICE.md)
    store/                         the SQLite store, content-addressed blobs, the data dir
"""

__version__ = "0.1.0"
