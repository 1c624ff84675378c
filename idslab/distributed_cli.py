"""`torchrun --nproc-per-node W -m idslab.distributed_cli [idslab train flags] --out r.json`: one pre-training over W
processes (idslab.distributed), then the probes; rank 0 prints and writes the record. A CLI-layer module, so
idslab.distributed itself never imports the command line."""
from __future__ import annotations

import argparse
import sys

import torch.distributed as dist

from .atomic import write_json
from .cli import add_config_args, check_outputs, config_from_args
from .distributed import init, run_ddp


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="torchrun --nproc-per-node W -m idslab.distributed_cli",
                                description="One pre-training over W processes (DDP, negatives gathered), then the "
                                            "probes. --batch-size is the global batch.")
    add_config_args(p, skip=("device",))
    p.add_argument("--out", help="rank 0 writes the JSON record here")
    p.add_argument("--checkpoint", help="rank 0 saves the model here")
    args = p.parse_args(argv)
    try:  # bad input: the message without a traceback, exit 2, before any process group or data (docs/DESIGN.md)
        config_from_args(args)
        check_outputs(**{"--out": args.out, "--checkpoint": args.checkpoint})
    except (ValueError, FileNotFoundError) as e:
        print(f"idslab: error: {e}", file=sys.stderr)
        return 2
    rank, world, device = init()
    try:
        cfg = config_from_args(args, device=str(device.type))
        rec = run_ddp(cfg, device=device, checkpoint=args.checkpoint)
        if rank == 0:
            m = rec["metrics"]
            print(f"mlp {m['mlp_acc']:.4f}  knn {m['knn_acc']:.4f}  pretrain {rec['pretrain_s']:.1f} s on "
                  f"{rec['device']}", flush=True)
            if args.out:
                write_json(args.out, rec)
        dist.barrier()
    finally:
        dist.destroy_process_group()
    return 0


if __name__ == "__main__":
    sys.exit(main())
