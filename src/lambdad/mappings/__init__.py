"""Event source mappings: Lambda's own pollers, which read a queue or a stream, batch its records,
invoke a function synchronously and delete (queues) or checkpoint (streams) what succeeded.

    records.py      EventSourceMapping: one mapping's settings and state, as stored and as AWS shows it
    validation.py   Create/UpdateEventSourceMapping parameters checked per kind of source, in AWS's words
    registry.py     Mappings: the table, the in-memory index, state transitions, tags
    filters.py      FilterCriteria: the event-pattern language on each record (body parsed as JSON)
    source.py       what a source provides: QueueSource (SQS) and StreamSource (shards, iterators,
                    checkpoints) Protocols, the engine's only view of a source
    engine.py       MappingEngine: claims mappings by lease, runs pollers per mapping that scale with the
                    backlog, batches, filters, invokes, deletes or checkpoints; statistics
    streams.py      the stream poller: one reader per shard, checkpoints, retries, bisect, max age
    sources/sqs.py  the SQS source, in process over services/sqs/queues.py

No HTTP here: the Lambda API (api/lambda_mappings_api.py) calls the registry; server.py wires the
engine under the supervisor.
"""
