"""`torchrun --nproc-per-node W -m idslab.distributed_cli [idslab train flags] --out r.json`: one pre-training over W
processes (idslab.distributed), then the probes; rank 0 prints and writes the record. A CLI-layer module, so
idslab.distributed itself never imports the command line."""
from __future__ import annotations

import sys

import torch.distributed as dist

from .atomic import write_json
from .cli import Parser, add_config_args, check_outputs, config_from_args, summary
from .distributed import init, run_ddp


def build_parser() -> Parser:
    """`idslab train`'s flags (add_config_args: --data, --data-path, ... alike), less --device (torchrun's
    LOCAL_RANK picks it) and --quiet (no progress bar to silence); --out and --save-model as in train."""
    p = Parser(prog="torchrun --nproc-per-node W -m idslab.distributed_cli",
               description="One pre-training over W processes (DDP, negatives gathered), then the probes. "
                           "--batch-size is the global batch.")
    add_config_args(p, skip=("device",))
    p.add_argument("--out", help="rank 0 writes the JSON record here")
    p.add_argument("--save-model", help="rank 0 saves the pre-trained model here (idslab.train.load_checkpoint "
                                        "reads it)")
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:  # bad input: the message without a traceback, exit 2, before any process group or data (docs/DESIGN.md)
        config_from_args(args)
        check_outputs(**{"--out": args.out, "--save-model": args.save_model})
    except (ValueError, FileNotFoundError) as e:
        print(f"idslab: error: {e}", file=sys.stderr)
        return 2
    rank, _, device = init()
    try:
        cfg = config_from_args(args, device=str(device.type))
        rec = run_ddp(cfg, device=device, checkpoint=args.save_model)
        if rank == 0:
            print(summary(cfg, rec), flush=True)   # its device names the processes: "cpu x2 (gloo)"
            if args.out:
                write_json(args.out, rec)
        dist.barrier()
    finally:
        dist.destroy_process_group()
    return 0


if __name__ == "__main__":
    sys.exit(main())
