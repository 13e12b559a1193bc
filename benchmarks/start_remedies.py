"""Train with a start the settings cannot express, for the † rows of
docs/experiments/first-minute.md: the remedy changes the freshly built model (or its
optimiser) before the same training steps `drawstudio train` runs.

    python benchmarks/start_remedies.py --remedy forget-bias=1 -- train --dataset binarized-mnist \\
        --data-dir ../shared/data/binarized_mnist --T 16 --steps 600 --batch-size 64 --threads 1 \\
        --eval-every 600 --lr 3e-3 --kl-warmup 300 --run RUN

Remedies (repeat --remedy to combine):
    forget-bias=V        add V to both LSTMs' forget-gate bias
    posterior-log-sigma=V  start the posterior's log σ at V (the bias of q's second half)
    attention-weights=K  multiply both attention layers' initial weights by K
    write-attention-weights=K  only the write's
    write-stride=V       start the write's stride at V of the one spanning the image (σ the same share of it)
    attention-rate=K     the attention layers step K times further (an Adam group of their own)
    lr-warmup=STEPS      the schedule's rate scaled by min(1, (step + 1) / STEPS): a linear warm-up
"""

from __future__ import annotations

import argparse
import math
import sys

import torch

from drawstudio.cli.main import main as cli_main
from drawstudio.model.draw import Draw
from drawstudio.train.trainer import Trainer


def change_model(model: Draw, name: str, value: float) -> None:
    with torch.no_grad():
        if name == "forget-bias":
            for cell in (model.encoder, model.decoder):
                size = cell.hidden_size
                cell.bias_ih[size:2 * size] += value  # gates are ordered i, f, g, o
        elif name == "posterior-log-sigma":
            model.q.bias[model.config.z_size:] = value
        elif name == "attention-weights":
            model.read_attention.weight *= value
            model.write_attention.weight *= value
        elif name == "write-attention-weights":
            model.write_attention.weight *= value
        elif name == "write-stride":
            model.write_attention.bias[3] = math.log(value)  # log δ̃, eq. 24
            model.write_attention.bias[2] += 2 * math.log(value)  # log σ²: σ scales with the stride


def attention_rate(trainer: Trainer, factor: float) -> None:
    """Give the attention layers an Adam group whose rate is `factor` times the schedule's."""
    model = trainer.model
    attention = [p for layer in (model.read_attention, model.write_attention) for p in layer.parameters()]
    chosen = {id(p) for p in attention}
    rest = [p for p in model.parameters() if p.requires_grad and id(p) not in chosen]
    defaults = trainer.optimizer.defaults
    optimizer = torch.optim.Adam([{"params": rest}, {"params": attention}], lr=defaults["lr"],
                                 betas=defaults["betas"])
    step = optimizer.step

    def scaled_step(closure=None):  # the trainer sets every group to the schedule's rate first
        optimizer.param_groups[1]["lr"] = optimizer.param_groups[0]["lr"] * factor
        return step(closure)

    optimizer.step = scaled_step
    trainer.optimizer = optimizer


def lr_warmup(trainer: Trainer, steps: float) -> None:
    """Scale the schedule's rate linearly from 1/steps at step 0 to the full rate at `steps`."""
    scheduled = trainer.rate.lr
    trainer.rate.lr = lambda step: scheduled(step) * min(1.0, (step + 1) / steps)


def install(remedies: list[tuple[str, float]]) -> None:
    build, start = Draw.__init__, Trainer.__init__

    def built(model: Draw, config) -> None:
        build(model, config)
        for name, value in remedies:
            change_model(model, name, value)

    def started(trainer: Trainer, *args, **kwargs) -> None:
        start(trainer, *args, **kwargs)
        for name, value in remedies:
            if name == "attention-rate":
                attention_rate(trainer, value)
            elif name == "lr-warmup":
                lr_warmup(trainer, value)

    Draw.__init__ = built
    Trainer.__init__ = started


def parse_remedy(text: str) -> tuple[str, float]:
    names = ("forget-bias", "posterior-log-sigma", "attention-weights", "write-attention-weights", "write-stride",
             "attention-rate", "lr-warmup")
    name, _, value = text.partition("=")
    if name not in names:
        raise argparse.ArgumentTypeError(f"{name!r} is not one of {', '.join(names)}")
    try:
        return name, float(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r}: the value after '=' must be a number") from None


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--remedy", type=parse_remedy, action="append", default=[])
    parser.add_argument("command", nargs=argparse.REMAINDER, help="-- then a drawstudio command")
    args = parser.parse_args()
    install(args.remedy)
    command = args.command[1:] if args.command[:1] == ["--"] else args.command
    sys.exit(cli_main(command))
