# Images for the real node, built locally (no registry, no container engine)
# and cached outside the repo keyed by their inputs. Sourced by
# tests/cluster/up; `node_images` prints nothing and leaves one
# docker-archive tarball per image in $IMAGE_DIR.
# shellcheck shell=bash

IMAGE_DIR="$CACHE_ROOT/images"
DEBIAN_SUITE=bookworm
DEBIAN_MIRROR="${TRACEVAL_DEBIAN_MIRROR:-http://deb.debian.org/debian}"
# What the Python base image holds: Debian's python3 and pip, and `python`
# (python-is-python3), the name examples/tracedservice.yaml starts.
PYTHON_PACKAGES=python3,python3-pip,python-is-python3
# Image names a pod can use (imagePullPolicy IfNotPresent or Never: there is
# no registry to pull from).
PAUSE_IMAGE=traceval.local/pause:3.10
PYTHON_IMAGE=traceval.local/python:3.11
JAEGER_IMAGE="traceval.local/jaeger:$JAEGER_VERSION"
RCLONE_IMAGE="traceval.local/rclone:$RCLONE_VERSION"
# The in-cluster package index: every wheel of tests/cluster/requirements.txt
# (the sample app's packages, the probe and what its bootstrap installs) and
# of node/index-requirements.txt (what a TracedService's init container
# resolves: its packages with the operator's default probe packages).
PYPI_IMAGE="traceval.local/pypi:$(cat "$CLUSTER_DIR/requirements.txt" "$CLUSTER_DIR/node/index-requirements.txt" |
  sha256sum | cut -c1-12)"

image_py() { python3 "$CLUSTER_DIR/node/image.py" "$@" >/dev/null; }
key_of() { sha256sum | cut -c1-12; }

# The pause image: pause.c ships inside the k8s.io/kubernetes module.
image_pause() {
  local out="$IMAGE_DIR/pause-$(printf '%s' "$KUBE_VERSION" | key_of).tar"
  [[ -f "$out" ]] && { echo "$out"; return 0; }
  local src work
  src="$(cd "$CLUSTER_DIR/tools/kube" && GOFLAGS=-mod=mod go mod download -json "k8s.io/kubernetes@$KUBE_VERSION" |
    sed -n 's/.*"Dir": "\(.*\)".*/\1/p')/build/pause/linux/pause.c"
  work="$(mktemp -d)"
  gcc -Os -static -DVERSION="$KUBE_VERSION" -o "$work/pause" "$src"
  strip "$work/pause"
  image_py --out "$out" --tag "$PAUSE_IMAGE" --layer "$work/pause=/pause" --entrypoint '["/pause"]' --user 65535:65535
  rm -rf "$work"
  echo "$out"
}

# The Python 3 base: debootstrap minbase plus python3 and pip, uid 1000
# named app. pip may install into --target dirs (the operator's init
# container does): Debian's EXTERNALLY-MANAGED marker is removed, as the
# official python images have none.
image_python() {
  local key out
  # Keyed by the suite, the packages and this function's own text.
  key="$(printf '%s %s %s' "$DEBIAN_SUITE" "$PYTHON_PACKAGES" "$(declare -f image_python)" | key_of)"
  out="$IMAGE_DIR/python-$key.tar"
  [[ -f "$out" ]] && { echo "$out"; return 0; }
  local root="$IMAGE_DIR/python-$key.rootfs"
  rm -rf "$root" "$root.tmp"
  log "debootstrap $DEBIAN_SUITE ($PYTHON_PACKAGES) for $PYTHON_IMAGE (about 2 minutes)"
  debootstrap --variant=minbase --include="$PYTHON_PACKAGES" "$DEBIAN_SUITE" "$root.tmp" "$DEBIAN_MIRROR" \
    >"$IMAGE_DIR/debootstrap.log" 2>&1 || die "debootstrap failed; see $IMAGE_DIR/debootstrap.log"
  rm -f "$root.tmp"/usr/lib/python3*/EXTERNALLY-MANAGED
  rm -rf "$root.tmp"/var/lib/apt/lists/* "$root.tmp"/var/cache/apt/* "$root.tmp"/usr/share/doc/* \
    "$root.tmp"/usr/share/man/* "$root.tmp"/usr/share/locale/*
  echo 'app:x:1000:1000:app:/tmp:/bin/sh' >>"$root.tmp/etc/passwd"
  echo 'app:x:1000:' >>"$root.tmp/etc/group"
  : >"$root.tmp/etc/resolv.conf"
  mv "$root.tmp" "$root"
  image_py --out "$out" --tag "$PYTHON_IMAGE" --layer "$root" --cmd '["python3"]' \
    --env PYTHONDONTWRITEBYTECODE=1 --env PYTHONUNBUFFERED=1
  rm -rf "$root"
  echo "$out"
}

# The python base plus a PEP 503 index of the wheels, served by http.server.
image_pypi() { # <python base tarball>
  local key="${PYPI_IMAGE##*:}" out
  out="$IMAGE_DIR/pypi-$key-$(basename "$1" .tar | cut -d- -f2).tar"
  [[ -f "$out" ]] && { echo "$out"; return 0; }
  local work="$IMAGE_DIR/pypi-$key.work"
  rm -rf "$work" && mkdir -p "$work/wheels" "$work/root/srv"
  log "downloading the wheels of requirements.txt for the in-cluster package index"
  local req
  for req in "$CLUSTER_DIR/requirements.txt" "$CLUSTER_DIR/node/index-requirements.txt"; do
    python3 -m pip download -q --disable-pip-version-check --only-binary=:all: \
      -r "$req" -d "$work/wheels" >>"$IMAGE_DIR/pypi.log" 2>&1 ||
      die "pip download -r $req failed; see $IMAGE_DIR/pypi.log"
  done
  python3 "$CLUSTER_DIR/node/pypi_index.py" "$work/wheels" "$work/root/srv/pypi" >/dev/null
  # The base's layer, byte for byte: containerd stores it once for both.
  local layer
  layer="$(tar -xOf "$1" manifest.json | python3 -c 'import json,sys; print(json.load(sys.stdin)[0]["Layers"][0])')"
  tar -xOf "$1" "$layer" >"$work/base.tar"
  image_py --out "$out" --tag "$PYPI_IMAGE" --layer "$work/base.tar" --layer "$work/root" \
    --entrypoint '["python3", "-m", "http.server", "8080", "--directory", "/srv/pypi"]' --user 1000:1000
  rm -rf "$work"
  echo "$out"
}

# A static Go binary as the only file of an image.
image_static() { # <tag> <binary> <dest>
  local tag="$1" bin="$2" dest="$3"
  local out="$IMAGE_DIR/$(basename "$dest")-$(sha256sum <"$bin" | cut -c1-12).tar"
  [[ -f "$out" ]] || image_py --out "$out" --tag "$tag" --layer "$bin=$dest" --entrypoint "[\"$dest\"]" --user 65532:65532
  echo "$out"
}

# The operator/evaluator image: the python base's layer (glibc, which the
# binary links) plus a stripped copy of a built `traceval` at
# /usr/local/bin/traceval, non-root 65532, entrypoint `traceval` as in the
# repository's Dockerfile. Tagged by the binary's hash, so each build of the
# binary is a new image name; the previous tarballs are removed.
TRACEVAL_IMAGE_REPO=traceval.local/traceval
image_traceval() { # <python base tarball> <traceval binary>
  local key out
  key="$(cat "$2" "$1" | key_of)"
  out="$IMAGE_DIR/traceval-$key.tar"
  if [[ ! -f "$out" ]]; then
    local work="$IMAGE_DIR/traceval-$key.work" layer
    rm -rf "$work" && mkdir -p "$work"
    strip -o "$work/traceval" "$2"
    layer="$(tar -xOf "$1" manifest.json | python3 -c 'import json,sys; print(json.load(sys.stdin)[0]["Layers"][0])')"
    tar -xOf "$1" "$layer" >"$work/base.tar"
    image_py --out "$out" --tag "$TRACEVAL_IMAGE_REPO:$key" --layer "$work/base.tar" \
      --layer "$work/traceval=/usr/local/bin/traceval" --entrypoint '["/usr/local/bin/traceval"]' \
      --cmd '["operator"]' --user 65532:65532
    rm -rf "$work"
    find "$IMAGE_DIR" -maxdepth 1 -name 'traceval-*.tar' ! -name "$(basename "$out")" -delete
  fi
  echo "$out"
}

# Every image the node imports, one tarball path a line.
node_images() {
  mkdir -p "$IMAGE_DIR"
  local python
  image_pause
  python="$(image_python)"
  echo "$python"
  image_pypi "$python"
  image_static "$JAEGER_IMAGE" "$BIN_DIR/jaeger" /jaeger
  image_static "$RCLONE_IMAGE" "$BIN_DIR/rclone" /usr/local/bin/rclone
}
