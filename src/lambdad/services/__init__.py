"""Embedded AWS-compatible services, one package each: `services/<name>/` holds the domain (no
HTTP), `wire.py` (its protocol codec over botocore's model) and `authz.py` (its authorization target
mapping). The recipe for a new one: docs/ADDING_A_SERVICE.md."""
