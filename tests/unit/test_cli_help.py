"""The command line explains itself: a version, and help on every command and option."""

from __future__ import annotations

import argparse

import pytest

from api.cli import build_parser, main


def _parsers(parser: argparse.ArgumentParser) -> list[argparse.ArgumentParser]:
    found = [parser]
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for child in action.choices.values():
                found += _parsers(child)
    return found


def test_every_command_and_option_has_help():
    undocumented = [
        f"{parser.prog} {action.option_strings or action.dest}"
        for parser in _parsers(build_parser())
        for action in parser._actions
        if not isinstance(action, argparse._SubParsersAction) and not action.help
    ]
    assert undocumented == []
    commands = [choice for action in build_parser()._actions
                if isinstance(action, argparse._SubParsersAction)
                for choice in action._choices_actions]
    assert all(c.help for c in commands)


def test_version(capsys):
    with pytest.raises(SystemExit) as done:
        main(["--version"])
    assert done.value.code == 0
    assert capsys.readouterr().out.startswith("loyalty 0.")
