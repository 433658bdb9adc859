"""Runs a TracedService's app locally, exactly as the operator's Deployment
starts it: the app container's command, args and env are read from the
Deployment (`kubectl get deploy NAME -o json` on stdin), env is resolved as
the kubelet would (secrets read with kubectl, downward-API fields given fake
pod values, `$(VAR)` references expanded), mount paths are mapped to local
folders, and the process is exec'd.

kwok runs no containers, so this is how the demo (and a developer) sees the
generated start command really start the traced app.

    kubectl get deploy sample-app -n demo -o json > deployment.json
    python run_app.py --deployment deployment.json --namespace demo \\
        --mount /mnt/data=examples/sample-app \\
        --set DASHSCOPE_HTTP_BASE_URL=http://127.0.0.1:PORT/api/v1 --set PORT=18000
"""

import argparse
import base64
import json
import os
import re
import subprocess


def secret_value(namespace, name, key):
    out = subprocess.run(
        ["kubectl", "get", "secret", name, "-n", namespace, "-o", "json"],
        check=True, capture_output=True, text=True).stdout
    return base64.b64decode(json.loads(out)["data"][key]).decode()


def resolve_env(container, namespace, pod_name):
    fields = {
        "metadata.name": pod_name,
        "metadata.namespace": namespace,
        "spec.nodeName": "kwok-node-0",
        "status.podIP": "127.0.0.1",
    }
    env = {}
    for var in container.get("env", []):
        if "value" in var:
            env[var["name"]] = re.sub(
                r"\$\(([A-Za-z_][A-Za-z0-9_]*)\)",
                lambda m: env.get(m.group(1), m.group(0)), var["value"])
        elif "valueFrom" in var:
            source = var["valueFrom"]
            if "fieldRef" in source:
                env[var["name"]] = fields[source["fieldRef"]["fieldPath"]]
            elif "secretKeyRef" in source:
                ref = source["secretKeyRef"]
                env[var["name"]] = secret_value(namespace, ref["name"], ref["key"])
            else:
                raise SystemExit("run_app: unsupported env source %r" % (source,))
        else:
            env[var["name"]] = ""
    return env


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--deployment", required=True, help="kubectl get deploy -o json output")
    parser.add_argument("--namespace", required=True)
    parser.add_argument("--mount", action="append", default=[], help="PATH=LOCAL_DIR")
    parser.add_argument("--set", action="append", default=[], help="NAME=VALUE env override")
    parser.add_argument("--print", action="store_true", help="print argv and exit")
    args = parser.parse_args()

    with open(args.deployment) as f:
        deployment = json.load(f)
    container = deployment["spec"]["template"]["spec"]["containers"][0]
    argv = container.get("command", []) + container.get("args", [])
    if not argv:
        raise SystemExit("run_app: the app container has no command")
    for mount in args.mount:
        path, local = mount.split("=", 1)
        local = os.path.abspath(local)
        argv = [a.replace(path.rstrip("/"), local) for a in argv]

    env = {"PATH": os.environ["PATH"], "HOME": os.environ.get("HOME", "/tmp")}
    env.update(resolve_env(container, args.namespace, deployment["metadata"]["name"] + "-local"))
    env["PYTHONPATH"] = ""  # the packages volume is the venv here
    env.pop("PIP_TARGET", None)  # so the probe's bootstrap step installs into the venv
    for item in args.set:
        name, value = item.split("=", 1)
        env[name] = value
    if args.print:
        print(json.dumps(argv))
        return
    os.execvpe(argv[0], argv, env)


if __name__ == "__main__":
    main()
