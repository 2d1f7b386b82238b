"""sqlite-vec on the benchmark's data: the exact top-k of each query, one
at a time; prints p50 ms, p99 ms and recall@k against the given truth.

    python sqlite_vec_bench.py DIR DIM K      (DIR holds data.f32, queries.f32, truth.txt)
"""

import sqlite3
import sys
import time
from pathlib import Path

try:
    import sqlite_vec
except ImportError:
    sys.exit("sqlite-vec is not installed (pip install sqlite-vec)")

directory, dim, k = Path(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
row = 4 * dim
data = (directory / "data.f32").read_bytes()
queries = (directory / "queries.f32").read_bytes()
truth = [set(map(int, line.split())) for line in (directory / "truth.txt").read_text().splitlines()]

db = sqlite3.connect(str(directory / "sqlite-vec.db"))
db.enable_load_extension(True)
sqlite_vec.load(db)
db.enable_load_extension(False)
db.execute(f"CREATE VIRTUAL TABLE v USING vec0(embedding float[{dim}] distance_metric=cosine)")
with db:
    db.executemany(
        "INSERT INTO v(rowid, embedding) VALUES (?, ?)",
        ((i, data[i * row:(i + 1) * row]) for i in range(len(data) // row)),
    )

times, found = [], 0
n = len(queries) // row
for i in range(n):
    q = queries[i * row:(i + 1) * row]
    started = time.perf_counter()
    hits = db.execute(
        "SELECT rowid FROM v WHERE embedding MATCH ? AND k = ? ORDER BY distance", (q, k)
    ).fetchall()
    times.append((time.perf_counter() - started) * 1000)
    found += len({h[0] for h in hits} & truth[i])
times.sort()
print(f"{times[len(times) // 2]:.3f} {times[int((len(times) - 1) * 0.99)]:.3f} {found / (k * n):.4f}")
