"""Portrait encodes on many threads at once (issue 18, defect 1).

The daemon encodes portraits with ``asyncio.to_thread``, so several encodes share the
process's dlib models. Unguarded, that crashed the process (SIGSEGV, "double free") and
silently accepted random noise as a face. The encodes run in a child process, so a crash
fails this test instead of killing pytest.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

# Runs in the child: sequential results first, then the same images shuffled over 6 threads.
CHILD = r"""
import concurrent.futures, hashlib, io, json, random
import numpy as np
import torch
from PIL import Image
from lpm_bridge.appearance import default_avatar_image, encode_appearance
from lpm_bridge.errors import LPMError

torch.set_num_threads(1)

def png(arr):
    buf = io.BytesIO()
    Image.fromarray(arr).save(buf, format="PNG")
    return buf.getvalue()

astronaut = np.asarray(Image.open(io.BytesIO(default_avatar_image())).convert("RGB"))
rng = np.random.default_rng(18)
faces = [default_avatar_image(), png(np.ascontiguousarray(astronaut[:, ::-1]))]
noise = [png(rng.integers(0, 256, (300, 300, 3), dtype=np.uint8)) for _ in range(3)]

def outcome(data):
    try:
        app = encode_appearance(data, size=256)
    except LPMError as e:
        return "rejected:" + type(e).__name__
    digest = hashlib.sha256()
    for name, tensor in sorted(app._tensors().items()):
        digest.update(name.encode() + tensor.numpy().tobytes())
    return "accepted:" + digest.hexdigest()

images = faces + noise
sequential = [outcome(d) for d in images]
jobs = [i for i in range(len(faces)) for _ in range(3)]
jobs += [len(faces) + i for i in range(len(noise)) for _ in range(4)]
random.Random(18).shuffle(jobs)
with concurrent.futures.ThreadPoolExecutor(6) as pool:
    concurrent_ = list(pool.map(lambda i: outcome(images[i]), jobs))
print(json.dumps({"faces": len(faces), "sequential": sequential,
                  "concurrent": [[i, r] for i, r in zip(jobs, concurrent_)]}))
"""


@pytest.mark.timeout(90)
def test_concurrent_encodes_match_sequential_and_never_crash() -> None:
    env = dict(os.environ, PYTHONPATH=str(ROOT), OMP_NUM_THREADS="1")
    proc = subprocess.run(
        [sys.executable, "-c", CHILD], capture_output=True, text=True, env=env, timeout=80
    )
    assert proc.returncode == 0, f"encoder process died ({proc.returncode}): {proc.stderr[-2000:]}"
    report = json.loads(proc.stdout.strip().splitlines()[-1])
    sequential: list[str] = report["sequential"]
    n_faces: int = report["faces"]
    assert all(r.startswith("accepted:") for r in sequential[:n_faces]), sequential
    assert all(r.startswith("rejected:") for r in sequential[n_faces:]), sequential
    for index, result in report["concurrent"]:
        assert result == sequential[index], f"image {index}: {result}, alone {sequential[index]}"
