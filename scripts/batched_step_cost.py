"""What batching concurrent sessions' world-model steps would save on this CPU (issue 10's p95 lever).

Eight single-threaded studio requests on 2 cores cannot finish sooner than 4x one request, unless
a request costs less under load. The one part that could: the world-model steps of concurrent
sessions, run as one batch. This measures, with one torch thread and the shipped checkpoint, the
cost per session of one chunk at batch B: the transformer and frame head (predict the next frame,
then commit it to the KV cache) and the VAE decode of the predicted frame.

    python scripts/batched_step_cost.py [--batches 1 2 4 8] [--repeats 5]
"""

from __future__ import annotations

import argparse
import json
import time

import torch


def per_call_ms(fn, repeats: int) -> float:
    fn()  # warm-up
    start = time.perf_counter()
    for _ in range(repeats):
        fn()
    return (time.perf_counter() - start) / repeats * 1000


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--checkpoint", default="checkpoints/physgen-small")
    parser.add_argument("--batches", type=int, nargs="+", default=[1, 2, 4, 8])
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    torch.set_num_threads(1)

    from physgen.model.checkpoint import load_checkpoint
    from physgen.model.rollout import Rollout

    model, tokenizer = load_checkpoint(args.checkpoint)
    k, d, chunk = model.config.num_frame_tokens, model.config.token_dim, model.config.chunk
    rows = []
    with torch.no_grad():
        for b in args.batches:
            rollout = Rollout(model)
            rollout.start(torch.randn(b, k, d))
            actions = torch.zeros(b, chunk, 7)
            for _ in range(model.config.history):  # a full window, as in a running session
                rollout.observe(rollout.predict_frame(actions), actions)
            generator = torch.Generator().manual_seed(0)
            tokens = rollout.predict_frame(actions, None, generator)

            def model_step():
                predicted = rollout.predict_frame(actions, None, generator)
                rollout.observe(predicted, actions)

            step_ms = per_call_ms(model_step, args.repeats)
            decode_ms = per_call_ms(lambda: tokenizer.decode(tokenizer.from_tokens(tokens)), args.repeats)
            rows.append({"batch": b, "model_ms_per_session": round(step_ms / b, 1), "decode_ms_per_session": round(decode_ms / b, 1)})
            print(json.dumps(rows[-1]), flush=True)
    one = rows[0]
    for row in rows[1:]:
        row["saving_vs_batch_1"] = round(1 - (row["model_ms_per_session"] + row["decode_ms_per_session"])
                                         / (one["model_ms_per_session"] + one["decode_ms_per_session"]), 3)
    print(json.dumps(rows))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
