"""Embedded AWS-compatible services (domain logic, no HTTP)."""
