#!/usr/bin/env bash
# https-probe script: the appliance's memory under the https scenario's loads, shortened.
#   dotnet bench/HardenRunner.LabBench/bin/Release/net10.0/HardenRunner.LabBench.dll https-probe \
#       --script bench/HardenRunner.LabBench/scripts/memory-load.sh [--appliance-dll DLL]
# The appliance inherits the environment, so GC settings can be tried with e.g. DOTNET_GCgen0size=... in front.
# Loads (LOAD_SECONDS each, default 5): wrk keep-alive HTTP/1.1 (50 conns), h2load HTTP/2 (50 conns x 10 streams),
# wrk new TLS connections (Connection: close), then a 100 MiB download over HTTP/2 and over HTTP/1.1; prints each
# load's rate and the appliance's memory (VmRSS, VmHWM, anonymous/file RSS) after each step.
set -euo pipefail
s="${LOAD_SECONDS:-5}"
mem() {
  awk -v step="$1" '/^VmRSS|^VmHWM|^RssAnon|^RssFile|^RssShmem/ {v[$1]=$2} END {printf "%-10s VmRSS %6.1f  VmHWM %6.1f  anon %6.1f  file %6.1f  shmem %6.1f MiB\n", step, v["VmRSS:"]/1024, v["VmHWM:"]/1024, v["RssAnon:"]/1024, v["RssFile:"]/1024, v["RssShmem:"]/1024}' "/proc/$APPLIANCE_PID/status"
}
mem start
wrk -t2 -c50 -d"${s}s" --latency https://allowed.test/ | awk '/Requests\/sec/ {print "wrk keep-alive req/s", $2}'
mem keepalive
h2load -t2 -c50 -m10 -D "$s" https://allowed.test/ 2>/dev/null | awk '/^finished in/ {print "h2load req/s", $4}'
mem h2
wrk -t2 -c50 -d"${s}s" -H 'Connection: close' https://allowed.test/ | awk '/Requests\/sec/ {print "wrk new connections/s", $2}'
mem newconn
curl -sS --http2 -o /dev/null -w 'download h2 %{speed_download} B/s\n' https://allowed.test/download/104857600
curl -sS --http1.1 -o /dev/null -w 'download h1 %{speed_download} B/s\n' https://allowed.test/download/104857600
mem download
grep -E '^(Rss|Pss_Anon|Pss_File|Anonymous)' "/proc/$APPLIANCE_PID/smaps_rollup" | tr '\n' ' '; echo
echo "load average: $(cat /proc/loadavg)"
