"""The invoke path: concurrency leases, environment selection, timeouts, results and logs."""
