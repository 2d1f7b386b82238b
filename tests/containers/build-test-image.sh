#!/usr/bin/env bash
# Builds the container image the end-to-end tests run, `hanzo-test-tools:1`,
# without a registry: a root filesystem holding busybox (Debian's
# busybox-static) and its applets, imported with `docker import`. Does
# nothing when the image exists.
set -euo pipefail
IMAGE="${1:-hanzo-test-tools:1}"
if docker image inspect "$IMAGE" >/dev/null 2>&1; then
    exit 0
fi
BUSYBOX="$(command -v busybox || echo /bin/busybox)"
# The image holds nothing else: busybox must need no shared library.
if [ ! -x "$BUSYBOX" ] || ldd "$BUSYBOX" >/dev/null 2>&1; then
    echo "a static busybox is missing: apt-get install busybox-static" >&2
    exit 1
fi
root="$(mktemp -d)"
trap 'rm -rf "$root"' EXIT
mkdir -p "$root/bin" "$root/tmp" "$root/etc"
cp "$BUSYBOX" "$root/bin/busybox"
for applet in $("$root/bin/busybox" --list); do
    [ "$applet" = busybox ] || ln -sf busybox "$root/bin/$applet"
done
echo "nobody:x:65534:65534:nobody:/tmp:/bin/sh" > "$root/etc/passwd"
tar -C "$root" -c . | docker import --change 'ENV PATH=/bin' --change 'CMD ["/bin/sh"]' - "$IMAGE" >/dev/null
echo "built $IMAGE"
