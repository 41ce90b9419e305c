"""Execution environments: zygote fork-servers, the sandbox, pools, and the guest runtimes."""
