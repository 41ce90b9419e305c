"""Authentication and authorization.

sigv4   verifies AWS Signature Version 4 on incoming requests (who is calling)
policy  evaluates IAM policy documents against a request context (may they)
"""
