#!/usr/bin/env bash
# Prints docker/k8s/configmap.yaml: the ConfigMap ssp-tui-config holding the repo's config.ini
# unchanged (the pods mount it at /etc/ssp-tui/config.ini; their settings come from
# docker/k8s/settings.yaml as SSP__ variables, which win over the file). kustomize cannot read
# files outside docker/k8s, hence a generated file, committed:
#   scripts/k8s-configmap.sh > docker/k8s/configmap.yaml
# scripts/check-containers.sh fails when the committed file is not what this prints.
set -euo pipefail
cd "$(dirname "$0")/.."

cat <<'HEAD'
# Generated from config.ini by scripts/k8s-configmap.sh: do not edit by hand; after a change
# to config.ini run  scripts/k8s-configmap.sh > docker/k8s/configmap.yaml
# Pods read the file at start: kubectl rollout restart deployment -n ssp  after a change.
apiVersion: v1
kind: ConfigMap
metadata:
  name: ssp-tui-config
  labels:
    app.kubernetes.io/name: ssp-tui
data:
  config.ini: |
HEAD
# A literal block: every non-empty line indented by four spaces, empty lines left empty.
sed -e 's/^./    &/' config.ini
