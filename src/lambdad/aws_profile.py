"""The `lambdad` AWS profile written at start, so the AWS CLI and SDKs reach the server from any directory.

Two places:
  - DATA_DIR/aws-config, always: `[profile lambdad]` with endpoint_url, region and (when the server
    generated them) the root keys. `AWS_CONFIG_FILE=DATA_DIR/aws-config aws --profile lambdad ...`.
  - the user's own files (~/.aws/config and ~/.aws/credentials, or AWS_CONFIG_FILE /
    AWS_SHARED_CREDENTIALS_FILE when set), only when the root keys are the generated ones: a block
    between `# >>> lambdad` and `# <<< lambdad` lines is appended, and replaced at later starts (the
    port or the keys may have changed). Nothing else in those files is touched: when either already
    has a profile of that name outside lambdad's block, neither is written and the start log says so.
"""

from __future__ import annotations

import os
import re
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

BEGIN = "# >>> lambdad"
END = "# <<< lambdad"


@dataclass(frozen=True, slots=True)
class Keys:
    access_key_id: str
    secret_access_key: str


@dataclass(frozen=True, slots=True)
class ProfileReport:
    """What was written, for the start log."""

    name: str
    data_config: Path
    home_config: Path
    home_credentials: Path
    home: str  # "added", "updated", "unchanged", or why the user's files were left alone
    home_written: bool


def home_paths(environ: Mapping[str, str]) -> tuple[Path, Path]:
    """The AWS CLI's own choice of files: its environment variables, else ~/.aws/."""
    config = environ.get("AWS_CONFIG_FILE") or "~/.aws/config"
    credentials = environ.get("AWS_SHARED_CREDENTIALS_FILE") or "~/.aws/credentials"
    return Path(os.path.expanduser(config)), Path(os.path.expanduser(credentials))


def _config_section(name: str, endpoint_url: str, region: str, keys: Keys | None) -> str:
    lines = [f"[profile {name}]", f"endpoint_url = {endpoint_url}", f"region = {region}",
             # AWS CLI v2 reads --payload as base64 otherwise; v1 ignores the setting
             "cli_binary_format = raw-in-base64-out"]
    if keys is not None:
        lines += [f"aws_access_key_id = {keys.access_key_id}", f"aws_secret_access_key = {keys.secret_access_key}"]
    return "\n".join(lines) + "\n"


def _block(note: str, body: str) -> str:
    return f"{BEGIN} ({note}; remove this block to drop the profile)\n{body}{END}\n"


_BLOCK = re.compile(rf"^{re.escape(BEGIN)}.*?^{re.escape(END)}[^\n]*\n?", re.M | re.S)


def _has_section(text: str, section: str) -> bool:
    return re.search(rf"^\s*\[\s*{re.escape(section)}\s*\]", _BLOCK.sub("", text), re.M) is not None


def _merged(text: str, block: str) -> str:
    if _BLOCK.search(text):
        return _BLOCK.sub(lambda _: block, text, count=1)
    if text and not text.endswith("\n"):
        text += "\n"
    return text + ("\n" if text else "") + block


def _write_private(path: Path, text: str) -> None:
    """Atomically, keeping an existing file's mode (a new one: 0600, its directory 0700). A symlinked file
    (dotfiles kept in a repository) is written where it points, the link kept."""
    path = path.resolve() if path.is_symlink() else path
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    mode = path.stat().st_mode & 0o777 if path.exists() else 0o600
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(fd, "w") as fh:
            fh.write(text)
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        os.unlink(tmp)
        raise


def write_profiles(name: str, endpoint_url: str, region: str, data_path: Path, keys: Keys | None,
                   environ: Mapping[str, str]) -> ProfileReport:
    """Write the profile into the data dir, and into the user's files when `keys` are the generated
    root keys (None: the operator supplied them; they are not copied anywhere)."""
    data_config = data_path / "aws-config"
    header = (f"# Written by lambdad at each start. Use: AWS_CONFIG_FILE={data_config} aws --profile {name} ...\n")
    _write_private(data_config, header + _config_section(name, endpoint_url, region, keys))
    home_config, home_credentials = home_paths(environ)

    def report(home: str, written: bool) -> ProfileReport:
        return ProfileReport(name, data_config, home_config, home_credentials, home, written)

    if keys is None:
        return report("not written: the root keys come from the settings", False)
    try:
        config_text = home_config.read_text() if home_config.exists() else ""
        cred_text = home_credentials.read_text() if home_credentials.exists() else ""
    except (OSError, UnicodeDecodeError) as exc:
        return report(f"not written: {exc}", False)
    for path, text, section in ((home_config, config_text, f"profile {name}"),
                                (home_credentials, cred_text, name)):
        if _has_section(text, section):
            return report(f"not written: {path} already has a [{section}] of its own", False)
    note = f"written by lambdad serve, data dir {data_path}"
    new_config = _merged(config_text, _block(note, _config_section(name, endpoint_url, region, None)))
    new_cred = _merged(cred_text, _block(note, f"[{name}]\naws_access_key_id = {keys.access_key_id}\n"
                                                f"aws_secret_access_key = {keys.secret_access_key}\n"))
    if new_config == config_text and new_cred == cred_text:
        return report("unchanged", True)
    existed = _BLOCK.search(config_text) is not None
    try:
        _write_private(home_credentials, new_cred)  # keys first: a profile is never without them
        _write_private(home_config, new_config)
    except OSError as exc:
        return report(f"not written: {exc}", False)
    return report("updated" if existed else "added", True)
