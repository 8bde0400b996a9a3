#!/usr/bin/env bash
# https-probe script: the latency of fresh connections through the appliance.
#   dotnet bench/HardenRunner.LabBench/bin/Release/net10.0/HardenRunner.LabBench.dll https-probe \
#       --script bench/HardenRunner.LabBench/scripts/fresh-names.sh [--appliance-dll DLL]
# Warms the appliance (5 s of new TLS connections to allowed.test: JIT, pools), then 8 curls to never-seen names
# (a certificate minted for each), then 8 new connections to the same names; curl trusts only the appliance's CA.
# Prints curl's phases per request and the medians. FRESH_NAMES (default 8) sets the count.
set -euo pipefail
ca="$LAB_WORK/probe/run-1/state/trust/ca.pem"
n="${FRESH_NAMES:-8}"
wrk -t1 -c4 -d5s -H 'Connection: close' https://allowed.test/ >/dev/null
sleep 1
tag="$(date +%s%N | tail -c 9)"
declare -a fresh same
for phase in fresh same; do
  for i in $(seq 1 "$n"); do
    t="$(curl -sS --fail --max-time 20 --cacert "$ca" -o /dev/null \
      -w '%{time_namelookup} %{time_connect} %{time_appconnect} %{time_starttransfer} %{time_total}' \
      "https://p${tag}x${i}.allowed.test/")"
    read -r dns tcp tls first total <<<"$t"
    printf '%-5s %2d  dns %6.1f  tcp %6.1f  tls %6.1f  first byte %6.1f  total %6.1f ms\n' "$phase" "$i" \
      "$(echo "$dns*1000" | bc)" "$(echo "$tcp*1000" | bc)" "$(echo "$tls*1000" | bc)" "$(echo "$first*1000" | bc)" "$(echo "$total*1000" | bc)"
    ms="$(echo "$total*1000" | bc)"
    if [ "$phase" = fresh ]; then fresh+=("$ms"); else same+=("$ms"); fi
    sleep 0.2
  done
done
median() { printf '%s\n' "$@" | sort -n | awk '{a[NR]=$1} END {if (NR%2) print a[(NR+1)/2]; else print (a[NR/2]+a[NR/2+1])/2}'; }
echo "median total ms: never-seen names $(median "${fresh[@]}"), same names on a new connection $(median "${same[@]}")"
echo "load average: $(cat /proc/loadavg)"
