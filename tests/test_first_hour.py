"""A new user's first start: the start log, the `lambdad` AWS profile (data dir and ~/.aws), `lambdad doctor`'s
host-name check, and lambdad's own commands finding the server from any directory."""

from __future__ import annotations

import json
import os
import socket
import stat
import subprocess
import sys
import time
from pathlib import Path

from lambdad import aws_profile, cli, config
from tests.conftest import Server, free_port, server_env

AWS = str(Path(sys.executable).parent / "aws")


def user_env(home: Path, **extra: str) -> dict[str, str]:
    """A shell with nothing AWS-related exported, in a home of its own."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "LAMBDAD_"))}
    env.update(HOME=str(home), PYTHONPATH=os.pathsep.join(sys.path), **extra)
    return env


def generated_keys_server(tmp_path: Path, home: Path, *args: str) -> Server:
    """A server that generates its root keys (the tests' usual servers are given theirs)."""
    env = {k: v for k, v in server_env().items() if not k.startswith("LAMBDAD_ROOT_")}
    env["HOME"] = str(home)
    # no sandbox: what is checked here does not depend on it, and it starts faster on a loaded host
    return Server(tmp_path / "data", free_port(), env, extra_args=["--sandbox", "false", *args])


def wait_for_banner(srv: Server) -> str:
    deadline = time.monotonic() + 30
    while "health:" not in srv.log_text():
        assert time.monotonic() < deadline, srv.log_text()
        time.sleep(0.05)
    return srv.log_text()


def test_first_start_writes_the_profile_and_says_how_to_call(tmp_path: Path) -> None:
    home, elsewhere = tmp_path / "home", tmp_path / "elsewhere"
    home.mkdir()
    elsewhere.mkdir()
    srv = generated_keys_server(tmp_path, home, "--demo", "true")
    srv.start()
    try:
        log = wait_for_banner(srv)
        assert f"lambdad 0.1.0 ready on {srv.endpoint} (data in {srv.data_dir})" in log
        assert "demo function: hello (created, " in log
        assert f"root keys:     {srv.data_dir}/credentials" in log
        assert f"added to {home}/.aws/config and {home}/.aws/credentials" in log
        assert f"health:        {srv.endpoint}/_lambdad/health" in log
        assert "WARNING" not in log and "Traceback" not in log, log
        assert "BuildBackendWarning" not in log
        try_line = next(line for line in log.splitlines() if line.startswith("  try:"))
        command = try_line.split("try:", 1)[1].strip().replace("out.json && cat out.json", "/dev/stdout")

        # the AWS CLI from another directory with nothing exported: the printed line as it is
        done = subprocess.run(["bash", "-c", command], cwd=elsewhere, env=user_env(home), capture_output=True,
                              text=True, timeout=60)
        assert done.returncode == 0, done.stderr
        assert '"Hello, you!"' in done.stdout
        listed = subprocess.run([AWS, "--profile", "lambdad", "lambda", "list-functions"], cwd=elsewhere,
                                env=user_env(home), capture_output=True, text=True, timeout=60)
        assert listed.returncode == 0, listed.stderr
        assert [f["FunctionName"] for f in json.loads(listed.stdout)["Functions"]] == ["hello"]
        # boto3.Session(profile_name="lambdad") in a user's script
        script = ("import boto3; lam = boto3.Session(profile_name='lambdad').client('lambda'); "
                  "print(lam.get_function(FunctionName='hello')['Configuration']['FunctionName'])")
        got = subprocess.run([sys.executable, "-c", script], cwd=elsewhere, env=user_env(home),
                             capture_output=True, text=True, timeout=60)
        assert got.stdout.strip() == "hello", got.stderr
        # lambdad's own commands: no ./.lambdad here, so the profile (its endpoint and keys)
        own = subprocess.run([sys.executable, "-m", "lambdad", "invoke", "hello", "--payload", '{"name": "me"}'],
                             cwd=elsewhere, env=user_env(home), capture_output=True, text=True, timeout=60)
        assert own.returncode == 0, own.stderr
        assert json.loads(own.stdout)["message"] == "Hello, me!"

        # with a data dir's keys (the repository's ./.lambdad), its aws-config names the endpoint
        by_dir = subprocess.run([sys.executable, "-m", "lambdad", "ls", "--data-dir", str(srv.data_dir)],
                                cwd=elsewhere, env=user_env(tmp_path / "nohome"), capture_output=True, text=True,
                                timeout=60)
        assert by_dir.returncode == 0 and "hello" in by_dir.stdout, by_dir.stderr

        # the files: private, the data dir's copy usable alone
        for path in (home / ".aws" / "credentials", srv.data_dir / "aws-config"):
            assert stat.S_IMODE(path.stat().st_mode) == 0o600, path
        alone = subprocess.run([AWS, "--profile", "lambdad", "lambda", "list-functions"], cwd=elsewhere,
                               env=user_env(tmp_path / "nohome", AWS_CONFIG_FILE=str(srv.data_dir / "aws-config")),
                               capture_output=True, text=True, timeout=60)
        assert alone.returncode == 0, alone.stderr
    finally:
        srv.stop()


def test_a_profile_of_the_users_own_is_left_alone(tmp_path: Path) -> None:
    home = tmp_path / "home"
    (home / ".aws").mkdir(parents=True)
    mine = "[profile lambdad]\nregion = ap-south-1\n"
    (home / ".aws" / "config").write_text(mine)
    srv = generated_keys_server(tmp_path, home)
    srv.start()
    try:
        log = wait_for_banner(srv)
        assert (home / ".aws" / "config").read_text() == mine
        assert not (home / ".aws" / "credentials").exists()
        assert "already has a [profile lambdad] of its own" in log
        # and the start log's line works anyway, through the data dir's copy
        try_line = next(line for line in log.splitlines() if line.startswith("  try:"))
        assert f"AWS_CONFIG_FILE={srv.data_dir}/aws-config" in try_line
        command = try_line.split("try:", 1)[1].strip().replace("out.json && cat out.json", "/dev/stdout")
        command = command.replace("--function-name hello", "--function-name nothing-here")
        done = subprocess.run(["bash", "-c", command], env=user_env(home), capture_output=True, text=True,
                              timeout=60)
        assert "ResourceNotFoundException" in done.stderr, done.stderr  # authenticated: the server answered
    finally:
        srv.stop()


def test_given_root_keys_are_never_copied(server: Server) -> None:
    """The tests' servers get their keys from LAMBDAD_ROOT_*: no profile carries them, ~/.aws is untouched."""
    written = (server.data_dir / "aws-config").read_text()
    assert f"endpoint_url = {server.endpoint}" in written
    assert "aws_secret_access_key" not in written


def test_profile_blocks_unit(tmp_path: Path) -> None:
    config, creds = tmp_path / "config", tmp_path / "credentials"
    config.write_text("[default]\nregion = x")  # no final newline
    config.chmod(0o644)
    env = {"AWS_CONFIG_FILE": str(config), "AWS_SHARED_CREDENTIALS_FILE": str(creds)}
    keys = aws_profile.Keys("AKIAEXAMPLE", "secret")
    first = aws_profile.write_profiles("lambdad", "http://127.0.0.1:1", "us-east-1", tmp_path, keys, env)
    assert (first.home, first.home_written) == ("added", True)
    assert config.read_text().startswith("[default]\nregion = x\n\n# >>> lambdad")
    assert stat.S_IMODE(config.stat().st_mode) == 0o644 and stat.S_IMODE(creds.stat().st_mode) == 0o600
    again = aws_profile.write_profiles("lambdad", "http://127.0.0.1:1", "us-east-1", tmp_path, keys, env)
    assert again.home == "unchanged"
    config.write_text(config.read_text() + "\n[profile work]\nregion = y\n")  # the user adds a profile after it
    moved = aws_profile.write_profiles("lambdad", "http://127.0.0.1:2", "us-east-1", tmp_path, keys, env)
    assert moved.home == "updated"  # a later start on another port: lambdad's block follows, the rest stays
    text = config.read_text()
    assert text.count("# >>> lambdad") == 1 and "endpoint_url = http://127.0.0.1:2\n" in text
    assert text.startswith("[default]\nregion = x\n\n# >>> lambdad") and text.endswith("[profile work]\nregion = y\n")
    creds.write_text(creds.read_text() + "[lambdad]\naws_access_key_id = mine\n")
    refused = aws_profile.write_profiles("lambdad", "http://127.0.0.1:3", "us-east-1", tmp_path, keys, env)
    assert not refused.home_written and "already has a [lambdad]" in refused.home
    assert "127.0.0.1:2" in config.read_text()
    dotfiles = tmp_path / "dotfiles"
    dotfiles.mkdir()
    (dotfiles / "config").write_text("[default]\n")
    linked = tmp_path / "linked-config"
    linked.symlink_to(dotfiles / "config")
    other = {"AWS_CONFIG_FILE": str(linked), "AWS_SHARED_CREDENTIALS_FILE": str(tmp_path / "other-credentials")}
    assert aws_profile.write_profiles("lambdad", "http://127.0.0.1:3", "us-east-1", tmp_path, keys, other).home_written
    assert linked.is_symlink() and "[profile lambdad]" in (dotfiles / "config").read_text()
    none = aws_profile.write_profiles("lambdad", "http://127.0.0.1:3", "us-east-1", tmp_path, None, env)
    assert not none.home_written and "aws_access_key_id" not in (tmp_path / "aws-config").read_text()


def test_doctor_says_whether_localhost_names_resolve(tmp_path: Path) -> None:
    done = subprocess.run([sys.executable, "-m", "lambdad", "doctor", "--data-dir", str(tmp_path)],
                          capture_output=True, text=True, timeout=60, env=user_env(tmp_path))
    assert done.returncode == 0, done.stderr
    line = next(line for line in done.stdout.splitlines() if line.startswith("host names:"))
    name = line.split()[2]
    assert name.endswith(".lambda-url.us-east-1.localhost")
    try:
        socket.getaddrinfo(name, 80)
        resolves = True
    except OSError:
        resolves = False
    assert (" resolves (" in line) is resolves, line
    if not resolves:
        assert "/_aws/lambda-url/<url-id>/" in line and "/_aws/execute-api/<api-id>/<stage>/" in line


def test_no_profile_when_turned_off(tmp_path: Path) -> None:
    cfg = config.resolve({"aws_profile": "", "data_dir": str(tmp_path)}, environ={})
    assert cli._write_profile(cfg) is None
    assert not (tmp_path / "aws-config").exists()
    banner = cli.start_banner(cfg, "", None)
    assert "lambda invoke --function-name NAME" in banner and f"--endpoint-url {cfg.endpoint_url}" in banner
