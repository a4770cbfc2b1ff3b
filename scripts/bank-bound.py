#!/usr/bin/env python3
"""How much of a model's position-free bank an exact nearest-member search could skip (docs/speed.md, "Cold start").

For an orthonormal basis P, |P(q - m)| <= |q - m|: a member whose distance in the bank's first k principal
directions already exceeds the query's nearest distance cannot be the nearest, and needs no full product. This prints,
for k = 32 ... 256, how many members such a bound leaves to be measured in full. The queries are members of the bank
searched among the others (leave-one-out): a pessimistic stand-in for test patches, since the coreset spreads its
members apart. A measurement, not part of npad; needs Debian's python3-numpy.

    python3 scripts/bank-bound.py MODEL.npad [--queries 300]
"""
import json
import struct
import sys

import numpy as np


def read_bank(path):
    with open(path, 'rb') as f:
        n = struct.unpack('<Q', f.read(8))[0]
        header = json.loads(f.read(n))
        t = header['bank']
        if t['dtype'] not in ('F16', 'F32'):
            sys.exit(f'{path}: bank stored as {t["dtype"]}, expected F16 or F32')
        begin, end = t['data_offsets']
        f.seek(8 + n + begin)
        dtype = np.float16 if t['dtype'] == 'F16' else np.float32
        return np.frombuffer(f.read(end - begin), dtype=dtype).reshape(t['shape']).astype(np.float32)


def main():
    if len(sys.argv) < 2:
        sys.exit(__doc__)
    queries = int(sys.argv[sys.argv.index('--queries') + 1]) if '--queries' in sys.argv else 300
    bank = read_bank(sys.argv[1])
    rng = np.random.default_rng(0)
    sample = bank[rng.choice(len(bank), min(8000, len(bank)), replace=False)]
    mean = sample.mean(0)
    values, vectors = np.linalg.eigh(np.cov((sample - mean).T))
    values, vectors = values[::-1], vectors[:, ::-1]
    print(f'{sys.argv[1]}: {len(bank)} members of {bank.shape[1]} values; {queries} of them searched among the others')
    picked = rng.choice(len(bank), queries, replace=False)
    q = bank[picked]
    rows = np.arange(queries)

    def squared_distances(a, b):
        d = (a * a).sum(1)[:, None] - 2 * a @ b.T + (b * b).sum(1)[None, :]
        d[rows, picked] = np.inf
        return d

    nearest = squared_distances(q, bank).min(1)
    print('k | variance captured | members left to measure in full: mean, median, 90th percentile, largest')
    for k in (32, 64, 128, 256):
        basis = vectors[:, :k]
        left = (squared_distances((q - mean) @ basis, (bank - mean) @ basis) < nearest[:, None]).sum(1)
        print(f'{k} | {values[:k].sum() / values.sum():.3f} | {left.mean():.0f} ({100 * left.mean() / len(bank):.2f} %), '
              f'{np.median(left):.0f}, {np.percentile(left, 90):.0f}, {left.max()}')


main()
