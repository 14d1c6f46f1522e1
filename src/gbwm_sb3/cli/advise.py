"""``gbwm advise PROBLEM [--year T --wealth W]``: today's decision from the pretrained policy.

No training and no DP: the shipped universal network reads the client's problem and
prints the decision of the year (which goals to fund, at which level), the probability
the policy gives each goal due that year, and the portfolio to hold, in milliseconds.
"""

from __future__ import annotations

import argparse
import json
import time
from typing import Any

import numpy as np

from gbwm_sb3.cli.arguments import CLIError, float_in, int_in, lookahead_option
from gbwm_sb3.cli.checks import check_path_text, format_money

__all__ = ["add_advise_parser", "cmd_advise"]


def add_advise_parser(commands: Any) -> None:
    """Register ``gbwm advise`` on the ``gbwm`` sub-command parser."""
    advise = commands.add_parser(
        "advise", help="today's decision from the pretrained policy (no training)",
        description="Advise a client with the pretrained policy shipped in the package: the "
                    "goals to fund this year, the policy's probability of funding each, and "
                    "the portfolio to hold. The problem must lie inside the envelope the "
                    "policy accepts (docs/pretrained.md, \"The acceptance envelope\").")
    advise.add_argument("problem", metavar="PROBLEM", help="problem file or paper:NG")
    advise.add_argument("--year", type=int_in(0, 10_000), default=0,
                        help="the current year t, 0..T-1 (default 0)")
    advise.add_argument("--wealth", type=float_in(0.0, 1e300), default=None,
                        help="wealth at the start of the year, before its savings and goals "
                             "(default: the problem's initial wealth; required when --year > 0)")
    advise.add_argument("--weights", default=None, metavar="DIR",
                        help="a weights directory (default: the shipped weights), or a client "
                             "policy saved by `gbwm fine-tune` for this problem")
    advise.add_argument("--lookahead", type=lookahead_option, default=None, metavar="K",
                        help="decisions the network's critic compares (default: the weights' "
                             "own, 8 for weights that record none; 1: the network's most "
                             "likely decision; auto: whichever of the two does better on "
                             "simulated markets of this problem, then the best portfolio "
                             "shift, a few seconds more)")
    advise.add_argument("--json", action="store_true", help="print the advice as JSON")
    advise.set_defaults(func=cmd_advise)


def cmd_advise(args: argparse.Namespace) -> int:
    """Print the advice for one client."""
    from gbwm_sb3.problem.files import resolve_problem

    check_path_text(args.problem, "PROBLEM", "problem file or paper:NG")
    if args.weights is not None:
        check_path_text(args.weights, "--weights", "weights directory path")
    try:
        problem = resolve_problem(args.problem)
    except ValueError as exc:
        raise CLIError(str(exc)) from None
    except OSError as exc:  # a folder, a device, a file that cannot be read
        raise CLIError(f"PROBLEM {args.problem}: cannot read it "
                       f"({exc.strerror or exc})") from None
    if args.year >= problem.horizon:
        raise CLIError(f"--year must be in [0, {problem.horizon - 1}] for this problem "
                       f"(T = {problem.horizon}), got {args.year}")
    if args.wealth is None and args.year > 0:
        raise CLIError("--wealth is required when --year > 0")
    wealth = problem.initial_wealth if args.wealth is None else args.wealth

    from gbwm_sb3.pretrained.client_policy import is_client_policy
    from gbwm_sb3.pretrained.loading import (
        pretrained_network,
        pretrained_policy,
        recommended_lookahead,
    )

    started = time.perf_counter()
    weights = "" if args.weights is None else f"--weights {args.weights}: "
    try:
        pretrained_network(args.weights)
    except (OSError, ValueError) as exc:
        raise CLIError(f"{weights}{exc}") from None
    loaded = time.perf_counter()
    client = args.weights is not None and is_client_policy(args.weights)
    if client and args.lookahead is not None:
        raise CLIError(f"{weights}a fine-tuned client policy acts with the lookahead it was "
                       "saved with; leave out --lookahead")
    if args.lookahead is None:
        args.lookahead = recommended_lookahead(args.weights)
    try:
        policy = (pretrained_policy(problem, args.weights) if client
                  else pretrained_policy(problem, args.weights, lookahead=args.lookahead))
    except ValueError as exc:
        raise CLIError(str(exc)) from None
    check = policy.self_check
    if check is not None:  # "auto": the lookahead the self-check kept
        args.lookahead = check.chosen
    advice = policy.advise(args.year, wealth)
    done = time.perf_counter()
    timing = {"load_ms": round(1000 * (loaded - started), 2),
              "advice_ms": round(1000 * (done - loaded), 2)}
    portfolios = problem.portfolios
    mean = float(portfolios.mean_array[advice.portfolio])
    vol = float(portfolios.volatility_array[advice.portfolio])
    if args.json:
        print(json.dumps({"year": advice.year, "wealth": advice.wealth,
                          "decision": advice.decision, "goals_funded": list(advice.goals_funded),
                          "goal_probabilities": advice.goal_probabilities,
                          "portfolio": advice.portfolio, "portfolio_mean": mean,
                          "portfolio_volatility": vol,
                          "portfolio_probability": advice.portfolio_probabilities[
                              advice.portfolio], "lookahead": args.lookahead,
                          "client_policy": client,
                          "critic_lookahead": None if policy.critic_lookahead is None
                          else policy.critic_lookahead.decisions,
                          **({} if check is None else {"self_check": {
                              "own_mean_utility": check.own,
                              "lookahead_mean_utility": check.lookahead,
                              "portfolio_shift": check.shift,
                              "shift_mean_utilities": {str(k): v for k, v
                                                       in check.shift_utilities},
                              "markets": check.paths}}), **timing},
                         indent=2))
        return 0
    print(f"{args.problem}: year {advice.year} of {problem.horizon}, "
          f"wealth {format_money(wealth)}")
    funded = ", ".join(advice.goals_funded) if advice.goals_funded else "none"
    if policy.critic_lookahead is not None:
        how = (f" (decision and portfolio by the fine-tuned critic's lookahead over "
               f"{policy.critic_lookahead.decisions} decisions)")
    elif args.lookahead > 1:
        how = f" (the best of the {args.lookahead} likeliest decisions by the critic)"
    else:
        how = ""
    print(f"fund now: {funded}{how}")
    for name, p in advice.goal_probabilities.items():
        print(f"  goal {name}: funded with probability {p:.3f}")
    p = advice.portfolio_probabilities[advice.portfolio]
    moved = ""
    if policy.portfolio_shift and policy.critic_lookahead is None:
        places = advice.portfolio - int(np.argmax(advice.portfolio_probabilities))
        moved = (f", {abs(places)} place{'s' if abs(places) > 1 else ''} "
                 f"{'riskier' if places > 0 else 'safer'} than the network's choice"
                 if places else ", the network's choice (at the frontier's end)")
        moved += f" (portfolio shift {policy.portfolio_shift:+d})"
    print(f"portfolio: #{advice.portfolio + 1} of {problem.num_portfolios} (mean {mean:.2%}, "
          f"volatility {vol:.2%}), probability {p:.3f}{moved}")
    print(f"advice in {timing['advice_ms']:.1f} ms (weights loaded in {timing['load_ms']:.0f} ms)")
    return 0
