#!/usr/bin/env bash
# Measures the latency scopegate adds over calling the upstream directly,
# for an allowed non-streaming chat completion, one request at a time.
#
# Placement: the mock upstream and the gateway share core 0; the client runs
# on core 1. Every request therefore crosses between the two cores exactly
# twice (client → server → client) on both paths, so the hop cost cancels
# out in the difference.
#
# Usage: bench/added-latency.sh [N]      (run by hand, not in CI)
set -euo pipefail
cd "$(dirname "$0")/.."
N=${1:-5000}
work=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$work"' EXIT

go build -o "$work/scopegate" ./cmd/scopegate
go build -o "$work/addedlatency" ./bench/addedlatency

cat > "$work/bench.yaml" <<YAML
listen: 127.0.0.1:18480
admin_listen: 127.0.0.1:18481
log: {level: warn}
upstreams:
  mock: {kind: mock, base_url: "http://127.0.0.1:18490"}
features:
  chat:
    upstream: mock
    endpoints: [chat.completions]
    models: [mock-small]
YAML

taskset -c 0 "$work/scopegate" mock-upstream --listen 127.0.0.1:18490 --log-level warn 2>"$work/mock.log" &
taskset -c 0 "$work/scopegate" serve --config "$work/bench.yaml" --data-dir "$work/data" 2>"$work/serve.log" &
for _ in $(seq 50); do
	curl -fs http://127.0.0.1:18481/readyz >/dev/null 2>&1 && break
	sleep 0.1
done
admin=$(grep -o 'sga_live_[A-Za-z0-9_]*' "$work/serve.log" | head -1)
export SCOPEGATE_ADDR=http://127.0.0.1:18481 SCOPEGATE_ADMIN_KEY=$admin
"$work/scopegate" principals create --id bench --scope chat >/dev/null
key=$("$work/scopegate" keys create --principal bench --scope chat:mock-small -o json | sed -n 's/.*"key":"\([^"]*\)".*/\1/p')

echo "go: $(go version | cut -d' ' -f3), cpu: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), n=$N"
SCOPEGATE_BENCH_KEY=$key taskset -c 1 "$work/addedlatency" -n "$N" \
	-direct http://127.0.0.1:18490/v1/chat/completions \
	-gateway http://127.0.0.1:18480/v1/chat/completions
