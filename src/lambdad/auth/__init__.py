"""Authentication and authorization: who is calling, and may they. Nothing here knows a service; each
service maps its operations to IAM actions and resources in its own `authz` module.

principal    who signed a request
authn        the one SigV4 authentication of the server (API port and AWS_IAM function URLs)
sigv4        verifies AWS Signature Version 4 on incoming requests
credentials  the access keys the server accepts and who each one is (root, IAM users, sessions)
keyring      the master key sealing secrets at rest (IAM secret keys, environment variables)
policy       evaluates IAM policy documents against a request context
authorizer   judges one call: principal's identity policies + the resource's policy -> allow / AccessDenied
access       rules beyond one call: may a service invoke a function, may a caller see its variables
"""
