"""The README's layer story, run for real: `lambdad layer publish`, `lambdad deploy --layer`, invoke."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from tests.conftest import ACCESS_KEY, REGION, SECRET_KEY, unique


def lambdad(server, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "AWS_ACCESS_KEY_ID": ACCESS_KEY, "AWS_SECRET_ACCESS_KEY": SECRET_KEY,
           "AWS_DEFAULT_REGION": REGION, "LAMBDAD_ENDPOINT_URL": server.endpoint}
    return subprocess.run([sys.executable, "-m", "lambdad", *args], env=env, capture_output=True, text=True,
                          timeout=60)


def test_share_a_helper_library_as_a_layer(server, tmp_path: Path):
    lib = tmp_path / "shared-lib"
    (lib / "python" / "greetings").mkdir(parents=True)
    (lib / "python" / "greetings" / "__init__.py").write_text("def greet(who):\n    return f'hello, {who}'\n")
    name = unique("greetings")
    published = lambdad(server, "layer", "publish", str(lib), "--name", name, "--compatible-runtimes", "python3.12",
                        "--description", "shared helpers")
    assert published.returncode == 0, published.stderr
    arn = published.stdout.strip()
    assert arn.endswith(f":layer:{name}:1")

    functions = []
    for who in ("orders", "billing"):
        app = tmp_path / who
        app.mkdir()
        (app / "app.py").write_text(f"from greetings import greet\n\ndef handler(event, context):\n"
                                    f"    return greet({who!r})\n")
        fn = unique(who)
        deployed = lambdad(server, "deploy", str(app), "--name", fn, "--handler", "app.handler", "--layer", arn)
        assert deployed.returncode == 0, deployed.stderr + deployed.stdout
        functions.append((fn, who))
    for fn, who in functions:
        result = lambdad(server, "invoke", fn)
        assert result.returncode == 0, result.stderr
        assert json.loads(result.stdout) == f"hello, {who}"

    listed = lambdad(server, "layer", "ls")
    assert listed.returncode == 0 and arn in listed.stdout

    not_a_dir = lambdad(server, "layer", "publish", str(tmp_path / "nothing"), "--name", name)
    assert not_a_dir.returncode == 1 and "is not a directory" in not_a_dir.stderr
