#!/usr/bin/env bash
# Puts the SARIF 2.1.0 JSON schema where SarifReportTests look for it (it is not kept in this repository).
# The schema comes from the npm package @microsoft/jest-sarif (MIT), which ships OASIS's sarif-2.1.0-rtm.5.json.
set -euo pipefail
dest="${HARDEN_RUNNER_SARIF_SCHEMA:-${XDG_CACHE_HOME:-$HOME/.cache}/harden-runner/sarif-2.1.0-rtm.5.json}"
if [ -s "$dest" ]; then exit 0; fi
mkdir -p "$(dirname "$dest")"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
(cd "$work" && npm pack --silent @microsoft/jest-sarif@1.0.0-beta.0 >/dev/null && tar xzf ./*.tgz package/lib/schemas/sarif-2.1.0-rtm.5.json)
cp "$work/package/lib/schemas/sarif-2.1.0-rtm.5.json" "$dest.tmp" && mv "$dest.tmp" "$dest"
echo "sarif schema: $dest"
