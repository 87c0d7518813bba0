#!/usr/bin/env bash
# Smoke test of the whole compose stack (not part of `npm test`):
#   build the image, bring up postgres, redis, migrate, api-1, api-2, worker, prometheus (and
#   grafana when its image is available), sign up, log in through the other instance, post,
#   upload an image, wait for the worker container's thumbnail, query Prometheus for Kaira's
#   series from both APIs and the worker, load the Grafana dashboard, then tear everything down.
#
#   bash scripts/compose-smoke.sh
#
# Works with docker + compose, and with podman through its Docker-compatible socket
# (docker-compose v1), which it starts if needed. Images that cannot be found locally are built
# from Debian packages by deploy/images/build-local.sh. Every wait has a deadline and the whole run
# is bounded by SMOKE_TIMEOUT_SECONDS; any failed check fails the run (exit 1) after printing the
# containers' logs.
#
# Settings: SMOKE_TIMEOUT_SECONDS (900), API_1_PORT / API_2_PORT / PROMETHEUS_PORT / GRAFANA_PORT
# (19000 / 19001 / 19090 / 13000), COMPOSE_PROJECT_NAME (kaira-smoke).
set -euo pipefail

repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$repo_root"

readonly SMOKE_TIMEOUT_SECONDS=${SMOKE_TIMEOUT_SECONDS:-900}
export API_1_PORT=${API_1_PORT:-19000}
export API_2_PORT=${API_2_PORT:-19001}
export PROMETHEUS_PORT=${PROMETHEUS_PORT:-19090}
export GRAFANA_PORT=${GRAFANA_PORT:-13000}
export COMPOSE_PROJECT_NAME=${COMPOSE_PROJECT_NAME:-kaira-smoke}
export SECRET_KEY=${SECRET_KEY:-$(node -e "console.log(require('crypto').randomBytes(32).toString('hex'))")}
export METRICS_TOKEN=${METRICS_TOKEN:-$(node -e "console.log(require('crypto').randomBytes(16).toString('hex'))")}
readonly started_at=$SECONDS

log() { printf '[%4ds] %s\n' $((SECONDS - started_at)) "$*"; }
fail() {
  log "FAIL: $*"
  exit 1
}

# json EXPRESSION: evaluates a JavaScript expression over the JSON read from stdin (as `d`).
json() { node -e "let s='';process.stdin.on('data',c=>s+=c).on('end',()=>{const d=JSON.parse(s);const v=($1);process.stdout.write(typeof v==='string'?v:JSON.stringify(v))})"; }

# wait_until SECONDS DESCRIPTION COMMAND...: retries COMMAND until it succeeds or the deadline passes.
wait_until() {
  local limit=$1 what=$2
  shift 2
  local deadline=$((SECONDS + limit))
  until "$@" >/dev/null 2>&1; do
    ((SECONDS < deadline)) || fail "$what: not within ${limit}s"
    ((SECONDS - started_at < SMOKE_TIMEOUT_SECONDS)) || fail "the smoke run exceeded ${SMOKE_TIMEOUT_SECONDS}s"
    sleep 2
  done
  log "ok: $what"
}

# --- container engine and compose -----------------------------------------------------------
background_pids=()
engine=""
if command -v podman >/dev/null && ! { command -v docker >/dev/null && docker info >/dev/null 2>&1; }; then
  engine=podman
  export CONTAINERS_CONF=${CONTAINERS_CONF:-/etc/containers/containers.conf}
  socket=/var/tmp/containers/kaira-smoke-podman.sock
  mkdir -p "$(dirname "$socket")"
  podman system service --time=0 "unix://$socket" &
  background_pids+=($!)
  export DOCKER_HOST="unix://$socket"
  wait_until 30 "podman API socket" test -S "$socket"
  # podman runs healthchecks from systemd timers; without systemd, compose's service_healthy
  # waits forever unless something runs them.
  (
    while :; do
      for id in $(podman ps -q --filter "label=com.docker.compose.project=$COMPOSE_PROJECT_NAME" 2>/dev/null); do
        podman healthcheck run "$id" >/dev/null 2>&1 || true
      done
      sleep 2
    done
  ) &
  background_pids+=($!)
elif command -v docker >/dev/null; then
  engine=docker
else
  fail "neither docker nor podman is installed"
fi
if command -v docker-compose >/dev/null; then
  compose=(docker-compose -f compose.yaml)
elif docker compose version >/dev/null 2>&1; then
  compose=(docker compose -f compose.yaml)
else
  fail "no compose client (docker-compose or docker compose)"
fi
log "engine: $engine; compose: ${compose[*]}"

image_present() { "$engine" image inspect "$1" >/dev/null 2>&1; }

services=(postgres redis migrate api-1 api-2 worker prometheus)
cleanup() {
  local rc=$?
  if ((rc != 0)); then
    log "containers' logs (last 40 lines each):"
    "${compose[@]}" logs --no-color --tail=40 2>&1 || true
  fi
  log "tearing down"
  "${compose[@]}" down -v --remove-orphans >/dev/null 2>&1 || true
  for pid in "${background_pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  if ((rc == 0)); then log "PASS in $((SECONDS - started_at))s"; else log "FAILED (exit $rc)"; fi
}
trap cleanup EXIT
# A stop by signal is a failure, reported and cleaned up as one.
trap 'exit 130' INT
trap 'exit 143' TERM

# --- images ---------------------------------------------------------------------------------
missing_third_party=0
for variable_and_default in POSTGRES_IMAGE=postgres:17 REDIS_IMAGE=redis:7 PROMETHEUS_IMAGE=prom/prometheus:v3.5.0; do
  variable=${variable_and_default%%=*}
  image=${!variable:-${variable_and_default#*=}}
  image_present "$image" || missing_third_party=1
done
if ((missing_third_party)); then
  log "official images not present locally: building stand-ins from Debian packages"
  eval "$(bash deploy/images/build-local.sh)"
fi
log "images: postgres=${POSTGRES_IMAGE:-postgres:17} redis=${REDIS_IMAGE:-redis:7} prometheus=${PROMETHEUS_IMAGE:-prom/prometheus:v3.5.0}"

grafana_image=${GRAFANA_IMAGE:-grafana/grafana:12.1.0}
with_grafana=0
if image_present "$grafana_image"; then
  with_grafana=1
  services+=(grafana)
else
  log "grafana: image $grafana_image is not available here (Debian and npm do not ship Grafana); the dashboard's queries are checked against Prometheus instead"
fi

export KAIRA_IMAGE=localhost/kaira:smoke
log "building the Kaira image"
if [[ $engine == podman ]]; then
  # docker format keeps the Dockerfile's HEALTHCHECK (the OCI image format has no such field).
  podman build --pull=never --format docker -q -t "$KAIRA_IMAGE" . >/dev/null
else
  docker build -q -t "$KAIRA_IMAGE" . >/dev/null
fi

# --- up -------------------------------------------------------------------------------------
"${compose[@]}" down -v --remove-orphans >/dev/null 2>&1 || true
log "compose up: ${services[*]}"
"${compose[@]}" up -d --no-build "${services[@]}"

api1="http://127.0.0.1:$API_1_PORT"
api2="http://127.0.0.1:$API_2_PORT"
prometheus="http://127.0.0.1:$PROMETHEUS_PORT"
wait_until 300 "api-1 ready" curl -fsS "$api1/health/ready"
wait_until 60 "api-2 ready" curl -fsS "$api2/health/ready"

# --- the product ----------------------------------------------------------------------------
suffix=$(date +%s)$RANDOM
email="smoke$suffix@example.com"
password="SmokePass-$suffix"
status=$(curl -sS -o /tmp/kaira-smoke-signup.json -w '%{http_code}' -H 'content-type: application/json' \
  -d "{\"email\":\"$email\",\"username\":\"smoke$suffix\",\"password\":\"$password\"}" "$api1/api/v1/users")
[[ $status == 201 ]] || fail "sign-up on api-1 answered $status: $(cat /tmp/kaira-smoke-signup.json)"
log "ok: signed up on api-1 ($email)"

token=$(curl -fsS --data-urlencode "username=$email" --data-urlencode "password=$password" "$api2/api/v1/auth/token" | json 'd.access_token')
[[ -n $token ]] || fail "no access token from api-2"
log "ok: logged in through api-2"

png=/tmp/kaira-smoke-$suffix.png
node -e "
const zlib=require('zlib');const w=64,h=48;const raw=Buffer.alloc((w*3+1)*h);
for(let y=0;y<h;y++){raw[y*(w*3+1)]=0;for(let x=0;x<w;x++){const o=y*(w*3+1)+1+x*3;raw[o]=x*4;raw[o+1]=y*5;raw[o+2]=128;}}
const crc=(b)=>{let c,t=[];for(let n=0;n<256;n++){c=n;for(let k=0;k<8;k++)c=c&1?0xedb88320^(c>>>1):c>>>1;t[n]=c>>>0;}c=0xffffffff;for(const x of b)c=t[(c^x)&255]^(c>>>8);return (c^0xffffffff)>>>0;};
const chunk=(type,data)=>{const l=Buffer.alloc(4);l.writeUInt32BE(data.length);const td=Buffer.concat([Buffer.from(type),data]);const c=Buffer.alloc(4);c.writeUInt32BE(crc(td));return Buffer.concat([l,td,c]);};
const ihdr=Buffer.alloc(13);ihdr.writeUInt32BE(w,0);ihdr.writeUInt32BE(h,4);ihdr[8]=8;ihdr[9]=2;
process.stdout.write(Buffer.concat([Buffer.from([137,80,78,71,13,10,26,10]),chunk('IHDR',ihdr),chunk('IDAT',zlib.deflateSync(raw)),chunk('IEND',Buffer.alloc(0))]));
" >"$png"
file_id=$(curl -fsS -H "authorization: Bearer $token" -F "file=@$png;filename=smoke.png" "$api1/api/v1/files" | json 'd.id')
rm -f "$png"
[[ -n $file_id ]] || fail "upload failed"
log "ok: uploaded an image (file $file_id)"

status=$(curl -sS -o /tmp/kaira-smoke-post.json -w '%{http_code}' -H "authorization: Bearer $token" -H 'content-type: application/json' \
  -d "{\"title\":\"Smoke test\",\"content\":\"posted by compose-smoke\",\"attachment_ids\":[$file_id]}" "$api2/api/v1/posts")
[[ $status == 201 ]] || fail "post answered $status: $(cat /tmp/kaira-smoke-post.json)"
log "ok: posted with the image attached (through api-2)"

wait_until 120 "thumbnail made (GET /files/$file_id/thumbnail is 200)" \
  curl -fsS -o /dev/null -H "authorization: Bearer $token" "$api1/api/v1/files/$file_id/thumbnail"
worker_logs=$("${compose[@]}" logs --no-color worker 2>&1)
grep -q '"job":"files.thumbnail"' <<<"$worker_logs" || fail "the worker's log shows no files.thumbnail job"
log "ok: the worker container ran the thumbnail job"

# --- Prometheus -----------------------------------------------------------------------------
prom_query() { curl -fsS --get --data-urlencode "query=$1" "$prometheus/api/v1/query"; }
prom_count() { prom_query "$1" | json 'd.status==="success"?String(d.data.result.length):"error"'; }
has_at_least() { [[ "$(prom_count "$2")" -ge "$1" ]] 2>/dev/null; }
wait_until 120 "Prometheus scrapes both APIs (up == 1)" has_at_least 2 'up{job="kaira-api"} == 1'
wait_until 60 "Prometheus scrapes the worker (up == 1)" has_at_least 1 'up{job="kaira-worker"} == 1'
wait_until 60 "Kaira request series from both APIs" has_at_least 2 'sum by (instance) (kaira_http_request_duration_seconds_count)'
wait_until 60 "the worker's job-run series" has_at_least 1 'kaira_job_runs_total{job="files.thumbnail",outcome="completed"}'
log "series: $(prom_query 'count({__name__=~"kaira_.+"})' | json 'd.data.result[0].value[1]') Kaira series in Prometheus"
rules=$(curl -fsS "$prometheus/api/v1/rules" | json 'd.data.groups.flatMap(g=>g.rules).length')
((rules > 0)) || fail "Prometheus loaded no alert rules"
log "ok: Prometheus loaded $rules alert rules"

# --- Grafana --------------------------------------------------------------------------------
dashboard_exprs=$(json 'd.panels.flatMap(p=>p.targets.map(t=>t.expr)).join("\n")' <deploy/grafana/dashboards/kaira.json)
if ((with_grafana)); then
  grafana="http://127.0.0.1:$GRAFANA_PORT"
  wait_until 120 "Grafana up" curl -fsS "$grafana/api/health"
  title=$(curl -fsS -u "admin:${GRAFANA_ADMIN_PASSWORD:-admin}" "$grafana/api/dashboards/uid/kaira-overview" | json 'd.dashboard.title')
  [[ $title == Kaira ]] || fail "Grafana did not load the Kaira dashboard (title: $title)"
  log "ok: Grafana loaded the provisioned Kaira dashboard"
fi
# Every panel's query is valid PromQL against this Prometheus and the key ones have data.
checked=0
while IFS= read -r expr; do
  [[ -n $expr ]] || continue
  answer=$(prom_query "$expr" | json 'd.status') || fail "dashboard query failed: $expr"
  [[ $answer == success ]] || fail "dashboard query failed: $expr"
  checked=$((checked + 1))
done <<<"$dashboard_exprs"
# rate() needs two scrapes of a series inside its window: wait for the second one.
wait_until 60 "the requests panel has data" has_at_least 1 'sum by (route) (rate(kaira_http_request_duration_seconds_count[1m]))'
log "ok: all $checked dashboard queries evaluate in Prometheus"
