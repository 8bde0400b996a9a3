#!/bin/sh
# Installs HardenRunner as a systemd service, for image builders (packer provisioner, cloud-init, post-install).
#
#   install.sh --binary DIR_OR_FILE [--policy FILE] [--args "…"] [--root DIR] [--no-enable]
#
#   --binary     a published harden-runner: the 'dotnet publish' output directory (the Native AOT executable and
#                the libe_sqlite3.so beside it), or a single executable;
#                build one with: dotnet publish src/HardenRunner.Cli -c Release -o out
#   --policy     the machine's policy file, installed as /etc/harden-runner/policy.yml
#   --args       extra 'harden-runner service' options for /etc/default/harden-runner (e.g. "--egress-policy block")
#   --root       install into an image tree mounted at DIR instead of / (no systemctl calls)
#   --no-enable  do not enable/start the service
set -eu

root=""
binary=""
policy=""
args=""
enable=1
while [ $# -gt 0 ]; do
  case "$1" in
    --binary) binary=${2:?--binary needs a path}; shift 2 ;;
    --policy) policy=${2:?--policy needs a file}; shift 2 ;;
    --args) args=${2?--args needs a value}; shift 2 ;;
    --root) root=${2:?--root needs a directory}; shift 2 ;;
    --no-enable) enable=0; shift ;;
    -h|--help) sed -n '2,12p' "$0"; exit 0 ;;
    *) echo "install.sh: unknown option $1" >&2; exit 2 ;;
  esac
done

here=$(cd "$(dirname "$0")" && pwd)
[ -n "$binary" ] || { echo "install.sh: --binary is required" >&2; exit 2; }
[ -e "$binary" ] || { echo "install.sh: $binary does not exist" >&2; exit 2; }
[ -z "$policy" ] || [ -f "$policy" ] || { echo "install.sh: $policy does not exist" >&2; exit 2; }
case "$args" in *'"'*|*'\'*|*'$'*|*'`'*|*"
"*) echo "install.sh: --args must be one line without quotes, backslashes, \$ or backticks" >&2; exit 2 ;; esac
[ "$(id -u)" = 0 ] || { echo "install.sh: run as root" >&2; exit 1; }

prefix="$root/opt/harden-runner"
install -d -m 0755 "$prefix" "$root/etc/systemd/system" "$root/etc/default"
if [ -d "$binary" ]; then
  cp -a "$binary/." "$prefix/"
else
  install -m 0755 "$binary" "$prefix/harden-runner"
fi
[ -x "$prefix/harden-runner" ] || { echo "install.sh: $prefix/harden-runner is not executable after the copy" >&2; exit 1; }
install -m 0644 "$here/harden-runner.service" "$root/etc/systemd/system/harden-runner.service"

if [ -n "$policy" ]; then
  install -d -m 0755 "$root/etc/harden-runner"
  install -m 0644 "$policy" "$root/etc/harden-runner/policy.yml"
  args="--policy /etc/harden-runner/policy.yml${args:+ $args}"
fi
if [ ! -e "$root/etc/default/harden-runner" ] || [ -n "$args" ]; then
  umask 022
  {
    echo "# Options of 'harden-runner service' for harden-runner.service (see docs/deployment.md)."
    echo "HARDEN_RUNNER_ARGS=\"$args\""
  } > "$root/etc/default/harden-runner"
fi

if [ -z "$root" ] && [ "$enable" = 1 ]; then
  systemctl daemon-reload
  systemctl enable --now harden-runner.service
fi
echo "install.sh: installed $prefix/harden-runner and harden-runner.service${root:+ under $root}"
