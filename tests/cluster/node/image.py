#!/usr/bin/env python3
"""Writes a docker-archive image tarball (what `ctr images import` reads) from
directories or files, without a registry or a container engine.

    image.py --out python.tar --tag traceval.local/python:3.11 \
        --layer /cache/rootfs --layer extra-dir [--entrypoint '["/pause"]'] \
        [--cmd '["python3"]'] [--env K=V] [--user 1000] [--workdir /]

Each --layer is a directory whose tree becomes one layer (paths relative to
it), `SRC=DEST` to put one file at DEST, or a layer tarball (`*.tar`) taken
as is. Layers are written with fixed
mtimes and sorted entries, so the same inputs give the same image ID: the
import can be skipped when the node already has it.
"""

import argparse
import hashlib
import io
import json
import os
import sys
import tarfile

# Mount points the runtime fills in; their contents never go into an image.
SKIP_CONTENTS = {"dev", "proc", "sys", "run"}
MTIME = 0


def normalise(info: tarfile.TarInfo) -> tarfile.TarInfo:
    info.mtime = MTIME
    info.uname = info.gname = ""
    return info


def add_tree(tar: tarfile.TarFile, root: str) -> None:
    for dirpath, dirnames, filenames in os.walk(root):
        rel = os.path.relpath(dirpath, root)
        dirnames.sort()
        if rel != ".":
            tar.addfile(normalise(tar.gettarinfo(dirpath, arcname=rel)))
        if rel in SKIP_CONTENTS:
            dirnames[:] = []
            continue
        for name in sorted(filenames + [d for d in dirnames if os.path.islink(os.path.join(dirpath, d))]):
            path = os.path.join(dirpath, name)
            arc = os.path.normpath(os.path.join(rel, name))
            info = tar.gettarinfo(path, arcname=arc)
            if info is None:  # a socket: nothing an image can hold
                continue
            info = normalise(info)
            if info.isreg():
                with open(path, "rb") as f:
                    tar.addfile(info, f)
            else:
                tar.addfile(info)
        dirnames[:] = [d for d in dirnames if not os.path.islink(os.path.join(dirpath, d))]


def add_file(tar: tarfile.TarFile, src: str, dest: str) -> None:
    dest = dest.lstrip("/")
    parts = dest.split("/")[:-1]
    for i in range(len(parts)):
        info = tarfile.TarInfo("/".join(parts[: i + 1]))
        info.type, info.mode = tarfile.DIRTYPE, 0o755
        tar.addfile(normalise(info))
    info = normalise(tar.gettarinfo(src, arcname=dest))
    info.uid = info.gid = 0
    with open(src, "rb") as f:
        tar.addfile(info, f)


def layer(spec: str) -> bytes:
    if spec.endswith(".tar") and os.path.isfile(spec):  # a layer tarball as is
        with open(spec, "rb") as f:
            return f.read()
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tar:
        if "=" in spec:
            src, dest = spec.split("=", 1)
            add_file(tar, src, dest)
        elif os.path.isdir(spec):
            add_tree(tar, spec)
        else:
            sys.exit(f"image.py: layer {spec!r} is neither a directory nor SRC=DEST")
    return buf.getvalue()


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--out", required=True)
    p.add_argument("--tag", required=True)
    p.add_argument("--layer", action="append", required=True)
    p.add_argument("--entrypoint", type=json.loads, help="a JSON list")
    p.add_argument("--cmd", type=json.loads, help="a JSON list")
    p.add_argument("--env", action="append", default=[])
    p.add_argument("--user")
    p.add_argument("--workdir")
    a = p.parse_args()

    layers = [layer(spec) for spec in a.layer]
    diff_ids = ["sha256:" + hashlib.sha256(b).hexdigest() for b in layers]
    env = ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", *a.env]
    config = {"Env": env}
    if a.entrypoint is not None:
        config["Entrypoint"] = a.entrypoint
    if a.cmd is not None:
        config["Cmd"] = a.cmd
    if a.user:
        config["User"] = a.user
    if a.workdir:
        config["WorkingDir"] = a.workdir
    image = {
        "architecture": "amd64",
        "os": "linux",
        "created": "1970-01-01T00:00:00Z",
        "config": config,
        "rootfs": {"type": "layers", "diff_ids": diff_ids},
        "history": [{"created": "1970-01-01T00:00:00Z", "created_by": "tests/cluster/node/image.py"}] * len(layers),
    }
    config_bytes = json.dumps(image, sort_keys=True).encode()
    config_name = hashlib.sha256(config_bytes).hexdigest() + ".json"
    layer_names = [d.split(":", 1)[1] + "/layer.tar" for d in diff_ids]
    manifest = [{"Config": config_name, "RepoTags": [a.tag], "Layers": layer_names}]

    tmp = a.out + ".tmp"
    with tarfile.open(tmp, mode="w") as out:
        def put(name: str, data: bytes) -> None:
            info = normalise(tarfile.TarInfo(name))
            info.size, info.mode = len(data), 0o644
            out.addfile(info, io.BytesIO(data))
        put(config_name, config_bytes)
        for name, data in zip(layer_names, layers):
            put(name, data)
        put("manifest.json", json.dumps(manifest).encode())
    os.replace(tmp, a.out)
    print(config_name.removesuffix(".json"))


if __name__ == "__main__":
    main()
