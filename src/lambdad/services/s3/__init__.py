"""Embedded S3.

    buckets.py        the bucket registry (global names, owner account, region, configurations)
    objects.py        object metadata rows: versions, listing, multipart uploads
    storage.py        object bytes in immutable files, written to a temp file, fsynced, renamed
    checksums.py      CRC32, CRC32C, CRC64NVME, SHA1, SHA256 as S3 shows them
    service.py        S3Service: the domain the wire and other services use
    notifications.py  event notifications to Lambda, SQS and SNS
    wire.py           the rest-xml wire (api/restxml.py) and S3's error document
    authz.py          S3 actions and ARNs, identity and bucket policies
"""
