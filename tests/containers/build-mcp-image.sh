#!/usr/bin/env bash
# Builds the container image of a real stdio MCP server, `hanzo-test-mcp:1`,
# without a registry: a root filesystem holding the Python interpreter of the
# tests' venv (`make pyenv`), the shared libraries it and the packages'
# extension modules load, its standard library, the `mcp` package and what it
# requires, and `mcp_stdio_server.py` at /srv, imported with `docker import`.
# Files keep the paths they have here (the interpreter finds its standard
# library from where it lies); the packages go to /srv/site-packages. Does
# nothing when the image exists.
#
#     tests/containers/build-mcp-image.sh [IMAGE]    # venv: $PYENV
set -euo pipefail
IMAGE="${1:-hanzo-test-mcp:1}"
PYENV="${PYENV:-$HOME/.cache/hanzo-node/pyenv}"
SERVER="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/mcp_stdio_server.py"
SITE=/srv/site-packages # where the packages lie in the image

if docker image inspect "$IMAGE" >/dev/null 2>&1; then
    exit 0
fi
PY="$PYENV/bin/python"
if [ ! -x "$PY" ]; then
    echo "no Python venv at $PYENV: run \`make pyenv\` (or set PYENV to the venv)" >&2
    exit 1
fi
if ! "$PY" -c 'import mcp.server.mcpserver' 2>/dev/null; then
    echo "the venv $PYENV lacks the \`mcp\` package: run \`make pyenv\`" >&2
    exit 1
fi

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
root="$work/root"
mkdir -p "$root"

# Ask the venv's Python where things are: lines `KIND<TAB>PATH`, where KIND is
# exe (the interpreter binary), stdlib (a standard library directory), lib (a
# shared library to copy besides those ldd finds), site (a site-packages
# directory of the venv) and file (a file, relative to the site directory
# before it, of a distribution `mcp` needs at run time).
"$PY" - >"$work/manifest" <<'EOF'
import ctypes
import importlib.metadata as metadata
import os
import sys
import sysconfig

try:
    from packaging.requirements import Requirement
except ImportError:
    from pip._vendor.packaging.requirements import Requirement

print("exe", os.path.realpath(getattr(sys, "_base_executable", sys.executable)), sep="\t")

# The base installation's standard library (a venv's own platstdlib is the venv).
base = {"base": sys.base_prefix, "platbase": sys.base_exec_prefix,
        "installed_base": sys.base_prefix, "installed_platbase": sys.base_exec_prefix}
stdlib = {sysconfig.get_path(name, vars=base) for name in ("stdlib", "platstdlib")}
stdlib |= {p for p in sys.path if os.path.basename(p) == "lib-dynload"}
for path in sorted(os.path.realpath(p) for p in stdlib if os.path.isdir(p)):
    print("stdlib", path, sep="\t")

# glibc loads libgcc_s when a thread exits through pthread_exit: nothing links it.
try:
    ctypes.CDLL("libgcc_s.so.1")
    with open("/proc/self/maps") as maps:
        for line in maps:
            if "/libgcc_s.so" in line:
                print("lib", line.split()[-1], sep="\t")
                break
except OSError:
    pass

# `mcp` and what it requires, with extras, under this Python's markers.
wanted, seen, queue = {}, set(), [("mcp", frozenset())]
while queue:
    name, extras = queue.pop()
    try:
        dist = metadata.distribution(name)
    except metadata.PackageNotFoundError:
        sys.exit(f"{name}, which mcp needs, is not installed in {sys.prefix}")
    key = dist.metadata["Name"].lower().replace("_", "-")
    if (key, extras) in seen:
        continue
    seen.add((key, extras))
    wanted[key] = dist
    for text in dist.requires or []:
        req = Requirement(text)
        if req.marker and not any(req.marker.evaluate({"extra": e}) for e in (extras or {""})):
            continue
        queue.append((req.name, frozenset(req.extras)))

sites = sorted({os.path.realpath(sysconfig.get_path(n)) for n in ("purelib", "platlib")})
files = {site: set() for site in sites}
for dist in wanted.values():
    for f in dist.files or []:
        path = os.path.realpath(dist.locate_file(f))
        if "__pycache__" in path.split(os.sep) or not os.path.isfile(path):
            continue
        for site in sites:
            if path.startswith(site + os.sep):
                files[site].add(os.path.relpath(path, site))
                break
for site in sites:
    print("site", site, sep="\t")
    for f in sorted(files[site]):
        print("file", f, sep="\t")
EOF

# Debian's merged /usr: /lib, /lib64, /bin, /sbin are links into /usr.
for d in bin sbin lib lib32 lib64 libx32; do
    if [ -L "/$d" ] && [ "$(readlink -f "/$d")" = "/usr/$d" ]; then
        mkdir -p "$root/usr/$d"
        ln -s "usr/$d" "$root/$d"
    fi
done

exe=""
extra_libs=()
site=""
: >"$work/files"
while IFS=$'\t' read -r kind path; do
    case "$kind" in
    exe) exe="$path" ;;
    stdlib)
        # The standard library without its tests, Tk, site directories and
        # static library; bytecode is compiled afresh below.
        mkdir -p "$root$path"
        tar -C "$path" -c \
            --exclude=__pycache__ --exclude=site-packages --exclude=dist-packages \
            --exclude=test --exclude=tests --exclude=idle_test --exclude=idlelib \
            --exclude=tkinter --exclude=turtledemo --exclude=ensurepip \
            --exclude='config-*' --exclude='_tkinter.*.so' --exclude='_test*.so' \
            --exclude='_ctypes_test.*.so' --exclude='xx*.so' --exclude='_xx*.so' \
            . | tar -C "$root$path" -x
        ;;
    lib) extra_libs+=("$path") ;;
    site)
        [ -z "$site" ] || tar -C "$site" -c --null -T "$work/files" | tar -C "$root$SITE" -x
        site="$path"
        mkdir -p "$root$SITE"
        : >"$work/files"
        ;;
    file) printf '%s\0' "$path" >>"$work/files" ;;
    esac
done <"$work/manifest"
[ -z "$site" ] || tar -C "$site" -c --null -T "$work/files" | tar -C "$root$SITE" -x

bindir="$(dirname "$exe")"
mkdir -p "$root$bindir"
cp -p "$exe" "$root$exe"
[ -e "$root$bindir/python3" ] || ln -s "$(basename "$exe")" "$root$bindir/python3"

# The shared libraries (and the dynamic loader) the interpreter and every
# extension module load, each at the path it has here. Libraries an extension
# module brings along (found through its $ORIGIN) are in the tree already.
{
    printf '%s\n' "${extra_libs[@]}"
    {
        ldd "$exe"
        find "$root" -type f \( -name '*.so' -o -name '*.so.*' \) -print0 | xargs -0 ldd || true
    } 2>/dev/null |
        awk '/=> not found/ { print "missing " $1; next }
             $2 == "=>" && $3 ~ /^\// { print $3; next }
             $1 ~ /^\// && $2 ~ /^\(/ { print $1 }'
} | sort -u >"$work/libs"
if grep '^missing ' "$work/libs" >&2; then
    echo "(extension modules needing those libraries cannot load in $IMAGE)" >&2
fi
while read -r lib; do
    case "$lib" in "" | missing\ * | "$root"/*) continue ;; esac
    if [ ! -e "$root$lib" ]; then
        mkdir -p "$root$(dirname "$lib")"
        cp -L "$lib" "$root$lib"
    fi
done <"$work/libs"
# Debug information is most of an unstripped build's size (pyenv's libpython:
# 23 MB, 6 MB without); symbols stay.
if command -v strip >/dev/null; then
    find "$root" -type f \( -name '*.so' -o -name '*.so.*' -o -path "$root$exe" \) \
        -exec strip --strip-debug {} + 2>/dev/null || true
fi

# Bytecode, so that start-up compiles nothing (the image never writes any).
mapfile -t stdlibs < <(awk -F'\t' -v root="$root" '$1 == "stdlib" { print root $2 }' "$work/manifest")
"$PY" -m compileall -q -j 0 -s "$root" -p / "$root$SITE" "${stdlibs[@]}" >/dev/null ||
    echo "some modules did not compile (they compile at import, if they are imported)" >&2

mkdir -p "$root/srv" "$root/etc" "$root/tmp"
chmod 1777 "$root/tmp"
cp "$SERVER" "$root/srv/mcp_stdio_server.py"
echo "nobody:x:65534:65534:nobody:/tmp:/usr/sbin/nologin" >"$root/etc/passwd"
echo "nogroup:x:65534:" >"$root/etc/group"

path=/usr/local/bin:/usr/bin:/bin
case ":$path:" in *":$bindir:"*) ;; *) path="$bindir:$path" ;; esac
tar -C "$root" -c . | docker import \
    --change "ENV PATH=$path" \
    --change "ENV PYTHONPATH=$SITE" \
    --change 'ENV PYTHONDONTWRITEBYTECODE=1' \
    --change 'CMD ["python3", "/srv/mcp_stdio_server.py"]' \
    - "$IMAGE" >/dev/null
echo "built $IMAGE"
