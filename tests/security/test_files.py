"""What healthdash does (and does not do) about file permissions, as SECURITY.md states it."""

from __future__ import annotations

import os
import stat
from pathlib import Path

from tests.badinput.run import healthdash


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_the_log_directory_and_file_are_private(tmp_path: Path):
    config = tmp_path / "dash.toml"
    config.write_text("")
    old = os.umask(0)  # even a permissive umask gives a private directory
    try:
        proc = healthdash("validate", "-c", str(config), state=tmp_path / "xdg")
    finally:
        os.umask(old)
    assert proc.returncode == 0
    logs = tmp_path / "xdg" / "healthdash"
    assert mode(logs) == 0o700
    # The file is owner-only too, whatever the umask (0 here).
    assert mode(logs / "healthdash.log") == 0o600


def test_a_world_readable_config_with_a_literal_credential_is_accepted_without_a_warning(tmp_path: Path):
    """A known gap (SECURITY.md): healthdash does not look at the config file's mode. When it
    learns to warn, this test fails: update SECURITY.md with it."""
    config = tmp_path / "dash.toml"
    config.write_text('[[check]]\nname = "api"\nkind = "http"\nurl = "http://127.0.0.1:1/"\n'
                      'headers = { Authorization = "Bearer literal-credential-in-the-file" }\n')
    config.chmod(0o666)
    proc = healthdash("validate", "-c", str(config), state=tmp_path / "xdg")
    assert (proc.returncode, proc.stderr) == (0, "")
    assert proc.stdout == f"{config}: ok: 1 check (http)\n"
    assert mode(config) == 0o666  # left as it was
