#!/usr/bin/env bash
# Run the exercise studies one after another (each resumable: rerunning continues where it
# stopped) and copy each report into benchmarks/studies/<name>/ (report.md, trials.csv, figures).
#   bash benchmarks/studies.sh [names...]     default: every studies/ex7_*.toml
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=${BIN:-.venv/bin}
names=("$@")
if [ ${#names[@]} -eq 0 ]; then
  names=(ex7_4_sms ex7_1 ex7_3 ex7_4_sst2 ex7_5 ex7_2 ex7_3_speech)
fi
for name in "${names[@]}"; do
  out=runs/studies/$name
  "$BIN/rnnkit" study run "studies/$name.toml" --out "$out" --workers 2
  "$BIN/rnnkit" study report "$out"
  mkdir -p "benchmarks/studies/$name"
  cp "$out"/report.md "$out"/trials.csv "benchmarks/studies/$name/"
  cp "$out"/*.png "benchmarks/studies/$name/" 2>/dev/null || true
done
