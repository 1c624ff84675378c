"""Measurements on the paper's two open problems (Sec. 6), written up in docs/OPEN_PROBLEMS.md.

1. "IDS under-perturbs deep ResNets": how far one fc1 perturbation moves h, relative to |h|, for every encoder at
   its initialisation (the state in which IDS must start producing useful views), at the paper's s_l = 0.02.
2. "The upper bound of s_l": the quick Figure 3 protocol (CNN-16, meteor) continued past s_l = 0.20.
3. The floor under every table: probe accuracy of the untrained (random-init) encoder, full and quick protocol.

    python scripts/open_problems.py [--results results] [--device auto] [--cifar-dir DIR]
"""
import argparse

import torch

from idslab.datasets import Sizes, load
from idslab.diagnostics import cloud_stats, perturbed_cloud
from idslab.encoders import ENCODERS, build_encoder, encoder_tile
from idslab.experiments import QUICK, sweep_sl
from idslab.report import aggregate
from idslab.train import TrainConfig, run


def relative_spread(sl: float = 0.02, n_tiles: int = 4, draws: int = 8) -> None:
    print(f"| encoder | fc1 inputs | mean |h~ - h| / |h| | spread / nearest-tile distance | "
          f"s_l sqrt(3 in) (fc1 pre-activation, theory) |\n|---|---:|---:|---:|---:|")
    for name in ENCODERS:
        torch.manual_seed(0)
        tile = encoder_tile(name)
        x = load("meteor", tile, sizes=Sizes(16, 2, 2)).pretrain.x[:n_tiles]
        enc = build_encoder(name, 1)
        enc.in_mean.fill_(float(x.mean()))
        enc.in_std.fill_(float(x.std()))
        clean, cloud = perturbed_cloud(enc, x, sl, draws, seed=0)
        st = cloud_stats(clean, cloud)
        fan_in = enc.fc1.in_features
        print(f"| {name} | {fan_in} | {st['rel_spread']:.3f} | {st['spread_over_neighbour']:.2f} | "
              f"{sl * (3 * fan_in) ** 0.5:.3f} |", flush=True)


def upper_bound(results: str, device: str) -> None:
    sls = [0.2, 0.5, 1.0, 2.0, 5.0]
    base = TrainConfig(encoder="cnn16", views="ids", device=device, **QUICK)
    recs = sweep_sl(base, sls, seeds=[0, 1, 2], results_dir=f"{results}/sl_upper_quick")
    print("| s_l | MLP (%) | k-NN (%) | final NT-Xent |\n|---|---|---|---|")
    agg = aggregate(recs, by=("sl",))
    for sl in sls:
        m = agg[(sl,)]
        loss = [r["loss_history"][-1] for r in recs if r["config"]["sites"]["fc1"] == sl]
        print(f"| {sl} | {m['mlp_acc'][0]:.2f} ± {m['mlp_acc'][1]:.2f} | {m['knn_acc'][0]:.2f} ± "
              f"{m['knn_acc'][1]:.2f} | {sum(loss) / len(loss):.3f} |", flush=True)


def random_init_floor(device: str, cifar_dir: str | None) -> None:
    print("| protocol | dataset | encoder | MLP (%) | k-NN (%) |\n|---|---|---|---|---|")
    for label, sizes in (("full", {}), ("quick", {k: v for k, v in QUICK.items() if k != "epochs"})):
        for dataset in ("meteor", "cifar"):
            for enc in ("cnn8", "cnn16"):
                recs = [run(TrainConfig(dataset=dataset, encoder=enc, epochs=0, seed=s, device=device,
                                    cifar_dir=cifar_dir, **sizes))
                        for s in (0, 1, 2)]
                m = aggregate(recs, by=("encoder",))[(enc,)]
                print(f"| {label} | {dataset} | {enc} | {m['mlp_acc'][0]:.2f} ± {m['mlp_acc'][1]:.2f} | "
                      f"{m['knn_acc'][0]:.2f} ± {m['knn_acc'][1]:.2f} |", flush=True)


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--results", default="results")
    ap.add_argument("--device", default="auto")
    ap.add_argument("--cifar-dir", default="../shared/datasets/cifar10-train-jpg")
    args = ap.parse_args()
    relative_spread()
    upper_bound(args.results, args.device)
    random_init_floor(args.device, args.cifar_dir)
