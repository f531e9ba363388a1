"""`loyalty config`: the effective configuration, secrets masked, and the
check every command runs first (api/cli.py: main)."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Mapping
from typing import Any

from loyalty.platform.config import Settings, get_settings
from loyalty.platform.environment import VARIABLES, Var, markdown_table, masked, unknown


def validate(env: Mapping[str, str] | None = None) -> None:
    """Parse every variable now, so that a bad value stops the command at once
    with its name (a ConfigError), not at first use; warn about LOYALTY_*
    variables that nothing reads (a typo keeps a default). What production
    demands of the values together (a strong secret) is Settings.check's, run
    by `serve` and by `loyalty config`: a migration job needs no secret."""
    from notifications.policy import load_policy

    env = os.environ if env is None else env
    get_settings()
    load_policy(env)
    for name in unknown(env):
        print(f"warning: {name} is not a variable loyalty reads (a typo?); "
              "`loyalty config` lists them", file=sys.stderr)


def _effective(var: Var, settings: Settings, policy: Any) -> Any:
    # Unset, these two mean "it depends on LOYALTY_ENV": show what they resolve to.
    if var.field == "introspection":
        return settings.introspection_enabled
    if var.field == "log_format":
        return "json" if settings.log_json else "console"
    return getattr(settings if var.owner == "settings" else policy, var.field)


def cmd_config(args: argparse.Namespace) -> int:
    from notifications.policy import load_policy

    if args.markdown:
        print(markdown_table(), end="")
        return 0
    settings = get_settings()
    policy = load_policy()
    width = max(len(v.name) for v in VARIABLES)
    for var in VARIABLES:
        origin = "set" if os.environ.get(var.name, "").strip() else "default"
        print(f"{var.name:<{width}} = {masked(var, _effective(var, settings, policy))}"
              f"  ({origin})")
    # Last, what `loyalty serve` would refuse (exit 2, as it would): a
    # pre-flight check for a deployment.
    settings.check()
    return 0
