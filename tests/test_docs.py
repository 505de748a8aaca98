"""Docs tested as code: every command and option is documented; README commands exist."""

from __future__ import annotations

import re
from pathlib import Path

import click

from funnelscope.cli.main import cli

ROOT = Path(__file__).parent.parent


def test_every_command_and_option_is_in_docs_cli() -> None:
    text = (ROOT / "docs" / "cli.md").read_text()
    for name, command in cli.commands.items():
        assert f"## funnelscope {name}" in text, f"docs/cli.md has no section for {name}"
        section = text.split(f"## funnelscope {name}", 1)[1].split("\n## ", 1)[0]
        for param in command.params:
            if isinstance(param, click.Option):
                flag = max(param.opts, key=len)
                assert flag in section, f"docs/cli.md: {name} does not document {flag}"
        assert command.help, f"{name} has no help text"
        if isinstance(command, click.Group):  # each subcommand and its options, in the section
            for sub_name, sub in command.commands.items():
                assert f"funnelscope {name} {sub_name}" in section, f"{name} {sub_name}"
                for param in sub.params:
                    if isinstance(param, click.Option):
                        flag = max(param.opts, key=len)
                        assert flag in section, f"docs/cli.md: {name} {sub_name}: {flag}"
                assert sub.help, f"{name} {sub_name} has no help text"


def test_readme_shows_the_two_commands_and_only_real_subcommands() -> None:
    readme = (ROOT / "README.md").read_text()
    assert "make demo" in readme and "make test" in readme
    blocks = "\n".join(re.findall(r"```sh\n(.*?)```", readme, flags=re.DOTALL))
    used = set(re.findall(r"^funnelscope (\w+)", blocks, flags=re.MULTILINE))
    assert used, "README shows no funnelscope command"
    assert used <= set(cli.commands), f"README uses unknown commands: {used - set(cli.commands)}"


def test_every_semantics_sentence_has_a_test() -> None:
    text = "\n".join(
        (ROOT / "docs" / name).read_text()
        for name in ("semantics.md", "paths.md", "correlation.md")
    )
    tags = set(re.findall(r"\*\*\[([SFXHCOWBMDYEIRPVNK]\d+)\]\*\*", text))
    assert len(tags) >= 45
    sources = "\n".join(p.read_text() for p in (ROOT / "tests").glob("test_*.py"))
    missing = sorted(tag for tag in tags if not re.search(rf"def test_{tag.lower()}_", sources))
    assert not missing, f"semantics sentences without a test: {missing}"
