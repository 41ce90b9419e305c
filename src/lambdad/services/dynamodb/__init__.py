"""Embedded DynamoDB: tables, items, expressions, indexes, TTL (issue 17). Importing the domain does
not import the wire."""
