#!/usr/bin/env bash
# Load-independent before/after: CPU time and V8 heap bytes allocated per message, of the client
# (`zhumq bench`) and of the server (a fresh `zhumq dev --brokers 1`), for each of two checkouts,
# interleaved (before, after, after, before, ...). On a shared machine msg/s says more about the
# other sessions than about the code; CPU seconds and bytes allocated for a fixed workload do not.
#
#   bench/cpu-ab.sh BEFORE_DIR AFTER_DIR [ROUNDS] -- <zhumq bench flags, with --messages N>
#   e.g. git archive main | tar -x -C /tmp/before && ln -s "$PWD/node_modules" /tmp/before/
#        bench/cpu-ab.sh /tmp/before . 2 -- --messages 50000 --size 1024 --acks 1 --partitions 1
#
# Per run it prints: client CPU µs/msg (utime+stime of the whole process, /usr/bin/time), client
# heap B/msg (sum of --trace-gc-nvp's allocated=), server CPU µs/msg and heap B/msg over the
# bench's window only (/proc/PID/stat and the GC lines written between the bench's start and end).
# The client's figures include its start (tsx loading the sources, connecting): a run with
# --messages 100 first measures that per side, and it is subtracted ("net" columns).
set -euo pipefail
before=$(cd "$1" && pwd)
after=$(cd "$2" && pwd)
rounds=${3:-2}
shift 3
[[ ${1:-} == "--" ]] && shift
port=${ZHUMQ_AB_PORT:-19390}
tick=$(getconf CLK_TCK)
messages=$(echo "$@" | sed -nE 's/.*--messages[ =]([0-9]+).*/\1/p')
[[ -n $messages ]] || { echo "give --messages N" >&2; exit 2; }

cpu_of() { awk -v t="$tick" '{ printf "%.3f", ($14 + $15) / t }' "/proc/$1/stat"; }
allocated() { grep -o 'allocated=[0-9]*' "$1" 2>/dev/null | sed -n "$2,\$p" | awk -F= '{ s += $2 } END { printf "%d", s }'; }

# run_one LABEL DIR MESSAGES FLAGS... → "client_cpu_s client_heap_b server_cpu_s server_heap_b"
run_one() {
  local label=$1 dir=$2 n=$3 data
  shift 3
  data=$(mktemp -d)
  node --trace-gc-nvp "$dir/bin/zhumq.js" dev --brokers 1 --port "$port" --data "$data/d" --ui-listen off --metrics-port none >"$data/dev.log" 2>&1 &
  local dev=$!
  for _ in $(seq 1 150); do grep -q "ready in" "$data/dev.log" 2>/dev/null && break; sleep 0.2; done
  local s0 l0 s1 l1
  s0=$(cpu_of "$dev"); l0=$(( $(wc -l <"$data/dev.log") + 1 ))
  # shellcheck disable=SC2086
  /usr/bin/time -f "TIME %U %S" -o "$data/time" node --trace-gc-nvp "$dir/bin/zhumq.js" bench --bootstrap "127.0.0.1:$port" "$@" >"$data/client.log" 2>&1 || true
  s1=$(cpu_of "$dev"); l1=$(( $(wc -l <"$data/dev.log") + 1 ))
  local ccpu cheap sheap
  ccpu=$(awk '/^TIME/ { print $2 + $3 }' "$data/time")
  cheap=$(allocated "$data/client.log" 1)
  sheap=$(sed -n "$l0,$((l1 - 1))p" "$data/dev.log" | grep -o 'allocated=[0-9]*' | awk -F= '{ s += $2 } END { printf "%d", s }')
  grep -E "^  (produce|consume)" "$data/client.log" | sed "s/^/#   $label /" >&2 || true
  kill "$dev" 2>/dev/null || true
  wait "$dev" 2>/dev/null || true
  echo "$ccpu $cheap $(awk -v a="$s0" -v b="$s1" 'BEGIN { printf "%.3f", b - a }') $sheap"
  rm -rf "$data"
}

# Fixed costs of the client per side (start, connect, topic create/delete): --messages 100.
small_args=$(echo "$@" | sed -E 's/--messages[ =][0-9]+/--messages 100/')
declare -A base
for side in before after; do
  dir=$before; [[ $side == after ]] && dir=$after
  # shellcheck disable=SC2086
  base[$side]=$(run_one "$side(100)" "$dir" 100 $small_args)
done

printf "%-7s %12s %12s %14s %14s %12s %12s\n" side client_cpu_s client_heap_MB client_us/msg client_B/msg server_us/msg server_B/msg
for round in $(seq 1 "$rounds"); do
  order="before after"; (( round % 2 == 0 )) && order="after before"
  for side in $order; do
    dir=$before; [[ $side == after ]] && dir=$after
    read -r ccpu cheap scpu sheap <<<"$(run_one "$side" "$dir" "$messages" "$@")"
    read -r bcpu bheap _ _ <<<"${base[$side]}"
    awk -v side="$side" -v n="$messages" -v c="$ccpu" -v h="$cheap" -v bc="$bcpu" -v bh="$bheap" -v sc="$scpu" -v sh="$sheap" \
      'BEGIN { printf "%-7s %12.2f %12.1f %14.1f %14.0f %12.1f %12.0f\n", side, c, h / 1e6, (c - bc) * 1e6 / n, (h - bh) / n, sc * 1e6 / n, sh / n }'
  done
done
