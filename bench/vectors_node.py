"""The vector store through a running node (api-v2 over HTTP, texts embedded by
the offline `local` plugin): ingest, embedding and search latencies.

usage: python3 bench/vectors_node.py HOST PORT   (against `make run`'s node)
"""
import http.client, json, time, statistics, sys, random
host, port = sys.argv[1], int(sys.argv[2])
c = http.client.HTTPConnection(host, port)
def call(method, path, body=None):
    c.request(method, path, body=json.dumps(body) if body is not None else None, headers={"content-type": "application/json"})
    r = c.getresponse(); data = r.read()
    return r.status, json.loads(data)
def timed(n, f):
    ts = []
    for i in range(n):
        t = time.perf_counter(); f(i); ts.append((time.perf_counter() - t) * 1000)
    ts.sort()
    return statistics.median(ts), ts[int(len(ts) * 0.99) - 1]
words = "cat dog guitar stock market rust compiler web assembly plugin node vector search database kitten sofa music concert rain weather".split()
random.seed(7)
texts = [" ".join(random.choice(words) for _ in range(12)) + f" number {i}" for i in range(1000)]
s, v = call("POST", "/v2/collections", {"name": "bench", "model": "local/all-minilm-l6-v2", "fields": {"n": "int"}})
assert s == 201, v
t = time.perf_counter()
for i in range(0, 1000, 100):
    s, v = call("POST", "/v2/collections/bench/records", {"records": [{"id": f"d{j}", "text": texts[j], "metadata": {"n": j}} for j in range(i, i + 100)]})
    assert s == 200, v
ingest = time.perf_counter() - t
print(f"ingest 1000 texts (embedded by local, 100 per request): {ingest:.1f} s = {1000/ingest:.0f} texts/s")
p50, p99 = timed(50, lambda i: call("POST", "/v2/embeddings/generate", {"input": texts[i]}))
print(f"/v2/embeddings/generate, one text: p50 {p50:.1f} ms p99 {p99:.1f} ms")
s, v = call("POST", "/v2/embeddings/generate", {"input": "a kitten on the sofa"}); vec = v["embeddings"][0]
p50, p99 = timed(200, lambda i: call("POST", "/v2/embeddings/search", {"collection": "bench", "vector": vec, "k": 10}))
print(f"/v2/embeddings/search by vector (1000 rows, scan): p50 {p50:.2f} ms p99 {p99:.2f} ms")
p50, p99 = timed(200, lambda i: call("POST", "/v2/embeddings/search", {"collection": "bench", "vector": vec, "k": 10, "filter": "n < 500"}))
print(f"... with a filter: p50 {p50:.2f} ms p99 {p99:.2f} ms")
p50, p99 = timed(100, lambda i: call("POST", "/v2/embeddings/search", {"collection": "bench", "text": texts[i][:40], "k": 10}))
print(f"/v2/embeddings/search by text (embedded, hybrid): p50 {p50:.1f} ms p99 {p99:.1f} ms")
p50, p99 = timed(200, lambda i: call("POST", "/v2/embeddings/search", {"collection": "bench", "text": "kitten sofa", "mode": "text", "k": 10}))
print(f"/v2/embeddings/search full text: p50 {p50:.2f} ms p99 {p99:.2f} ms")
