"""Per-environment isolation, applied by the zygote around each fork.

Hooks, in the order the zygote calls them:
  prepare_zygote(config)  once per zygote: expensive shared set-up
  before_fork(spec)       in the zygote: per-environment resources (cgroup, /tmp)
  enter(spec)             in the child after fork, before the handler import
  after_fork(spec, pid)   in the zygote once the child exists
  kill(env_id, pid)       in the zygote: stop the environment's whole process tree
  on_exit(env_id)         in the zygote after the child was reaped: release its resources

This version gives process-group separation only; namespaces, cgroups, a private /tmp and an
unprivileged uid arrive with the isolation work.
"""

import os
import signal

_config = {}


def prepare_zygote(config):
    _config.update(config)


def before_fork(spec):
    pass


def enter(spec):
    tmp = spec.get("tmp_dir")
    if tmp:
        os.makedirs(tmp, exist_ok=True)
        os.environ["TMPDIR"] = tmp


def after_fork(spec, pid):
    pass


def kill(env_id, pid):
    try:
        os.killpg(pid, signal.SIGKILL)
    except OSError:
        pass


def on_exit(env_id):
    pass
