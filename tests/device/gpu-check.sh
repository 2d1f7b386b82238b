#!/usr/bin/env bash
# The GPU check for a lent GPU machine (issue 20): the node's inventory there,
# checked against nvidia-smi's. Prepare here with `make device-bundle`, then
# run through the device tool from the repository root, carrying target/device:
#   bash tests/device/gpu-check.sh
# It writes hardware.json and nvidia-smi.txt under $OUT when that is set.
set -euo pipefail
bin=${1:-target/device/hardware}
out=${OUT:-$(mktemp -d)}
[ -x "$bin" ] || { echo "$bin is missing: run make device-bundle (and carry target/device)" >&2; exit 2; }
command -v nvidia-smi >/dev/null || { echo "no nvidia-smi here: not a GPU machine" >&2; "$bin"; exit 2; }

nvidia-smi --query-gpu=index,name,uuid,memory.total,memory.free,utilization.gpu,temperature.gpu \
    --format=csv,noheader,nounits | tee "$out/nvidia-smi.csv"
{ nvidia-smi; nvidia-smi conf-compute -f 2>&1 || true; } > "$out/nvidia-smi.txt"
"$bin" | tee "$out/hardware.json"

python3 - "$out/hardware.json" "$out/nvidia-smi.csv" <<'PY'
import csv, json, sys
node = json.load(open(sys.argv[1]))
gpu = node["gpu"]
assert gpu["nvml"] and gpu["absent"] is None, f"NVML not loaded: {gpu['absent']}"
rows = [[c.strip() for c in r] for r in csv.reader(open(sys.argv[2])) if r]
by_uuid = {d["uuid"]: d for d in gpu["devices"]}
assert len(by_uuid) == len(rows), f"{len(by_uuid)} devices, nvidia-smi lists {len(rows)}"
for index, name, uuid, total, free, util, temp in rows:
    d = by_uuid[uuid]
    assert (d["index"], d["name"]) == (int(index), name), (d, name)
    assert d["memory_total_mb"] == int(total), (d, total)
    assert 0 < d["memory_free_mb"] <= d["memory_total_mb"], d
    print(f"GPU {index}: {name}, {total} MiB ({d['memory_free_mb']} free), "
          f"{d['temperature_c']} C, CC mode {d['confidential_computing']}: matches nvidia-smi")
print("tee:", node["tee"]["platform"], "tier", node["tee"]["tier"], "-", node["tee"]["reason"])
PY
