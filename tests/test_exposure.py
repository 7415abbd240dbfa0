"""The dashboard listens on localhost unless the user says otherwise, and the README says how."""

import tomllib
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def recipe(target: str) -> list[str]:
    """The command lines of a Makefile target."""
    lines = (REPO / "Makefile").read_text().splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith(f"{target}:"))
    body = []
    for line in lines[start + 1 :]:
        if not line.startswith("\t"):
            break
        body.append(line.strip())
    return body


def test_make_run_serves_on_localhost_only():
    commands = [line for line in recipe("run") if "streamlit run" in line]
    assert len(commands) == 1
    words = commands[0].split()
    assert words[words.index("--server.address") + 1] == "localhost"
    config = REPO / ".streamlit" / "config.toml"
    if config.exists():  # a config file must not widen it either
        server = tomllib.loads(config.read_text()).get("server", {})
        assert server.get("address", "localhost") in ("localhost", "127.0.0.1")


def test_the_readme_says_how_to_share_with_a_class():
    readme = (REPO / "README.md").read_text()
    section = readme.split("## Teaching a class", 1)[1].split("\n## ", 1)[0]
    assert "--address 0.0.0.0" in section and "firewall" in section
    assert "Only its owner, or the teacher in class mode" in section
