"""``rl_zoo3.train`` with sb3-contrib's ``MaskablePPO`` available as ``--algo ppo_mask``.

    python -m gbwm_sb3.zoo.train --algo ppo_mask --env GBWM-v0 --gym-packages gbwm_sb3 \\
        -conf "$(python -m gbwm_sb3.zoo ppo_mask)" --num-threads 1

Every other option is RL Zoo's own (``python -m gbwm_sb3.zoo.train --help``).
"""

from __future__ import annotations


def main() -> None:
    """Register ``ppo_mask`` in RL Zoo's algorithm table, then run its training script."""
    try:
        from rl_zoo3.train import train
        from rl_zoo3.utils import ALGOS
    except ImportError as exc:
        raise SystemExit(
            f"RL Zoo is not installed ({exc}); install it with `pip install gbwm-sb3[zoo]`"
        ) from None
    from sb3_contrib import MaskablePPO

    ALGOS.setdefault("ppo_mask", MaskablePPO)
    train()


if __name__ == "__main__":
    main()
