#!/usr/bin/env bash
# Re-lock the local environment: requirements.txt (what MWAA installs) + dev.in, pinned to
# the versions MWAA 3.3.1 runs. The constraints URL line is dropped for the local resolver
# (it needs the network); pins-mwaa-3.3.1.txt carries the versions that matter from it.
set -euo pipefail
cd "$(dirname "$0")"
grep -v '^--constraint' ../requirements.txt > runtime.in
uv pip compile --universal --python-version 3.11 dev.in -c pins-mwaa-3.3.1.txt -o lock.txt --no-header "$@"
rm runtime.in
