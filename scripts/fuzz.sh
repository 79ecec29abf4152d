#!/usr/bin/env bash
# Builds every fuzz target in fuzz/ (cargo-fuzz on a nightly toolchain) and
# runs each for SECONDS (default 20), starting from the seed corpus in
# fuzz/corpus/<target>. Fails if any target crashes (a panic, a 500, a
# hang over 30 s or a sanitizer report); the input that did it is kept in
# fuzz/artifacts/<target>/. Not part of scripts/test.sh: CI runs it after
# the tests (.ci/run), and docs/reliability.md ("Fuzzing") tells how to run
# it long.
#
#   bash scripts/fuzz.sh [SECONDS] [TARGET...]
#
# New inputs a run finds go to fuzz/target/corpus/<target> (not committed),
# so repeated local runs build on each other. COFFER_FUZZ_ARGS adds libFuzzer
# options (e.g. "-jobs=2 -workers=2"); COFFER_FUZZ_TOOLCHAIN picks another
# toolchain than nightly.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

seconds="${1:-20}"
shift || true
toolchain="${COFFER_FUZZ_TOOLCHAIN:-nightly}"
read -r -a extra <<<"${COFFER_FUZZ_ARGS:-}"

if ! cargo "+$toolchain" fuzz --version >/dev/null 2>&1; then
  echo "cargo-fuzz for toolchain $toolchain is missing: rustup toolchain install $toolchain && cargo install cargo-fuzz --locked" >&2
  exit 2
fi

echo "==> cargo +$toolchain fuzz build"
cargo "+$toolchain" fuzz build

if [ "$#" -gt 0 ]; then
  targets=("$@")
else
  mapfile -t targets < <(cargo "+$toolchain" fuzz list)
fi

# The harness keeps each process's store in /dev/shm/coffer-fuzz-<pid>;
# remove those of processes that are gone.
clean_stores() {
  local dir pid
  for dir in "${COFFER_FUZZ_DIR:-/dev/shm}"/coffer-fuzz-*; do
    [ -d "$dir" ] || continue
    pid="${dir##*-}"
    [ -d "/proc/$pid" ] || rm -rf "$dir"
  done
}

failed=()
summary=()
for target in "${targets[@]}"; do
  corpus="fuzz/target/corpus/$target"
  mkdir -p "$corpus"
  log="fuzz/target/fuzz-$target.log"
  echo "==> $target for ${seconds}s"
  flags=(-max_total_time="$seconds" -timeout=30 -print_final_stats=1)
  case "$target" in
    # Each request runs through the whole service and lights up thousands
    # of coverage counters; libFuzzer's entropic schedule, which tracks rare
    # ones, then costs more than the request itself (2-3x fewer executions).
    request | aws_chunked | post_form) flags+=(-entropic=0) ;;
  esac
  status=0
  cargo "+$toolchain" fuzz run "$target" "$corpus" "fuzz/corpus/$target" -- \
    "${flags[@]}" "${extra[@]}" >"$log" 2>&1 || status=$?
  clean_stores
  executions=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | awk '{ n += $1 } END { print n + 0 }')
  rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | awk '{ n += $1 } END { print n + 0 }')
  added=$(sed -n 's/^stat::new_units_added: *//p' "$log" | awk '{ n += $1 } END { print n + 0 }')
  # Executions spent replaying the corpus before any mutation (libFuzzer's
  # "#N INITED"); -max_total_time does not cut that short.
  replayed=$(sed -n 's/^#\([0-9]*\)[[:space:]]*INITED.*/\1/p' "$log" | awk '{ n += $1 } END { print n + 0 }')
  if [ "$status" -ne 0 ]; then
    failed+=("$target")
    summary+=("$(printf '%-14s FAILED after %s executions' "$target" "$executions")")
    echo "--- $target failed (exit $status); the end of $log:"
    tail -n 60 "$log"
    echo "--- reproduce with: cargo +$toolchain fuzz run $target fuzz/artifacts/$target/<crash file>"
  else
    line="$(printf '%-14s %10s executions (%s/s), %s of them replaying the corpus, %s new inputs' \
      "$target" "$executions" "$rate" "$replayed" "$added")"
    if [ "$executions" -le "$replayed" ]; then
      line+=" -- replaying the corpus took all the time, nothing was fuzzed: run longer, or minimize $corpus with cargo +$toolchain fuzz cmin $target $corpus"
    fi
    summary+=("$line")
  fi
done

echo
echo "==> fuzzing summary (${seconds}s per target)"
printf '%s\n' "${summary[@]}"
if [ "${#failed[@]}" -gt 0 ]; then
  echo "crashed: ${failed[*]}" >&2
  exit 1
fi
