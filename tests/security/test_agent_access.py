"""Who can reach the agent: loopback unless told otherwise, and the token only from the environment."""

from __future__ import annotations

from pathlib import Path

from dash.agent import is_loopback, parse_listen
from dash.cli import build_parser
from tests.badinput.run import healthdash


def test_the_agent_listens_on_loopback_unless_told_otherwise():
    args = build_parser().parse_args(["agent"])
    host, port = parse_listen(args.listen)
    assert (host, port) == ("127.0.0.1", 9108) and is_loopback(host)
    assert args.token_env is None  # no token unless a variable is named (there is no option for the token itself)


def test_a_token_variable_that_is_not_set_is_one_line(tmp_path: Path):
    config = tmp_path / "dash.toml"
    config.write_text("")
    proc = healthdash("agent", "-c", str(config), "--listen", "127.0.0.1:0", "--token-env", "HD_UNSET_TOKEN",
                      state=tmp_path / "xdg")
    assert (proc.returncode, proc.stdout) == (2, "")
    assert proc.stderr == "healthdash: environment variable HD_UNSET_TOKEN is not set or empty\n"
