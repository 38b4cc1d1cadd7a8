#!/usr/bin/env bash
# Before/after on one busy machine: `zhumq bench` against a fresh `zhumq dev --brokers 1` of each
# checkout, interleaved (A B B A ...), so both meet the same load. Prints every run's produce and
# consume lines; compare the medians of one run only.
#
#   bench/ab.sh BEFORE_DIR AFTER_DIR [ROUNDS] -- <zhumq bench flags>
#   e.g. git archive <commit> | tar -x -C /tmp/before && ln -s "$PWD/node_modules" /tmp/before/
#        bench/ab.sh /tmp/before . 2 -- --messages 50000 --size 1024 --acks 1 --partitions 100
#
# ZHUMQ_NODE_FLAGS: extra node flags for the bench client (e.g. --heap-prof).
set -euo pipefail
before=$(cd "$1" && pwd)
after=$(cd "$2" && pwd)
rounds=${3:-2}
shift 3
[[ ${1:-} == "--" ]] && shift
port=${ZHUMQ_AB_PORT:-19390}

run_one() {
  local label=$1 dir=$2 data
  shift 2
  data=$(mktemp -d)
  node "$dir/bin/zhumq.js" dev --brokers 1 --port "$port" --data "$data" --ui-listen off --metrics-port none >"$data.log" 2>&1 &
  local dev=$!
  for _ in $(seq 1 100); do grep -q "ready in" "$data.log" 2>/dev/null && break; sleep 0.2; done
  # shellcheck disable=SC2086
  node ${ZHUMQ_NODE_FLAGS:-} "$dir/bin/zhumq.js" bench --bootstrap "127.0.0.1:$port" "$@" 2>&1 | grep -E "^  (produce|consume)" | sed "s/^/$label /" || true
  kill "$dev" 2>/dev/null || true
  wait "$dev" 2>/dev/null || true
  rm -rf "$data" "$data.log"
}

for round in $(seq 1 "$rounds"); do
  if (( round % 2 == 1 )); then
    run_one before "$before" "$@"; run_one after "$after" "$@"
  else
    run_one after "$after" "$@"; run_one before "$before" "$@"
  fi
done
