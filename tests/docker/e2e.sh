#!/usr/bin/env bash
# End-to-end test of discovery and deployment against a real Docker Engine and a one-node Swarm
# (see ../shared/DOCKER.md for the rules: nothing leaves the machine, no pulls).
#
#   tests/docker/e2e.sh            (as root; WINRELAY_BIN=path/to/winrelay, default target/debug)
#   tests/docker/e2e.sh --cleanup  (only stop what an interrupted run left and undo its changes)
#
# The scene: a labelled service e2eweb (2 replicas) and an unlabelled one on the attachable
# overlay e2e_net (10.231.1.0/24), a labelled container outside allow_networks (10.231.1.200,
# the relay allows 10.231.1.0/25), a WinRS simulator (`winrelay sim`, the host binary through
# nsenter) in each task's network namespace, and the relay in an attachable container's
# namespace; a Node client and a browser (chromium in the relay's namespace) open shells.
# Then: the image builds offline from deploy/Dockerfile, `winrelay healthcheck`
# passes in it, and `docker stack deploy` of deploy/stack.yml starts the relay.
#
# Prints TAP-like "ok"/"not ok" lines and "# pass N" / "# fail N" (scripts/test-all.sh counts
# them). Everything it starts is stopped by process id, and the host is put back as it was,
# also after an interrupted run (the next run cleans up first). WINRELAY_DOCKER_E2E=0 skips.
set -uo pipefail
cd "$(dirname "$0")/../.."
ROOT=$PWD
BIN=${WINRELAY_BIN:-$ROOT/target/debug/winrelay}
WORK=/var/tmp/winrelay-docker-e2e
SOCK=/var/run/docker.sock
NET=e2e_net
IMG=winrelay-e2e/busybox:local
PASS=0
FAIL=0

ok() { echo "ok - $*"; PASS=$((PASS + 1)); }
bad() { echo "not ok - $*"; FAIL=$((FAIL + 1)); }
finish() {
    echo "# pass $PASS"
    echo "# fail $FAIL"
}
log() { echo "# $*"; }

if [ "${WINRELAY_DOCKER_E2E:-1}" = 0 ]; then
    log "skipped (WINRELAY_DOCKER_E2E=0)"; finish; exit 0
fi
if [ "$(id -u)" != 0 ] || ! command -v nsenter >/dev/null; then
    log "skipped: needs root and nsenter"; finish; exit 0
fi

# --- cleanup: by process id, then what dockerd leaves on the host --------------------------
kill_pids() { # pids recorded in $WORK/pids
    [ -f "$WORK/pids" ] || return 0
    while read -r pid; do
        [ -n "$pid" ] && kill "$pid" 2>/dev/null
    done <"$WORK/pids"
    sleep 0.5
    while read -r pid; do
        [ -n "$pid" ] && kill -9 "$pid" 2>/dev/null
    done <"$WORK/pids"
    rm -f "$WORK/pids"
}

undo_iptables() {
    for t in filter nat; do
        iptables -t "$t" -S 2>/dev/null | grep -E '^-A (INPUT|FORWARD|OUTPUT|PREROUTING|POSTROUTING) .*(DOCKER|docker0|docker_gwbridge)' |
            sed 's/^-A/-D/' | while read -r rule; do eval "iptables -t $t $rule" 2>/dev/null; done
        for chain in $(iptables -t "$t" -S 2>/dev/null | awk '/^-N DOCKER/ {print $2}'); do
            iptables -t "$t" -F "$chain" 2>/dev/null
        done
        for chain in $(iptables -t "$t" -S 2>/dev/null | awk '/^-N DOCKER/ {print $2}'); do
            iptables -t "$t" -X "$chain" 2>/dev/null
        done
    done
}

cleanup() {
    kill_pids
    if [ -f "$WORK/dockerd.pid" ]; then
        local pid
        pid=$(cat "$WORK/dockerd.pid")
        if kill -0 "$pid" 2>/dev/null; then
            docker stack rm e2estack >/dev/null 2>&1
            docker service rm e2eweb e2eplain >/dev/null 2>&1
            docker rm -f e2e-relay e2e-outside e2e-img >/dev/null 2>&1
            docker swarm leave --force >/dev/null 2>&1
            kill "$pid"
            for _ in $(seq 60); do kill -0 "$pid" 2>/dev/null || break; sleep 0.5; done
            kill -9 "$pid" 2>/dev/null
        fi
        rm -f "$WORK/dockerd.pid"
    fi
    kill_pids
    grep -E ' (/var/lib/docker|/run/docker|/var/run/docker|/run/containerd)' /proc/mounts | awk '{print $2}' |
        sort -r | while read -r m; do umount -l "$m" 2>/dev/null; done
    for link in docker0 docker_gwbridge; do ip link del "$link" 2>/dev/null; done
    undo_iptables
    if [ -f "$WORK/ip_forward" ]; then
        cat "$WORK/ip_forward" >/proc/sys/net/ipv4/ip_forward
        rm -f "$WORK/ip_forward"
    fi
    rm -rf /var/lib/docker /var/run/docker /run/containerd /var/run/docker.sock /run/docker.pid "$WORK"
    rm -f "$ROOT/deploy/prebuilt/winrelay"
}

if [ "${1:-}" = --cleanup ]; then # only put the host back (after an interrupted run)
    cleanup; exit 0
fi
if [ -S "$SOCK" ] && [ ! -f "$WORK/dockerd.pid" ] && curl -sf --unix-socket "$SOCK" http://localhost/_ping >/dev/null 2>&1; then
    log "skipped: a Docker daemon this test did not start is running"; finish; exit 0
fi
cleanup # after an interrupted run
trap 'cleanup; finish' EXIT
trap 'exit 130' INT TERM
mkdir -p "$WORK"

# --- install and start ---------------------------------------------------------------------
if ! command -v dockerd >/dev/null || [ ! -x /bin/busybox ]; then
    log "installing docker.io busybox-static"
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq docker.io busybox-static >/dev/null || {
        bad "install docker.io"; exit 1
    }
fi
[ -x "$BIN" ] || { bad "no relay binary at $BIN"; exit 1; }
cat /proc/sys/net/ipv4/ip_forward >"$WORK/ip_forward"
DOCKER_SERVICE_PREFER_OFFLINE_IMAGE=1 setsid dockerd >"$WORK/dockerd.log" 2>&1 &
echo $! >"$WORK/dockerd.pid"
for _ in $(seq 100); do curl -sf --unix-socket "$SOCK" http://localhost/_ping >/dev/null 2>&1 && break; sleep 0.2; done
curl -sf --unix-socket "$SOCK" http://localhost/_ping >/dev/null || { bad "dockerd starts"; exit 1; }
ok "dockerd starts (API $(docker version -f '{{.Server.APIVersion}}'))"

rootfs=$WORK/rootfs
mkdir -p "$rootfs/bin" "$rootfs/tmp" "$rootfs/etc"
cp /bin/busybox "$rootfs/bin/busybox"
chroot "$rootfs" /bin/busybox --install -s /bin
tar -C "$rootfs" -c . | docker import - "$IMG" >/dev/null && ok "a busybox image assembled locally" || bad "busybox image"

docker swarm init --advertise-addr 127.0.0.1 >/dev/null && ok "one-node swarm" || { bad "swarm init"; exit 1; }
docker network create -d overlay --attachable --subnet 10.231.1.0/24 "$NET" >/dev/null || bad "overlay network"
svc() { docker service create -d -q --no-resolve-image --network "$NET" --endpoint-mode dnsrr "$@" "$IMG" sleep 100000 >/dev/null; }
svc --name e2eweb --label winrelay.enable=true --replicas 2
svc --name e2eplain --replicas 1
docker run -d -q --name e2e-outside --label winrelay.enable=true --network "$NET" --ip 10.231.1.200 "$IMG" sleep 100000 >/dev/null
docker run -d -q --name e2e-relay --network "$NET" "$IMG" sleep 100000 >/dev/null

pid_of() { docker inspect -f '{{.State.Pid}}' "$1"; }
task_container() { # $1 = service, $2 = slot
    docker ps -q --filter "label=com.docker.swarm.service.name=$1" --filter "name=$1.$2." | head -1
}
wait_running() { # service, replicas
    for _ in $(seq 100); do
        [ "$(docker service ps -q --filter desired-state=running --filter "name=$1" "$1" | wc -l)" -ge "$2" ] &&
            [ "$(docker ps -q --filter "label=com.docker.swarm.service.name=$1" | wc -l)" -ge "$2" ] && return 0
        sleep 0.2
    done
    return 1
}
wait_running e2eweb 2 && ok "two labelled replicas running" || bad "replicas running"

export E2E_WINRM_PASSWORD=e2e-$RANDOM$RANDOM
start_sim() { # $1 = container
    local pid
    pid=$(pid_of "$1")
    echo "$pid" >>"$WORK/container-pids"
    nsenter -t "$pid" -n "$BIN" sim --listen 0.0.0.0:5986 --allow-remote --user e2e \
        --password-env E2E_WINRM_PASSWORD >"$WORK/sim-$1.log" 2>&1 &
    echo $! >>"$WORK/pids"
}
for slot in 1 2; do start_sim "$(task_container e2eweb $slot)"; done

TOKEN=e2e-$(head -c 16 /dev/urandom | od -An -tx1 | tr -d ' \n')
HASH=$(printf %s "$TOKEN" | sha256sum | cut -d' ' -f1)
cat >"$WORK/relay.toml" <<EOF
[[token]]
name = "e2e"
hash = "$HASH"
user = "e2e"
groups = ["ops"]

[[discovery]]
kind = "docker"
network = "$NET"
allow_networks = ["10.231.1.0/25"]
user = "e2e"
password_env = "E2E_WINRM_PASSWORD"
insecure = true
writers = ["group:ops"]
EOF
RELAY_NS=$(pid_of e2e-relay)
in_relay() { nsenter -t "$RELAY_NS" -n "$@"; }
# Started directly (not through a function) so that $! is the relay itself: nsenter execs it.
WINRELAY_STATE_DIR=$WORK/state nsenter -t "$RELAY_NS" -n "$BIN" serve --config "$WORK/relay.toml" \
    --listen 127.0.0.1:8080 >"$WORK/relay.out" 2>"$WORK/relay.err" &
echo $! >>"$WORK/pids"
BASE=http://127.0.0.1:8080
targets() { in_relay curl -sf -H "Authorization: Bearer $TOKEN" "$BASE/api/targets" | grep -oE '"name":"[^"]*"' | cut -d'"' -f4 | sort | tr '\n' ' '; }
wait_targets() { # $1 = grep -E pattern the list must match, $2 = seconds
    local deadline=$((SECONDS + $2))
    while [ $SECONDS -lt $deadline ]; do
        targets | grep -qE "$1" && return 0
        sleep 0.05
    done
    return 1
}
if wait_targets 'e2eweb\.1 e2eweb\.2' 20; then ok "the relay discovers e2eweb.1 and e2eweb.2 ($(targets))"; else bad "discovery: $(targets)"; fi
list=$(targets)
case " $list " in *e2eplain*) bad "an unlabelled service appears: $list" ;; *) ok "the unlabelled service never appears" ;; esac
case " $list " in *e2e-outside*) bad "an address outside allow_networks appears: $list" ;; *) ok "the container outside allow_networks never appears" ;; esac
grep -q 'e2e-outside.*outside allow_networks' "$WORK/relay.err" && ok "the relay logs why e2e-outside is not a target" || bad "no log line for e2e-outside"
# Each task carries where it runs, for the picker's groups and the fleet view.
web2=$(in_relay curl -sf -H "Authorization: Bearer $TOKEN" "$BASE/api/targets" | node -e '
    const t = JSON.parse(require("fs").readFileSync(0, "utf8")).find((t) => t.name === "e2eweb.2") || {};
    console.log([t.service, t.slot, t.node ? "node" : "", t.image, t.state, t.started_at ? "since" : ""].join(" "));')
case "$web2" in
    "e2eweb 2 node winrelay-e2e/busybox:local running since") ok "/api/targets says e2eweb.2's service, slot, node, image, state and start ($web2)" ;;
    *) bad "facts of e2eweb.2: '$web2'" ;;
esac

TASK2_IP=$(docker inspect -f "{{(index .NetworkSettings.Networks \"$NET\").IPAddress}}" "$(task_container e2eweb 2)")
nsenter -t "$RELAY_NS" -n node --experimental-websocket --no-warnings tests/docker/session.mjs open "$BASE" "$TOKEN" e2eweb.2 \
    "echo ran-on; hostname -I" "$TASK2_IP" >"$WORK/session.log" 2>&1 &
CLIENT=$!
echo $CLIENT >>"$WORK/pids"
for _ in $(seq 300); do grep -q READY "$WORK/session.log" && break; sleep 0.1; done
if grep -q READY "$WORK/session.log"; then ok "a shell on e2eweb.2 through the relay runs a command in task 2 ($TASK2_IP)"; else bad "session on e2eweb.2: $(tr '\n' ' ' <"$WORK/session.log")"; fi
# The same from a browser: Debian's chromium in the relay's network namespace opens the page,
# picks e2eweb.2 in the picker and runs a command in task 2.
if nsenter -t "$RELAY_NS" -n node tests/docker/browser.mjs "$BASE" "$TOKEN" e2eweb.2 \
    "echo from-the-browser; hostname -I" "$TASK2_IP" >"$WORK/browser.log" 2>&1 &&
    grep -q BROWSER-OK "$WORK/browser.log"; then
    ok "a browser opens e2eweb.2 from the picker and runs a command in task 2"
else
    bad "browser on e2eweb.2: $(tr '\n' ' ' <"$WORK/browser.log" | cut -c1-400)"
fi

start=$(date +%s%N)
docker service scale -d e2eweb=3 >/dev/null
if wait_targets 'e2eweb\.3' 30; then
    ok "scaling to three adds e2eweb.3 after $((($(date +%s%N) - start) / 1000000)) ms"
else
    bad "e2eweb.3 did not appear: $(targets)"
fi

start=$(date +%s%N)
docker service rm e2eweb >/dev/null
for _ in $(seq 300); do kill -0 "$CLIENT" 2>/dev/null || break; sleep 0.1; done
if grep -q 'bye the container of target e2eweb.2 is gone' "$WORK/session.log"; then
    ok "removing the service ends the session with a clear message after $((($(date +%s%N) - start) / 1000000)) ms"
else
    bad "session end: $(tr '\n' ' ' <"$WORK/session.log")"
fi
SID=$(sed -n 's/^session //p' "$WORK/session.log" | head -n 1)
ended=""
for _ in $(seq 50); do
    ended=$(in_relay curl -sf -H "Authorization: Bearer $TOKEN" "$BASE/api/sessions/$SID" | grep -oE '"state":"[a-z_]+"')
    [ "$ended" = '"state":"target_lost"' ] && break
    sleep 0.1
done
[ "$ended" = '"state":"target_lost"' ] && ok "the session ends as target_lost, not exited" || bad "session $SID state: $ended"
if ! targets | grep -q e2eweb; then ok "the removed service's targets are gone"; else bad "still listed: $(targets)"; fi

# --- the image, built offline, and its health check ------------------------------------------
rt=$WORK/runtime
mkdir -p "$rt/bin" "$rt/tmp" "$rt/etc"
cp /bin/busybox "$rt/bin/busybox"
chroot "$rt" /bin/busybox --install -s /bin
for lib in $(ldd "$BIN" | grep -oE '/[^ ]+'); do
    mkdir -p "$rt$(dirname "$lib")"
    cp -L "$lib" "$rt$lib"
done
tar -C "$rt" -c . | docker import - winrelay-e2e/runtime:local >/dev/null
mkdir -p deploy/prebuilt
cp "$BIN" deploy/prebuilt/winrelay
if DOCKER_BUILDKIT=1 /usr/bin/docker build -q -f deploy/Dockerfile --build-arg BINARY_FROM=prebuilt \
    --build-arg RUNTIME_IMAGE=winrelay-e2e/runtime:local -t winrelay-e2e/relay:local . >"$WORK/build.log" 2>&1; then
    ok "the image builds from deploy/Dockerfile without a registry"
else
    bad "image build: $(tail -5 "$WORK/build.log" | tr '\n' ' ')"
fi
rm -f deploy/prebuilt/winrelay
printf 'listen = "0.0.0.0:8080"\n' >"$WORK/img.toml"
chmod 644 "$WORK/img.toml"
docker run -d -q --name e2e-img -v "$WORK/img.toml:/etc/winrelay/relay.toml:ro" winrelay-e2e/relay:local >/dev/null
hc=1
for _ in $(seq 50); do docker exec e2e-img winrelay healthcheck >/dev/null 2>&1 && { hc=0; break; }; sleep 0.2; done
[ $hc = 0 ] && ok "winrelay healthcheck passes inside the image" || bad "healthcheck in the image: $(docker logs e2e-img 2>&1 | tail -3)"
[ "$(docker exec e2e-img id -u 2>/dev/null)" = 10001 ] && ok "the relay runs as user 10001" || bad "the relay's user"
for _ in $(seq 40); do [ "$(docker inspect -f '{{.State.Health.Status}}' e2e-img)" = healthy ] && break; sleep 1; done
[ "$(docker inspect -f '{{.State.Health.Status}}' e2e-img)" = healthy ] && ok "docker reports the container healthy" || bad "health: $(docker inspect -f '{{json .State.Health}}' e2e-img | head -c 300)"
docker rm -f e2e-img >/dev/null

# --- docker stack deploy of deploy/stack.yml --------------------------------------------------
docker network create -d overlay --attachable --subnet 10.231.3.0/24 app_net >/dev/null
sed -e 's/10.0.1.0\/24/10.231.3.0\/24/' -e 's/^pin = .*/insecure = true/' \
    -e '/^\[\[user\]\]/,/^groups/d' deploy/relay.example.toml >"$WORK/stack.toml"
docker config create winrelay_toml "$WORK/stack.toml" >/dev/null
printf %s "$E2E_WINRM_PASSWORD" | docker secret create winrm_password - >/dev/null
head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n' | docker secret create winrelay_embed_secret - >/dev/null
if DOCKER_GID=$(getent group docker | cut -d: -f3) WINRELAY_IMAGE=winrelay-e2e/relay:local WINRELAY_PORT=18099 docker stack deploy --resolve-image never \
    -c deploy/stack.yml e2estack >"$WORK/stack.log" 2>&1; then ok "docker stack deploy accepts deploy/stack.yml"; else bad "stack deploy: $(tr '\n' ' ' <"$WORK/stack.log")"; fi
healthy=""
for _ in $(seq 90); do
    c=$(docker ps -q --filter label=com.docker.swarm.service.name=e2estack_relay | head -1)
    if [ -n "$c" ] && [ "$(docker inspect -f '{{.State.Health.Status}}' "$c")" = healthy ]; then healthy=$c; break; fi
    sleep 1
done
if [ -n "$healthy" ]; then ok "the stack's relay runs and is healthy"; else bad "stack relay: $(docker service ps --no-trunc e2estack_relay 2>&1 | tail -2 | tr '\n' ' ')"; fi
# Healthy (its listener answers) can come before the discovery task has logged its start.
discovering=""
for _ in $(seq 50); do
    [ -n "$healthy" ] && docker logs "$healthy" 2>&1 | grep -q 'discovering targets' && { discovering=yes; break; }
    sleep 0.2
done
if [ -n "$discovering" ]; then ok "the stack's relay discovers through the socket"; else bad "no discovery in the stack's relay log"; fi
# A failed check fails the suite (make test and CI), not only the count.
exit $((FAIL > 0 ? 1 : 0))
