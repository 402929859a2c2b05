#!/usr/bin/env python3
"""Writes small torch.save-format files for tests/test_pickle.c using only the python3 stdlib.

A fake `torch` module (torch._utils._rebuild_tensor_v2, torch.FloatStorage, ...) is registered so
that pickle emits exactly the GLOBAL names real torch.save emits; the archive layout matches torch's
(<name>/data.pkl, <name>/data/<key>, <name>/version "3", <name>/byteorder "little", STORED entries,
storage data aligned to 64 bytes). make_ckpt_torch.py writes the same files with real PyTorch.

    python3 tests/data/make_ckpt.py tests/data
"""
import collections
import io
import os
import pickle
import struct
import sys
import types
import zipfile

# ---- a fake torch with the names torch.save pickles -------------------------------------------------
torch = types.ModuleType("torch")
torch_utils = types.ModuleType("torch._utils")
torch.__path__ = []  # a package, so "torch._utils" resolves
sys.modules["torch"] = torch
sys.modules["torch._utils"] = torch_utils
torch._utils = torch_utils


def _rebuild_tensor_v2(*a):
    raise RuntimeError("not used when writing")


def _rebuild_parameter(*a):
    raise RuntimeError("not used when writing")


for f in (_rebuild_tensor_v2, _rebuild_parameter):
    f.__module__ = "torch._utils"
    setattr(torch_utils, f.__name__, f)

STORAGE_FMT = {"FloatStorage": "<f", "HalfStorage": "<e", "BFloat16Storage": None, "LongStorage": "<q",
               "DoubleStorage": "<d", "IntStorage": "<i", "ByteStorage": "<B", "BoolStorage": "<?"}
for name in STORAGE_FMT:
    cls = type(name, (), {"__module__": "torch"})
    setattr(torch, name, cls)


def bf16_bytes(values):
    out = b""
    for v in values:  # values chosen exactly representable in bf16: truncation is exact
        (u,) = struct.unpack("<I", struct.pack("<f", v))
        assert u & 0xFFFF == 0, v
        out += struct.pack("<H", u >> 16)
    return out


class Storage:
    def __init__(self, kind, values):
        self.kind, self.values = kind, list(values)
        fmt = STORAGE_FMT[kind]
        self.data = bf16_bytes(values) if fmt is None else b"".join(struct.pack(fmt, v) for v in values)


class Tensor:
    def __init__(self, storage, offset, size, stride=None, param=False):
        if stride is None:
            stride, acc = [], 1
            for s in reversed(size):
                stride.insert(0, acc)
                acc *= s
        self.storage, self.offset, self.size, self.stride, self.param = storage, offset, tuple(size), tuple(stride), param

    def __reduce_ex__(self, proto):
        t = (torch_utils._rebuild_tensor_v2,
             (self.storage, self.offset, self.size, self.stride, False, collections.OrderedDict()))
        if self.param:  # nn.Parameter: _rebuild_parameter(data, requires_grad, hooks)
            return (torch_utils._rebuild_parameter, (PlainTensor(self), True, collections.OrderedDict()))
        return t


class PlainTensor:
    def __init__(self, t):
        self.t = t

    def __reduce_ex__(self, proto):
        t = self.t
        return (torch_utils._rebuild_tensor_v2, (t.storage, t.offset, t.size, t.stride, False, collections.OrderedDict()))


def tensor(kind, values, size=None):
    return Tensor(Storage(kind, values), 0, size or [len(values)])


def _fake_system(cmd):
    raise RuntimeError("never called")


_fake_system.__module__, _fake_system.__name__, _fake_system.__qualname__ = "os", "system", "system"


class Evil:
    def __reduce__(self):  # pickles as GLOBAL 'os system' + REDUCE, like real malicious files
        return (_fake_system, ("echo pwned",))


def save(obj, path, deflate=False, name="archive"):
    storages = []

    class P(pickle.Pickler):
        def persistent_id(self, o):
            if isinstance(o, Storage):
                for i, s in enumerate(storages):
                    if s is o:
                        key = i
                        break
                else:
                    storages.append(o)
                    key = len(storages) - 1
                return ("storage", getattr(torch, o.kind), str(key), "cpu", len(o.values))
            return None

    buf = io.BytesIO()
    P(buf, protocol=2).dump(obj)
    method = zipfile.ZIP_DEFLATED if deflate else zipfile.ZIP_STORED
    with zipfile.ZipFile(path, "w", compression=method) as z:
        def add(n, data):
            info = zipfile.ZipInfo(f"{name}/{n}", date_time=(1980, 1, 1, 0, 0, 0))
            info.compress_type = method
            # pad the local header so the data starts at a multiple of 64 (as torch does)
            off = z.fp.tell() + 30 + len(info.filename.encode())
            pad = (-(off + 4)) % 64
            info.extra = struct.pack("<HH", 0xF00D, pad) + b"Z" * pad
            z.writestr(info, data)
        add("data.pkl", buf.getvalue())
        add("byteorder", b"little")
        for i, s in enumerate(storages):
            add(f"data/{i}", s.data)
        add("version", b"3\n")


def main(out):
    od = collections.OrderedDict
    # 1. flat f32 + i64 state dict (values checked in test_pickle.c)
    save(od([("a.weight", tensor("FloatStorage", [0.5 * i - 1 for i in range(6)], [2, 3])),
             ("a.bias", tensor("FloatStorage", [0.25, -0.75, 3.0])),
             ("steps", tensor("LongStorage", [-1, 0, 1 << 40, 7]))]), f"{out}/torch_f32.pt")
    # 2. half precision
    save(od([("w16", tensor("HalfStorage", [1.0, -2.0, 0.5, 65504.0])),
             ("wbf", tensor("BFloat16Storage", [1.0, -3.0, 0.15625]))]), f"{out}/torch_f16.pt")
    # 3. Lightning-style nesting; one nn.Parameter; non-tensor entries; archive named after the file
    sd = od([("model.x", tensor("FloatStorage", [1.5, 2.5])),
             ("model.p", Tensor(Storage("FloatStorage", [9.0]), 0, [1], param=True))])
    save({"state_dict": sd, "global_step": 10, "epoch": 1, "lr": 1e-5, "name": "run"},
         f"{out}/torch_nested.ckpt", name="torch_nested")
    # 4. views sharing one storage: offset view, prefix view, transposed (non-contiguous) view
    st = Storage("FloatStorage", [float(i) for i in range(10)])
    save(od([("v_off", Tensor(st, 2, [2, 3])),
             ("v_pre", Tensor(st, 0, [3])),
             ("v_t", Tensor(st, 0, [3, 2], [1, 3]))]), f"{out}/torch_view.pt")
    # 5. malicious: a GLOBAL os.system that must be refused, never executed
    real_system = os.system
    os.system = _fake_system  # pickle checks that os.system is the object it names
    try:
        save(od([("ok", tensor("FloatStorage", [1.0])), ("evil", Evil())]), f"{out}/torch_evil.pt")
    finally:
        os.system = real_system
    # 6. compressed entries (torch never writes these): a clear error
    save(od([("a", tensor("FloatStorage", [1.0, 2.0]))]), f"{out}/torch_deflated.pt", deflate=True)


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else os.path.dirname(os.path.abspath(__file__)))
