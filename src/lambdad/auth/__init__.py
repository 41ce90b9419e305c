"""Authentication and authorization.

sigv4        verifies AWS Signature Version 4 on incoming requests (who is calling)
credentials  the access keys the server accepts and who each one is (root, IAM users, sessions)
keyring      the master key sealing secrets at rest (IAM secret keys, environment variables)
policy       evaluates IAM policy documents against a request context (may they)
authorizer   judges one call: principal's identity policies + the resource's policy -> allow / AccessDenied
hooks        per service: operation -> IAM action, resource ARN, resource policy
"""
