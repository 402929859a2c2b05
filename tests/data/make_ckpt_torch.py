#!/usr/bin/env python3
"""Writes the files of make_ckpt.py with REAL torch.save, to cross-check the stdlib fakes.

Run on a machine with PyTorch (not needed by the tests):
    python3 tests/data/make_ckpt_torch.py /tmp/torch_ckpts
then point test_pickle at them, or compare:  posetune inspect /tmp/torch_ckpts/torch_view.pt
Expected contents are identical to make_ckpt.py's (same names, dtypes, shapes, values); the
malicious file is not written here (torch.save cannot emit it), and torch_deflated.pt neither.
"""
import collections
import os
import sys

import torch


def main(out):
    os.makedirs(out, exist_ok=True)
    od = collections.OrderedDict
    torch.save(od([("a.weight", torch.tensor([0.5 * i - 1 for i in range(6)], dtype=torch.float32).reshape(2, 3)),
                   ("a.bias", torch.tensor([0.25, -0.75, 3.0], dtype=torch.float32)),
                   ("steps", torch.tensor([-1, 0, 1 << 40, 7], dtype=torch.int64))]), f"{out}/torch_f32.pt")
    torch.save(od([("w16", torch.tensor([1.0, -2.0, 0.5, 65504.0], dtype=torch.float16)),
                   ("wbf", torch.tensor([1.0, -3.0, 0.15625], dtype=torch.bfloat16))]), f"{out}/torch_f16.pt")
    sd = od([("model.x", torch.tensor([1.5, 2.5])),
             ("model.p", torch.nn.Parameter(torch.tensor([9.0])))])
    torch.save({"state_dict": sd, "global_step": 10, "epoch": 1, "lr": 1e-5, "name": "run"},
               f"{out}/torch_nested.ckpt")
    base = torch.arange(10, dtype=torch.float32)
    torch.save(od([("v_off", base[2:8].view(2, 3)),          # storage offset 2
                   ("v_pre", base[0:3]),                    # shares the storage
                   ("v_t", base[0:6].view(2, 3).t())]),     # (3, 2) stride (1, 3): non-contiguous
               f"{out}/torch_view.pt")
    # a real nn.Module state_dict (has the _metadata attribute, set through BUILD)
    torch.manual_seed(0)
    lin = torch.nn.Linear(3, 2)
    torch.save(lin.state_dict(), f"{out}/torch_linear.pt")
    with open(f"{out}/torch_linear.expected.txt", "w") as f:
        f.write("weight " + " ".join(repr(float(x)) for x in lin.weight.flatten()) + "\n")
        f.write("bias " + " ".join(repr(float(x)) for x in lin.bias.flatten()) + "\n")


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "/tmp/torch_ckpts")
