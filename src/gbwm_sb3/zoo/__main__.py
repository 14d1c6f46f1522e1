"""``python -m gbwm_sb3.zoo [ppo|ppo_mask]``: print the path of the shipped RL Zoo config."""

from __future__ import annotations

import sys

from . import config_path


def main(argv: list[str] | None = None) -> int:
    """Print the config path for the algorithm named in ``argv`` (default ``ppo``)."""
    args = sys.argv[1:] if argv is None else argv
    if len(args) > 1 or (args and args[0] in ("-h", "--help")):
        print("usage: python -m gbwm_sb3.zoo [ppo|ppo_mask]", file=sys.stderr)
        return 0 if args and args[0] in ("-h", "--help") else 2
    try:
        print(config_path(args[0] if args else "ppo"))
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
