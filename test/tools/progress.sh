#!/usr/bin/env bash
# progress.sh LABEL DIR GO-BUILD-ARGS...: runs `go build -v GO-BUILD-ARGS...` in DIR and, while
# it runs, prints one line every 30 s: packages compiled out of those the build needs, elapsed
# time and an estimate of what is left. One plain line per interval (no spinner), so a CI log
# stays readable; nothing is printed for a build that takes less than 30 s.
set -euo pipefail
label=$1 dir=$2
shift 2
cd "$dir"
log=$(mktemp)
trap 'rm -f "$log"; [[ -n ${pid:-} ]] && kill "$pid" 2>/dev/null || true' EXIT

# The packages the build needs: an upper bound on what -v reports (cached ones are not listed).
# Flags and their separate values (-o PATH, -ldflags FLAGS, ...) are not packages.
pkgs=() skip=
for a in "$@"; do
  if [[ -n $skip ]]; then skip=; continue; fi
  case $a in
  -o | -ldflags | -gcflags | -tags | -p) skip=1 ;;
  -* | */) ;;
  *) pkgs+=("$a") ;;
  esac
done
total=$(go list -deps "${pkgs[@]:-.}" 2>/dev/null | wc -l) || total=0

start=$SECONDS
go build -v "$@" 2>"$log" &
pid=$!
fmt() { printf '%dm%02ds' $(($1 / 60)) $(($1 % 60)); }
while kill -0 "$pid" 2>/dev/null; do
  for _ in $(seq 30); do kill -0 "$pid" 2>/dev/null || break; sleep 1; done
  kill -0 "$pid" 2>/dev/null || break
  elapsed=$((SECONDS - start))
  done_n=$(grep -cv '^go: \|^#\|: ' "$log" || true)
  if ((total > 0 && done_n > 0 && done_n < total)); then
    left=$((elapsed * (total - done_n) / done_n))
    echo "$label: $done_n of at most $total packages compiled, $(fmt $elapsed) elapsed, about $(fmt $left) left (estimate from the rate so far)" >&2
  elif ((done_n >= total && total > 0)); then
    echo "$label: all packages compiled, linking, $(fmt $elapsed) elapsed" >&2
  else
    echo "$label: $(fmt $elapsed) elapsed (downloading modules or checking the cache)" >&2
  fi
done
set +e
wait "$pid"
rc=$?
pid=
set -e
if ((rc != 0)); then
  grep -v '^[a-zA-Z0-9._/-]*$' "$log" >&2 || cat "$log" >&2
  exit "$rc"
fi
# Keep go's own messages (downloads, warnings), not the -v package list.
grep -e '^go: ' -e 'warning' "$log" >&2 || true
elapsed=$((SECONDS - start))
((elapsed < 30)) || echo "$label: built in $(fmt $elapsed)" >&2
