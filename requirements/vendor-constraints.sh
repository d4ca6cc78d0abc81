#!/usr/bin/env bash
# Vendor Airflow's constraints for 3.3.1 / Python 3.12 (what MWAA applies to requirements.txt) as
# constraints-airflow-3.3.1-py3.12.txt, under a header that names the URL and the commit of the
# constraints-3.3.1 ref. Needs github.com. Then: `make lock`, and tests/test_requirements.py.
set -euo pipefail
cd "$(dirname "$0")"
AIRFLOW=3.3.1
PYTHON=3.12
REF=constraints-$AIRFLOW
URL=https://raw.githubusercontent.com/apache/airflow/$REF/constraints-$PYTHON.txt
OUT=constraints-airflow-$AIRFLOW-py$PYTHON.txt

# The commit the ref points at (an annotated tag's ^{} line names the commit, not the tag object).
refs=$(git ls-remote https://github.com/apache/airflow "refs/tags/$REF" "refs/tags/$REF^{}" "refs/heads/$REF")
commit=$(grep -F "^{}" <<<"$refs" | cut -f1 || true)
commit=${commit:-$(head -1 <<<"$refs" | cut -f1)}
[[ $commit =~ ^[0-9a-f]{40}$ ]] || { echo "vendor-constraints: no $REF ref at github.com/apache/airflow" >&2; exit 1; }
{
  echo "# Vendored from $URL"
  echo "# ($REF at commit $commit) by requirements/vendor-constraints.sh on $(date -u +%Y-%m-%d)."
  echo "# Do not edit: re-run the script. Airflow's own header follows."
  curl -fsSL --retry 3 "https://raw.githubusercontent.com/apache/airflow/$commit/constraints-$PYTHON.txt"
} > "$OUT.tmp"
mv "$OUT.tmp" "$OUT"
echo "wrote requirements/$OUT ($(grep -c '^[A-Za-z0-9]' "$OUT") pins, commit $commit); now run make lock"
