#!/usr/bin/python3
"""Writes tests/data/cifar/: tiny CIFAR-style batches as Python pickles them, for
tests/io_labeled.cpp's reader checks (CI does not run Python; the files are kept in the repo).

  /usr/bin/python3 tools/gen_cifar_fixtures.py tests/data/cifar

- mirabest/: a MiraBest-like folder (batches.meta, data_batch_1, data_batch_2, test_batch) of 4 x 4
  one-plane images, pickled with protocol 2 as Python 3 does (bytes through _codecs.encode);
- p4.pkl, p5.pkl: one batch with protocols 4 and 5 (numpy's _frombuffer), labels as an int64
  array, a Fortran-ordered float32 'data' in p5;
- expected.json: every batch's images (as lists), labels and filenames, as numpy holds them.
"""
import json, os, pickle, sys

import numpy as np

out = sys.argv[1]
os.makedirs(os.path.join(out, "mirabest"), exist_ok=True)
rng = np.random.default_rng(7)
expected = {}


def batch(n, labels, dtype=np.uint8, order="C"):
    data = np.asarray(rng.integers(0, 256, size=(n, 16)), dtype=dtype, order=order)
    data[0, 0] = 255  # a byte above 127: exercises latin-1 through _codecs.encode
    names = [f"{100 + 100 * (l >= 5)}_{i:03d}.{l}+00.5_0.05_0012.34.png" for i, l in enumerate(labels)]
    return {"batch_label": "training batch", "labels": labels, "data": data, "filenames": names}


def dump(rel, d, protocol):
    with open(os.path.join(out, rel), "wb") as f:
        pickle.dump(d, f, protocol=protocol)
    labels = d["labels"]
    expected[rel] = {"data": np.asarray(d["data"], dtype=np.float64).tolist(),
                     "labels": [int(x) for x in labels], "filenames": d["filenames"]}


with open(os.path.join(out, "mirabest", "batches.meta"), "wb") as f:
    pickle.dump({"label_names": ["100", "102", "104", "110", "112", "200", "201", "210", "300", "310"]}, f, protocol=2)
dump("mirabest/data_batch_1", batch(5, [0, 5, 9, 3, 6]), 2)
dump("mirabest/data_batch_2", batch(3, [1, 7, 8]), 2)
dump("mirabest/test_batch", batch(2, [2, 4]), 2)
dump("p4.pkl", dict(batch(3, [1, 0, 1]), labels=np.array([1, 0, 1], dtype=np.int64)), 4)
p5 = batch(3, [2, 2, 0], dtype=np.float32, order="F")
dump("p5.pkl", p5, 5)
with open(os.path.join(out, "expected.json"), "w") as f:
    json.dump(expected, f, indent=0)
