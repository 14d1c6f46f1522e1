"""Start weights for the decision-reach runs: the shipped network with the goal head's
``decision_reach`` inputs, reading ``one_step_value`` where it read the decision's own
utility share.

    python docs/results/pretrained-decision-reach/make_start.py OUT [--weights DIR]

The shipped network scores each decision through the first layer of its goal scorer; the
column that multiplied the decision's utility share (``utility_to_remaining_utility``)
moves to ``one_step_value`` (that share plus what the next goal year is still worth after
the decision), and the utility column and the two other new inputs start at zero. The
network then values a decision by its utility plus the next goal year's reachable
utility instead of its utility alone; imitation of the DP goes on from there. (Started
at zero instead, the new inputs' weights stay at a few hundredths after 40 rounds.)
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import torch as th

from gbwm_sb3.pretrained.loading import DEFAULT_WEIGHTS, accepted_envelope
from gbwm_sb3.pretrained.policy import UniversalGBWMPolicy
from gbwm_sb3.pretrained.weights import (
    copy_weights_widened,
    envelope_from_manifest,
    load_network,
    network_spaces,
    read_weights_manifest,
    save_weights,
)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("out", type=Path)
    parser.add_argument("--weights", type=Path, default=DEFAULT_WEIGHTS)
    args = parser.parse_args(argv)
    source = load_network(args.weights)
    flags = {"entry_reach": source.entry_reach, "weighted_reach": source.weighted_reach,
             "decision_margins": source.decision_margins, "decision_reach": True}
    network = UniversalGBWMPolicy(*network_spaces(), lambda _: 0.0, **flags)
    copy_weights_widened(source, network)
    names = network.decision_input_names
    with th.no_grad():
        first = network.decision_scorer[0].weight
        own = names.index("utility_to_remaining_utility")
        first[:, names.index("one_step_value")] = first[:, own]
        first[:, own] = 0.0
    manifest = read_weights_manifest(args.weights)
    save_weights(network, args.out, {"made_from": str(args.weights),
                                     "command": " ".join(["python", *sys.argv])},
                 envelope=envelope_from_manifest(manifest),
                 accepted_envelope=accepted_envelope(args.weights),
                 lookahead=manifest.get("lookahead"))
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
