#!/usr/bin/env bash
# A private LAN made of network namespaces, for testing mDNS discovery and the cluster
# without touching this machine's real interfaces.
#
#   bash scripts/netns_lan.sh up N [PREFIX]     namespaces PREFIX1..PREFIXN (default PREFIX: e2a),
#                                               addresses 10.77.0.1/24 .. 10.77.0.N/24 on eth0,
#                                               joined by bridge br0 in namespace PREFIXbr
#   bash scripts/netns_lan.sh check [PREFIX]    send a multicast datagram to 224.0.0.251 from
#                                               PREFIX1 and check PREFIX2 receives it (`up`
#                                               runs this too when N >= 2)
#   bash scripts/netns_lan.sh exec I CMD...     run CMD in namespace PREFIX<I> (PREFIX from $PREFIX)
#   bash scripts/netns_lan.sh down [PREFIX]     remove everything `up` made; fine if absent
#
# Needs root and iproute2. Everything lives inside the namespaces it creates: the bridge sits
# in its own namespace, so no interface, route or sysctl of the host is changed. Removing a
# namespace removes the veths and the bridge in it.
# Example:  sudo bash scripts/netns_lan.sh up 3 && sudo bash scripts/netns_lan.sh exec 1 ip addr
set -euo pipefail

SUBNET=10.77.0
PYTHON=${PYTHON:-python3}

say() { echo "netns_lan: $*"; }
run() { say "+ $*"; "$@"; }

usage() {
    sed -n '2,17p' "$0" | sed 's/^# \{0,1\}//'
    exit 2
}

namespaces() {  # every namespace with this prefix: PREFIX1.., PREFIXbr
    local prefix=$1
    ip netns list 2>/dev/null | awk '{print $1}' | grep -E "^${prefix}([0-9]+|br)$" || true
}

cmd_up() {
    local n=${1:?usage: up N [PREFIX]} prefix=${2:-e2a}
    [[ $n =~ ^[0-9]+$ ]] && (( n >= 1 && n <= 250 )) || { say "N must be 1..250"; exit 2; }
    if [[ -n $(namespaces "$prefix") ]]; then
        say "namespaces with prefix '$prefix' exist already; run: $0 down $prefix"; exit 1
    fi
    local br=${prefix}br
    run ip netns add "$br"
    run ip -n "$br" link set lo up
    # Snooping off: the bridge floods all multicast, so mDNS reaches every port.
    run ip -n "$br" link add br0 type bridge mcast_snooping 0
    run ip -n "$br" link set br0 multicast on up
    local i ns
    for ((i = 1; i <= n; i++)); do
        ns=${prefix}${i}
        run ip netns add "$ns"
        run ip -n "$ns" link set lo up
        # The veth is created in the bridge namespace with its peer sent straight into the
        # node namespace as eth0: neither end ever exists on the host.
        run ip -n "$br" link add "v${i}" type veth peer name eth0 netns "$ns"
        run ip -n "$br" link set "v${i}" master br0 multicast on up
        run ip -n "$ns" addr add "${SUBNET}.${i}/24" dev eth0
        run ip -n "$ns" link set eth0 multicast on up
        # So programs that send multicast without choosing an interface find one.
        run ip -n "$ns" route add 224.0.0.0/4 dev eth0
    done
    say "up: $n namespaces ${prefix}1..${prefix}${n} on ${SUBNET}.0/24, bridge in $br"
    if (( n >= 2 )) && command -v "$PYTHON" >/dev/null; then
        cmd_check "$prefix"
    fi
}

cmd_down() {
    local prefix=${1:-e2a} ns
    for ns in $(namespaces "$prefix"); do
        run ip netns del "$ns"
    done
    say "down: nothing left with prefix '$prefix'"
}

cmd_exec() {
    local i=${1:?usage: exec I CMD...}
    shift
    (( $# )) || { say "usage: exec I CMD..."; exit 2; }
    exec ip netns exec "${PREFIX:-e2a}${i}" "$@"
}

cmd_check() {
    local prefix=${1:-e2a} port=53531 out
    local a=${prefix}1 b=${prefix}2
    ip netns list | grep -qw "^$b" || { say "check needs two namespaces ($a, $b)"; exit 1; }
    say "checking that multicast to 224.0.0.251 gets from $a to $b"
    out=$(mktemp)
    ip netns exec "$b" "$PYTHON" - "$port" > "$out" <<'EOF' &
import socket, struct, sys
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("", int(sys.argv[1])))
s.setsockopt(socket.IPPROTO_IP, socket.IP_ADD_MEMBERSHIP,
             struct.pack("4s4s", socket.inet_aton("224.0.0.251"), socket.inet_aton("0.0.0.0")))
s.settimeout(5)
data, addr = s.recvfrom(100)
print(addr[0], data.decode())
EOF
    local listener=$!
    sleep 0.5
    ip netns exec "$a" "$PYTHON" - "$port" <<'EOF'
import socket, sys, time
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_TTL, 255)
for _ in range(5):
    s.sendto(b"e2a-netns-check", ("224.0.0.251", int(sys.argv[1])))
    time.sleep(0.2)
EOF
    local rc=0
    wait "$listener" || rc=$?
    local got
    got=$(cat "$out")
    rm -f "$out"
    if (( rc == 0 )) && [[ $got == "${SUBNET}.1 e2a-netns-check" ]]; then
        say "multicast ok: $b received from $got"
    else
        say "multicast FAILED: $b received nothing from $a"
        exit 1
    fi
}

case ${1:-} in
    up) shift; cmd_up "$@" ;;
    down) shift; cmd_down "$@" ;;
    exec) shift; cmd_exec "$@" ;;
    check) shift; cmd_check "$@" ;;
    *) usage ;;
esac
