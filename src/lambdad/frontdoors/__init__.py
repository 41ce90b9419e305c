"""HTTP front doors that turn plain HTTP requests into invocations: function URLs, ALB listeners."""
