#!/usr/bin/env python3
"""Lays out downloaded wheels as a PEP 503 "simple" package index that a
static file server can serve (pods on the node cannot reach PyPI):

    pypi_index.py WHEELS_DIR OUT_DIR

OUT_DIR/files/<wheel> and OUT_DIR/simple/<project>/index.html, each link
carrying the file's sha256 so pip checks what it downloads.
"""

import hashlib
import html
import os
import re
import shutil
import sys


def project(wheel: str) -> str:
    # {distribution}-{version}(-{build})?-{python}-{abi}-{platform}.whl
    return re.sub(r"[-_.]+", "-", wheel.split("-", 1)[0]).lower()


def main() -> None:
    wheels, out = sys.argv[1], sys.argv[2]
    os.makedirs(os.path.join(out, "files"), exist_ok=True)
    projects: dict[str, list[tuple[str, str]]] = {}
    for name in sorted(os.listdir(wheels)):
        if not name.endswith(".whl"):
            sys.exit(f"pypi_index.py: {name} is not a wheel (download with --only-binary=:all:)")
        src = os.path.join(wheels, name)
        shutil.copyfile(src, os.path.join(out, "files", name))
        with open(src, "rb") as f:
            digest = hashlib.sha256(f.read()).hexdigest()
        projects.setdefault(project(name), []).append((name, digest))
    links = []
    for proj, files in sorted(projects.items()):
        os.makedirs(os.path.join(out, "simple", proj), exist_ok=True)
        body = "".join(
            f'<a href="../../files/{html.escape(n)}#sha256={d}">{html.escape(n)}</a><br>\n' for n, d in files
        )
        with open(os.path.join(out, "simple", proj, "index.html"), "w") as f:
            f.write(f"<!DOCTYPE html>\n<html><body>\n{body}</body></html>\n")
        links.append(f'<a href="{proj}/">{proj}</a><br>\n')
    with open(os.path.join(out, "simple", "index.html"), "w") as f:
        f.write("<!DOCTYPE html>\n<html><body>\n" + "".join(links) + "</body></html>\n")
    print(f"{sum(len(v) for v in projects.values())} wheels, {len(projects)} projects")


if __name__ == "__main__":
    main()
