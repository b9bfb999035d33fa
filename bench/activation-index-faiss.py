"""FAISS, the reference of the field, as one engine of bench/activation-index.ts (optional: needs
python3 with numpy and faiss-cpu; `pip install faiss-cpu`). faiss-node cannot install offline,
so FAISS runs here through Python on the same files the other engines read.

  python3 activation-index-faiss.py build  hnsw WORKDIR ROWS
  python3 activation-index-faiss.py search hnsw|flat WORKDIR ROWS EF

Cosine = inner product over unit rows (rows and queries are normalised here). Prints one JSON line.
"""
import json
import os
import resource
import sys
import time

import faiss
import numpy as np

D, K, THREADS = 128, 10, 2


def rss_bytes():
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    return 0


def peak_bytes():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def unit(x):
    x = np.ascontiguousarray(x, dtype=np.float32)
    faiss.normalize_L2(x)
    return x


phase, kind, work, rows = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
faiss.omp_set_num_threads(THREADS)
path = f"{work}/faiss-hnsw.bin"
if phase == "build":
    before = rss_bytes()
    data = unit(np.fromfile(f"{work}/rows.f32", dtype=np.float32, count=rows * D).reshape(rows, D))
    loaded = rss_bytes()
    t = time.perf_counter()
    cpu = time.process_time()
    index = faiss.IndexHNSWFlat(D, 16, faiss.METRIC_INNER_PRODUCT)
    index.hnsw.efConstruction = 128
    index.add(data)
    seconds = time.perf_counter() - t
    cpu_seconds = time.process_time() - cpu
    after = rss_bytes()
    faiss.write_index(index, path)
    print(json.dumps({"seconds": seconds, "cpuSeconds": cpu_seconds, "load": list(os.getloadavg()), "rows": index.ntotal, "peakRss": peak_bytes(), "before": before, "indexRss": after - loaded, "fileBytes": os.path.getsize(path)}))
else:
    ef = int(sys.argv[5])
    queries = unit(np.fromfile(f"{work}/queries.f32", dtype=np.float32).reshape(-1, D))
    before = rss_bytes()
    t = time.perf_counter()
    if kind == "hnsw":
        index = faiss.read_index(path)
        index.hnsw.efSearch = ef
        faiss.omp_set_num_threads(1)
    else:
        index = faiss.IndexFlatIP(D)
        index.add(unit(np.fromfile(f"{work}/rows.f32", dtype=np.float32, count=rows * D).reshape(rows, D)))
    open_seconds = time.perf_counter() - t
    first_pass = []
    for i in range(len(queries)):
        t = time.perf_counter()
        index.search(queries[i : i + 1], K)
        first_pass.append((time.perf_counter() - t) * 1000)
    latencies, out = [], []
    for i in range(len(queries)):
        t = time.perf_counter()
        _, ids = index.search(queries[i : i + 1], K)
        latencies.append((time.perf_counter() - t) * 1000)
        out.extend(int(x) for x in ids[0])
    print(json.dumps({"ef": ef, "load": list(os.getloadavg()), "openSeconds": open_seconds, "firstPass": first_pass, "latencies": latencies, "rows": out, "rss": rss_bytes(), "before": before, "peakRss": peak_bytes()}))
