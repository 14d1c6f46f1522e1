"""FastPPO's hand-written update against the autograd one: per minibatch, and after a run.

    nice -n 10 .venv/bin/python benchmarks/fused_update_divergence.py [--family crowded \\
        --index 1 --seed 4]

On a problem of ``bench_crowded.py`` with the ``tuned`` preset: (1) after two rollouts
trained by autograd, the gradient of the PPO loss on 720 rows of the last rollout by the
hand-written pass and by autograd, per parameter; (2) two models from the same seed, one
trained with each update, after two rollouts (one update at a non-zero learning rate):
the largest difference of each parameter; (3) the same for two autograd runs, one of them
from a start whose first policy weight is moved by 1e-7. Prints the three tables: the two
updates agree per minibatch, and the policy update amplifies any difference, its own
rounding included, while the value network's stays at rounding level.
"""

from __future__ import annotations

import argparse

import bench_crowded
import torch as th
import torch.nn.functional as F

from gbwm_sb3.ppo.fused_update import build_fused_update
from gbwm_sb3.ppo.presets import make_preset_model


def _flat(buffer, name: str) -> th.Tensor:
    """A rollout buffer's array as (n_envs * n_steps, ...) rows, trajectory by trajectory."""
    array = th.from_numpy(getattr(buffer, name)).transpose(0, 1)
    return array.reshape(buffer.n_envs * buffer.buffer_size, *array.shape[2:])


def gradients(problem, seed: int, rows: int = 720) -> list[tuple[str, float, float]]:
    """(parameter, largest |autograd gradient|, largest |difference|) on ``rows`` rows."""
    model = make_preset_model("tuned", problem=problem, seed=seed)
    model.use_autograd_update()
    model.learn(1200 * problem.horizon * 2)
    buffer = model.rollout_buffer
    fused, policy = build_fused_update(model.policy), model.policy
    assert fused is not None
    index = th.randperm(buffer.n_envs * buffer.buffer_size,
                        generator=th.Generator().manual_seed(0))[:rows]
    obs, actions = _flat(buffer, "observations")[index], _flat(buffer, "actions")[index]
    adv = _flat(buffer, "advantages")[index]
    adv = (adv - adv.mean()) / (adv.std() + 1e-8)
    old_lp, returns = _flat(buffer, "log_probs")[index], _flat(buffer, "returns")[index]
    clip, ent_coef, vf_coef = 0.5, float(model.ent_coef), float(model.vf_coef)
    fused.load_state()
    policy.zero_grad(set_to_none=True)
    values, log_prob, entropy = policy.evaluate_actions(obs, actions)
    ratio = th.exp(log_prob - old_lp)
    loss = (-th.min(adv * ratio, adv * th.clamp(ratio, 1 - clip, 1 + clip)).mean()
            - ent_coef * entropy.mean() + vf_coef * F.mse_loss(returns, values.flatten()))
    loss.backward()
    names = {id(p): n for n, p in policy.named_parameters()}
    reference = [p.grad.detach().clone() if p.grad is not None else th.zeros_like(p)
                 for p in fused.params]
    with th.no_grad():
        active = policy.goal_active(obs).to(adv.dtype)
        lp, _, value, cache = fused.forward(obs, actions.long(), active)
        r = th.exp(lp - old_lp)
        s1, s2 = adv * r, adv * th.clamp(r, 1 - clip, 1 + clip)
        fused.grad.zero_()
        fused.backward(cache, active, th.where(s1 <= s2, s1, 0.0) * (-1.0 / rows),
                       -ent_coef / rows, (value - returns) * (2.0 * vf_coef / rows))
    out, offset = [], 0
    for p, ref in zip(fused.params, reference, strict=True):
        grad = fused.grad[offset: offset + p.numel()].view_as(p)
        offset += p.numel()
        out.append((names[id(p)], float(ref.abs().max()), float((grad - ref).abs().max())))
    return out


def after_one_update(problem, seed: int, other: str) -> list[tuple[str, float, float]]:
    """(parameter, largest |value| by autograd, largest |difference| from the ``other``
    run: ``"fused"``, or ``"perturbed"``, autograd from one first-layer weight moved by
    1e-7)."""
    trained = {}
    for path in (other, "autograd"):
        model = make_preset_model("tuned", problem=problem, seed=seed)
        if path != "fused":
            model.use_autograd_update()
        if path == "perturbed":
            with th.no_grad():
                model.policy.mlp_extractor.policy_net[0].weight[0, 0] += 1e-7
        model.learn(1200 * problem.horizon * 2)  # the second update runs at learning rate 0
        trained[path] = {n: p.detach() for n, p in model.policy.named_parameters()}
    return [(name, float(p.abs().max()), float((p - trained[other][name]).abs().max()))
            for name, p in trained["autograd"].items()]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--family", choices=bench_crowded.FAMILIES, default="crowded")
    parser.add_argument("--index", type=int, default=1)
    parser.add_argument("--seed", type=int, default=4)
    args = parser.parse_args()
    problem = bench_crowded.GENERATORS[args.family](args.index)
    for title, rows in (
            ("gradient of one minibatch", gradients(problem, args.seed)),
            ("parameters after one update: fused against autograd",
             after_one_update(problem, args.seed, "fused")),
            ("parameters after one update: autograd against autograd from a start moved by 1e-7",
             after_one_update(problem, args.seed, "perturbed"))):
        print(f"\n{title}\n| parameter | largest (autograd) | largest difference |\n|---|---|---|")
        for name, size, difference in rows:
            print(f"| {name} | {size:.3e} | {difference:.3e} |")


if __name__ == "__main__":
    main()
