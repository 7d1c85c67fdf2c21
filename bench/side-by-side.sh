#!/usr/bin/env bash
# Side by side (issue 9): the same load against the mock upstream called
# directly, nginx as a bare reverse proxy, scopegate in several
# configurations and the Portkey gateway, all in front of one
# `scopegate mock-upstream`, in one run on one machine.
#
# Placement: every server (mock upstream, nginx, scopegate, Portkey) is
# pinned to core 0 with taskset; the load generator (`scopegate bench`) is
# pinned to core 1. Each request therefore crosses between the cores the
# same way on every path.
#
# For each target: one request at a time (closed loop, 1 worker), open loop
# at each rate of RATES, and the maximum throughput (closed loop, MAX_CONC
# workers); scopegate also streams (time to first byte) and is sent
# requests it must deny. Rounds are interleaved: round 1 measures every
# target, then round 2, so a drift of the machine hits all targets alike.
# Each figure is the median of RUNS rounds; "added" latency is taken run by
# run against the direct call of the same round.
#
# Raw summaries go to a temporary directory (RAW_DIR to keep them); the
# combined medians go to bench/results/side-by-side-<UTC date>.json and a
# markdown table to stdout.
#
# Needs: go, curl, taskset, 2+ cores; nginx (sudo apt-get install -y nginx)
# and the Portkey gateway (see PORTKEY_DIR below) are measured when present
# and skipped with a message otherwise.
#
# Usage (by hand, not in CI):
#   bench/side-by-side.sh
#   RUNS=5 DURATION=20s bench/side-by-side.sh
#   DURATION=2s RUNS=1 bench/side-by-side.sh        # quick check of the script
#
# Environment:
#   RUNS=3  DURATION=10s  WARMUP=1s  RATES="1000 5000"  MAX_CONC=64
#   MAX_IN_FLIGHT=1000   open-loop client cap; requests due beyond it are
#                        counted as dropped
#   SETTLE=0.5           seconds of pause before each measurement, after
#                        which the script also waits for the servers to
#                        be idle
#   CLIENT_GOMAXPROCS=2  GOMAXPROCS of the load generator (see below)
#   PORT_BASE=18600      ports PORT_BASE..PORT_BASE+6 on 127.0.0.1
#   PORTKEY_DIR          npm prefix holding @portkey-ai/gateway (default
#                        ${XDG_CACHE_HOME:-$HOME/.cache}/scopegate-bench/portkey)
#   DISK_DIR             where the on-disk data directory is made (default
#                        ${XDG_CACHE_HOME:-$HOME/.cache}/scopegate-bench; must
#                        not be tmpfs)
#   SHM_DIR=/dev/shm     tmpfs for the in-memory data directory variant
#   RAW_DIR              keep the raw per-run JSON summaries here
#   OUT                  combined JSON (default bench/results/side-by-side-<UTC date>.json)
set -euo pipefail
cd "$(dirname "$0")/.."

RUNS=${RUNS:-3}
DURATION=${DURATION:-10s}
WARMUP=${WARMUP:-1s}
RATES=${RATES:-1000 5000}
MAX_CONC=${MAX_CONC:-64}
MAX_IN_FLIGHT=${MAX_IN_FLIGHT:-1000}
SETTLE=${SETTLE:-0.5}
# The generator runs with two Ps on its one core. With GOMAXPROCS=1 (what
# Go picks under taskset -c 1) the open-loop pacer, which spins and yields
# before each send, keeps the only P busy, so the runtime polls the network
# only from sysmon, every 10 ms: every open-loop latency then gains 0-10 ms
# (p50 about 5 ms, p99 about 10 ms against the bare mock, where two Ps give
# about 0.1 ms).
CLIENT_GOMAXPROCS=${CLIENT_GOMAXPROCS:-2}
PORT_BASE=${PORT_BASE:-18600}
cache=${XDG_CACHE_HOME:-$HOME/.cache}/scopegate-bench
PORTKEY_DIR=${PORTKEY_DIR:-$cache/portkey}
PORTKEY_VERSION_WANTED=1.15.2
DISK_DIR=${DISK_DIR:-$cache}
SHM_DIR=${SHM_DIR:-/dev/shm}
DATE=$(date -u +%F)
OUT=${OUT:-bench/results/side-by-side-$DATE.json}

MOCK_PORT=$PORT_BASE
NGINX_PORT=$((PORT_BASE + 1))
SG_DISK_PORT=$((PORT_BASE + 2)) SG_DISK_ADMIN=$((PORT_BASE + 3))
SG_SHM_PORT=$((PORT_BASE + 4)) SG_SHM_ADMIN=$((PORT_BASE + 5))
PORTKEY_PORT=$((PORT_BASE + 6))

SERVER_CPU=0 CLIENT_CPU=1

say() { printf '%s\n' "$*" >&2; }
die() {
	say "side-by-side: $*"
	exit 1
}

# ---------------------------------------------------------------- checks
for tool in go curl taskset jq; do
	command -v "$tool" >/dev/null || die "$tool is needed"
done
[ "$(nproc --all)" -ge 2 ] || die "needs at least 2 cores (servers on core $SERVER_CPU, client on core $CLIENT_CPU)"
taskset -c "$SERVER_CPU,$CLIENT_CPU" true 2>/dev/null || die "cannot pin to cores $SERVER_CPU and $CLIENT_CPU (taskset)"

declare -A skip=()
if ! command -v nginx >/dev/null; then
	skip[nginx]="nginx not installed (Debian/Ubuntu: sudo apt-get install -y nginx)"
	say "side-by-side: ${skip[nginx]}; skipping it, and throughput ratios to nginx"
fi
portkey_js=$PORTKEY_DIR/node_modules/@portkey-ai/gateway/build/start-server.js
if ! command -v node >/dev/null; then
	skip[portkey]="node not installed (Node 20 or later is needed)"
elif [ ! -f "$portkey_js" ]; then
	skip[portkey]="Portkey gateway not installed; install it outside the repository with: npm install --prefix '$PORTKEY_DIR' --save-exact --no-audit --no-fund @portkey-ai/gateway@$PORTKEY_VERSION_WANTED"
fi
[ -z "${skip[portkey]:-}" ] || say "side-by-side: ${skip[portkey]}; skipping it"
# scopegate has no switch for the audit log (no such field in
# internal/config or docs/configuration.md): every decision is recorded.
skip[scopegate-nolimits-noaudit]="the audit log cannot be turned off (no setting exists); scopegate-shm-nolimits (limits off, audit log on tmpfs) is the closest variant"
say "side-by-side: scopegate with limits and audit off: skipped, ${skip[scopegate-nolimits-noaudit]}"

mkdir -p "$DISK_DIR"
if [ "$(stat -f -c %T "$DISK_DIR")" = tmpfs ]; then
	die "DISK_DIR $DISK_DIR is on tmpfs; the on-disk variant needs a real disk (set DISK_DIR)"
fi
shm_ok=1
if [ ! -d "$SHM_DIR" ] || [ ! -w "$SHM_DIR" ] || [ "$(stat -f -c %T "$SHM_DIR")" != tmpfs ]; then
	shm_ok=0
	skip[scopegate-shm]="$SHM_DIR is not a writable tmpfs"
	skip[scopegate-shm-nolimits]=${skip[scopegate-shm]}
	say "side-by-side: ${skip[scopegate-shm]}; skipping the tmpfs variants"
fi
ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)" 2>/dev/null || true

# ---------------------------------------------------------------- setup
work=$(mktemp -d)
raw=${RAW_DIR:-$work/raw}
mkdir -p "$raw"
disk_data=$(mktemp -d "$DISK_DIR/data.XXXXXX")
shm_data=
[ "$shm_ok" = 0 ] || shm_data=$(mktemp -d "$SHM_DIR/scopegate-bench.XXXXXX")
nginx_dir=
pids=()
cleanup() {
	local p
	for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
	for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
	rm -rf "$work" "$disk_data" ${shm_data:+"$shm_data"} ${nginx_dir:+"$nginx_dir"}
}
trap cleanup EXIT
trap 'exit 130' INT TERM

say "building scopegate and the combiner"
go build -o "$work/scopegate" ./cmd/scopegate
go build -o "$work/sidebyside" ./bench/sidebyside
"$work/scopegate" bench --help >/dev/null 2>&1 || die "this scopegate has no bench command"
sg=$work/scopegate

# start NAME CMD...: runs CMD pinned to the server core, logging to
# $work/NAME.log.
start() {
	local name=$1
	shift
	taskset -c "$SERVER_CPU" "$@" >"$work/$name.log" 2>&1 &
	pids+=($!)
}

# wait_up URL NAME: waits up to 15 s for URL to answer.
wait_up() {
	for _ in $(seq 150); do
		curl -fs -o /dev/null "$1" 2>/dev/null && return 0
		sleep 0.1
	done
	say "--- $work/$2.log:"
	tail -20 "$work/$2.log" >&2 || true
	die "$2 did not come up at $1"
}

chat_body='{"model":"mock-small","max_tokens":16,"messages":[{"role":"user","content":"Say hello."}]}'
stream_body='{"model":"mock-small","max_tokens":16,"stream":true,"messages":[{"role":"user","content":"Say hello."}]}'

# check_chat NAME URL CURL-ARGS...: one allowed chat completion must come
# back from the mock (its system_fingerprint) through the target.
check_chat() {
	local name=$1 url=$2
	shift 2
	local body
	body=$(curl -fsS "$url/v1/chat/completions" -H 'Content-Type: application/json' "$@" -d "$chat_body") ||
		die "$name: chat completion failed"
	case $body in
	*fp_scopegate_mock*) ;;
	*) die "$name: the answer did not come from the mock upstream: $body" ;;
	esac
}

# check_stream NAME URL CURL-ARGS...: a stream must end with data: [DONE].
check_stream() {
	local name=$1 url=$2
	shift 2
	curl -fsSN "$url/v1/chat/completions" -H 'Content-Type: application/json' "$@" -d "$stream_body" |
		grep -q '^data: \[DONE\]' || die "$name: the stream did not end with data: [DONE]"
}

# 1. The mock upstream.
start mock "$sg" mock-upstream --listen "127.0.0.1:$MOCK_PORT" --log-level warn
wait_up "http://127.0.0.1:$MOCK_PORT/v1/models" mock
check_chat direct "http://127.0.0.1:$MOCK_PORT"
check_stream direct "http://127.0.0.1:$MOCK_PORT"

# 2. nginx as a bare reverse proxy: one worker, keep-alive to the upstream,
# no access log, no buffering (streams pass as they come). Its own
# directory, world-readable, so that workers started by root as nobody can
# reach the temp paths; everything stays out of /var/lib/nginx.
nginx_version=
if [ -z "${skip[nginx]:-}" ]; then
	nginx_dir=$(mktemp -d)
	chmod 755 "$nginx_dir"
	nginx_version=$(nginx -v 2>&1 | sed 's|.*nginx/||')
	cat >"$nginx_dir/nginx.conf" <<NGINX
daemon off;
worker_processes 1;
worker_rlimit_nofile 65536;
pid $nginx_dir/nginx.pid;
error_log $nginx_dir/error.log warn;
events { worker_connections 16384; }
http {
    access_log off;
    client_body_temp_path $nginx_dir/client_body;
    proxy_temp_path $nginx_dir/proxy;
    fastcgi_temp_path $nginx_dir/fastcgi;
    uwsgi_temp_path $nginx_dir/uwsgi;
    scgi_temp_path $nginx_dir/scgi;
    # A keep-alive client connection is not closed after 1000 requests
    # (nginx's default), as scopegate and Portkey do not close it either.
    keepalive_requests 1000000;
    upstream mock {
        server 127.0.0.1:$MOCK_PORT;
        keepalive 64;
        keepalive_requests 1000000;
    }
    server {
        listen 127.0.0.1:$NGINX_PORT;
        location / {
            proxy_pass http://mock;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_buffering off;
        }
    }
}
NGINX
	nginx -t -q -p "$nginx_dir" -e "$nginx_dir/error.log" -c "$nginx_dir/nginx.conf" 2>"$work/nginx-test.log" ||
		die "nginx rejected its configuration: $(cat "$work/nginx-test.log")"
	start nginx nginx -p "$nginx_dir" -e "$nginx_dir/error.log" -c "$nginx_dir/nginx.conf"
	wait_up "http://127.0.0.1:$NGINX_PORT/v1/models" nginx
	check_chat nginx "http://127.0.0.1:$NGINX_PORT"
	check_stream nginx "http://127.0.0.1:$NGINX_PORT"
fi

# 3. scopegate embedded: SQLite store, in-memory limits, tamper-evident
# audit log; the data directory on disk, and again on tmpfs, where the
# audit log's fsync costs next to nothing.
# sg_start NAME PORT ADMIN DATA: starts a gateway and sets admin_key.
sg_start() {
	local name=$1 port=$2 admin=$3 data=$4
	cat >"$work/$name.yaml" <<YAML
listen: 127.0.0.1:$port
admin_listen: 127.0.0.1:$admin
log: {level: warn}
upstreams:
  mock: {kind: openai, base_url: "http://127.0.0.1:$MOCK_PORT/v1"}
features:
  chat:
    upstream: mock
    endpoints: [chat.completions]
    models: [mock-small, mock-large]
YAML
	start "$name" "$sg" serve --config "$work/$name.yaml" --data-dir "$data"
	wait_up "http://127.0.0.1:$admin/readyz" "$name"
	admin_key=$(grep -o 'sga_live_[A-Za-z0-9_]*' "$work/$name.log" | head -1)
	[ -n "$admin_key" ] || die "$name: no admin key in its log"
}

# sg_key ADMIN [LIMIT FLAGS...]: creates a key for chat:mock-small, so that
# mock-large is denied, and prints it.
sg_key() {
	local admin=$1
	shift
	SCOPEGATE_ADDR=http://127.0.0.1:$admin SCOPEGATE_ADMIN_KEY=$admin_key \
		"$sg" keys create --principal bench --scope chat:mock-small "$@" -o json |
		sed -n 's/.*"key": *"\([^"]*\)".*/\1/p'
}

# Limits far from reached, so that every kind that needs no price is
# evaluated on every request and none refuses one.
limits=(--rpm 1000000000 --tpm 1000000000000 --concurrent 100000
	--tokens-per-day 1000000000000 --tokens-per-month 1000000000000)

declare -A key=()
sg_start scopegate-disk "$SG_DISK_PORT" "$SG_DISK_ADMIN" "$disk_data"
SCOPEGATE_ADDR=http://127.0.0.1:$SG_DISK_ADMIN SCOPEGATE_ADMIN_KEY=$admin_key \
	"$sg" principals create --id bench --scope chat >/dev/null
key[scopegate-disk]=$(sg_key "$SG_DISK_ADMIN" "${limits[@]}")
if [ "$shm_ok" = 1 ]; then
	sg_start scopegate-shm "$SG_SHM_PORT" "$SG_SHM_ADMIN" "$shm_data"
	SCOPEGATE_ADDR=http://127.0.0.1:$SG_SHM_ADMIN SCOPEGATE_ADMIN_KEY=$admin_key \
		"$sg" principals create --id bench --scope chat >/dev/null
	key[scopegate-shm]=$(sg_key "$SG_SHM_ADMIN" "${limits[@]}")
	# 4. Limits off: a key with no limits on the same gateway (no limits
	# section, no audience defaults). The audit log cannot be turned off.
	key[scopegate-shm-nolimits]=$(sg_key "$SG_SHM_ADMIN")
fi
for t in "${!key[@]}"; do
	[ -n "${key[$t]}" ] || die "$t: key creation failed"
done
sg_url() {
	case $1 in
	scopegate-disk) echo "http://127.0.0.1:$SG_DISK_PORT" ;;
	*) echo "http://127.0.0.1:$SG_SHM_PORT" ;;
	esac
}
for t in "${!key[@]}"; do
	check_chat "$t" "$(sg_url "$t")" -H "Authorization: Bearer ${key[$t]}"
	check_stream "$t" "$(sg_url "$t")" -H "Authorization: Bearer ${key[$t]}"
done
status=$(curl -s -o /dev/null -w '%{http_code}' "$(sg_url scopegate-disk)/v1/chat/completions" \
	-H 'Content-Type: application/json' -H "Authorization: Bearer ${key[scopegate-disk]}" \
	-d '{"model":"mock-large","messages":[{"role":"user","content":"Say hello."}]}')
[ "$status" = 403 ] || die "scopegate: mock-large should be denied with 403, got $status"

# 5. The Portkey gateway (Node), its OpenAI provider pointed at the mock
# with x-portkey-custom-host. It reads --port=N (with "="); --headless
# leaves out its web UI.
portkey_version=
portkey_headers=(-H "x-portkey-provider: openai" -H "x-portkey-custom-host: http://127.0.0.1:$MOCK_PORT/v1")
if [ -z "${skip[portkey]:-}" ]; then
	portkey_version=$(sed -n 's/^ *"version": *"\([^"]*\)".*/\1/p' "$PORTKEY_DIR/node_modules/@portkey-ai/gateway/package.json" | head -1)
	start portkey node "$portkey_js" --port="$PORTKEY_PORT" --headless
	wait_up "http://127.0.0.1:$PORTKEY_PORT/" portkey
	check_chat portkey "http://127.0.0.1:$PORTKEY_PORT" -H 'Authorization: Bearer sk-bench' "${portkey_headers[@]}"
	# Portkey 1.15.2 on Node answers streams with 500 ("TypeError:
	# immutable" in its updateHeaders; Portkey-AI/gateway#1389, #1550):
	# streams are measured only if they work.
	portkey_stream=0
	if curl -fsSN "http://127.0.0.1:$PORTKEY_PORT/v1/chat/completions" -H 'Content-Type: application/json' \
		-H 'Authorization: Bearer sk-bench' "${portkey_headers[@]}" -d "$stream_body" 2>/dev/null |
		grep -q '^data: \[DONE\]'; then
		portkey_stream=1
	else
		skip[portkey-stream]="Portkey $portkey_version answered a streamed chat completion with an error (on Node 20: TypeError: immutable, Portkey-AI/gateway#1389 and #1550)"
		say "side-by-side: portkey: streams fail; measuring non-streamed chat only"
	fi
fi

# ---------------------------------------------------------------- measure
# What each target runs: scenario:mode, mode c<N> closed loop with N
# workers, r<N> open loop at N/s.
modes=(c1)
for r in $RATES; do modes+=("r$r"); done
modes+=("c$MAX_CONC")
chat=()
for m in "${modes[@]}"; do chat+=("chat:$m"); done
declare -A plan=()
targets=(direct)
plan[direct]="${chat[*]} stream:c1"
if [ -z "${skip[nginx]:-}" ]; then
	targets+=(nginx)
	plan[nginx]="${chat[*]} stream:c1"
fi
targets+=(scopegate-disk)
plan[scopegate-disk]="${chat[*]} stream:c1 denied:c1 denied:c$MAX_CONC"
if [ "$shm_ok" = 1 ]; then
	targets+=(scopegate-shm scopegate-shm-nolimits)
	plan[scopegate-shm]=${plan[scopegate-disk]}
	plan[scopegate-shm-nolimits]="${chat[*]}"
fi
if [ -z "${skip[portkey]:-}" ]; then
	targets+=(portkey)
	plan[portkey]="${chat[*]}"
	[ "$portkey_stream" = 0 ] || plan[portkey]+=" stream:c1"
fi

# bench_args TARGET: URL, key and headers of a target.
bench_args() {
	case $1 in
	direct) echo "--url http://127.0.0.1:$MOCK_PORT --key sk-bench" ;;
	nginx) echo "--url http://127.0.0.1:$NGINX_PORT --key sk-bench" ;;
	portkey) echo "--url http://127.0.0.1:$PORTKEY_PORT --key sk-bench" ;;
	*) echo "--url $(sg_url "$1") --key ${key[$1]}" ;;
	esac
}

# secs D: whole seconds of a Go duration like 10s, 1m or 1m30s (rounded
# up; only for the time estimate).
secs() {
	local d=$1 t=0 v
	if [[ $d =~ ^([0-9]+)m ]]; then
		t=$((BASH_REMATCH[1] * 60))
		d=${d#*m}
	fi
	if [[ $d =~ ^([0-9]+)(\.[0-9]+)?s$ ]]; then
		v=${BASH_REMATCH[1]}
		t=$((t + v + ${#BASH_REMATCH[2]} / 2))
	fi
	echo "$t"
}
n=0
for t in "${targets[@]}"; do
	for _ in ${plan[$t]}; do n=$((n + 1)); done
done
cpu=$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs || true)
placement="servers and mock upstream on core $SERVER_CPU (taskset -c $SERVER_CPU), load generator on core $CLIENT_CPU (taskset -c $CLIENT_CPU, GOMAXPROCS=$CLIENT_GOMAXPROCS)"
say ""
say "placement: $placement"
say "machine: ${cpu:-unknown cpu}, $(nproc --all) cores, load average $(cut -d' ' -f1-3 /proc/loadavg)"
say "targets: ${targets[*]}"
say "$n measurements x $RUNS runs, $DURATION each after $WARMUP warmup: about $(((n * RUNS * ($(secs "$DURATION") + $(secs "$WARMUP") + 2) + 59) / 60)) min"
load_before=$(cut -d' ' -f1-3 /proc/loadavg)

# cpu_ticks: CPU time (clock ticks) used so far by the servers started
# here and their children (nginx's worker).
cpu_ticks() {
	local p t=0 f
	# shellcheck disable=SC2046 # one pid per word
	for p in "${pids[@]}" $(pgrep -d ' ' -P "$(
		IFS=,
		echo "${pids[*]}"
	)" || true); do
		f=$(cat "/proc/$p/stat" 2>/dev/null) || continue
		f=${f##*) }
		# shellcheck disable=SC2086 # fields after the command name
		set -- $f
		t=$((t + ${12} + ${13})) # utime, stime
	done
	echo "$t"
}

# quiesce: waits, up to 30 s, until the servers are idle (at most 2 ticks
# of CPU in 250 ms).
quiesce() {
	local a b
	a=$(cpu_ticks)
	for _ in $(seq 120); do
		sleep 0.25
		b=$(cpu_ticks)
		[ $((b - a)) -gt 2 ] || return 0
		a=$b
	done
	say "(servers still busy after 30 s) "
}

# listen_drops: the kernel's count of connections dropped because a listen
# queue was full (SYNs then retry after 1 s, 3 s: look here if a p99 is
# near a second).
listen_drops() {
	awk '/^TcpExt:/ { if (!h) { split($0, n); h = 1 } else { for (i = 2; i <= NF; i++) if (n[i] == "ListenDrops") print $i } }' /proc/net/netstat
}
drops_before=$(listen_drops)

failed=0
clk_tck=$(getconf CLK_TCK)
for run in $(seq "$RUNS"); do
	for t in "${targets[@]}"; do
		for spec in ${plan[$t]}; do
			scenario=${spec%%:*} m=${spec#*:}
			args=(--scenario "$scenario" --duration "$DURATION" --warmup "$WARMUP" --quiet
				--json "$raw/$t-$scenario-$m-$run.json")
			# shellcheck disable=SC2207 # URLs and keys have no spaces
			args+=($(bench_args "$t"))
			case $m in
			c*) args+=(--concurrency "${m#c}") ;;
			r*) args+=(--rate "${m#r}" --max-in-flight "$MAX_IN_FLIGHT") ;;
			esac
			[ "$t" != portkey ] || args+=("${portkey_headers[@]}")
			# Let the previous measurement's backlog drain: an open-loop
			# run leaves requests in flight that a slow server still
			# works through after the client has gone.
			sleep "$SETTLE"
			quiesce
			printf 'run %d/%d  %-24s %-7s %-6s ' "$run" "$RUNS" "$t" "$scenario" "$m" >&2
			# The servers' CPU time is read at the end of the warmup and at
			# the end of the run: CPU per request at saturation.
			GOMAXPROCS=$CLIENT_GOMAXPROCS taskset -c "$CLIENT_CPU" "$sg" bench "${args[@]}" >"$work/bench.out" 2>&1 &
			bench_pid=$!
			sleep "$(secs "$WARMUP")"
			cpu0=$(cpu_ticks)
			if wait "$bench_pid"; then
				cpu1=$(cpu_ticks)
				f="$raw/$t-$scenario-$m-$run.json"
				jq -c --argjson us "$(((cpu1 - cpu0) * 1000000 / clk_tck))" '. + {server_cpu_us: $us}' "$f" >"$f.tmp" && mv "$f.tmp" "$f"
				grep -m1 '^requests' "$work/bench.out" >&2 || say ""
			else
				failed=$((failed + 1))
				rm -f "$raw/$t-$scenario-$m-$run.json"
				say "FAILED: $(tail -1 "$work/bench.out")"
			fi
		done
	done
done

# ---------------------------------------------------------------- combine
# Read-only git commands only: the revision, and whether tracked files
# differ from it (untracked files are not seen).
rev=$(git rev-parse --short=12 HEAD 2>/dev/null || echo unknown)
git diff-index --quiet HEAD -- 2>/dev/null || rev+=" with uncommitted changes"
info=(-info "date=$DATE" -info "placement=$placement" -info "cpu=${cpu:-unknown}"
	-info "cores=$(nproc --all)" -info "runs=$RUNS" -info "duration=$DURATION" -info "warmup=$WARMUP"
	-info "max_in_flight=$MAX_IN_FLIGHT" -info "go=$(go env GOVERSION)"
	-info "scopegate=$rev"
	-info "load_before=$load_before" -info "load_after=$(cut -d' ' -f1-3 /proc/loadavg)"
	-info "disk_data_fs=$(stat -f -c %T "$disk_data")" -info "failed_runs=$failed"
	-info "listen_drops_during_run=$(($(listen_drops) - drops_before))")
[ -z "$nginx_version" ] || info+=(-info "nginx=$nginx_version")
[ -z "$portkey_version" ] || info+=(-info "portkey=$portkey_version" -info "node=$(node --version)")
for t in "${!skip[@]}"; do info+=(-skip "$t=${skip[$t]}"); done
mkdir -p "$(dirname "$OUT")"
say ""
echo "## side by side, $DATE: $placement; ${cpu:-unknown cpu}; medians of $RUNS runs of $DURATION"
echo
"$work/sidebyside" -raw "$raw" -out "$OUT" -order "direct,nginx,scopegate-disk,scopegate-shm,scopegate-shm-nolimits,portkey" "${info[@]}"
say ""
say "combined JSON: $OUT${RAW_DIR:+; raw summaries: $RAW_DIR}"
[ "$failed" = 0 ] || say "side-by-side: $failed measurement(s) failed; see above"
