#!/usr/bin/env bash
# Runs every fuzz target (or the ones named) for a bounded time each, on
# stable Rust: cargo-fuzz with `--sanitizer none`, libFuzzer's coverage
# guidance without a sanitizer (safe Rust panics on what a sanitizer would
# catch; debug assertions are on, so overflows panic too). Installs
# cargo-fuzz first if it is missing. See fuzz/README.md.
#
#   scripts/fuzz.sh                      # every target, 60 s each
#   FUZZ_SECONDS=600 scripts/fuzz.sh     # 10 minutes each
#   scripts/fuzz.sh venue_layout         # one target
#
# Settings (environment):
#   FUZZ_SECONDS    time per target in seconds (default 60)
#   FUZZ_JOBS       parallel fuzzing processes per target (default 1)
#   FUZZ_SANITIZER  cargo-fuzz sanitizer (default none; others need nightly)
#   FUZZ_KEEP=1     add new inputs to the committed corpus (fuzz/corpus/<target>)
#                   instead of fuzz/target/corpus/<target>; shrink it with
#                   `cargo fuzz cmin` before committing
#
# The committed corpus is read as seeds either way. A crash stops that
# target and leaves its input in fuzz/artifacts/<target>/; the other targets
# still run, and the script exits 1 naming the targets that crashed.
set -euo pipefail
cd "$(dirname "$0")/.."

seconds="${FUZZ_SECONDS:-60}"
jobs="${FUZZ_JOBS:-1}"
sanitizer="${FUZZ_SANITIZER:-none}"

if ! cargo fuzz --version >/dev/null 2>&1; then
  echo "installing cargo-fuzz"
  cargo install cargo-fuzz --locked || cargo install cargo-fuzz
fi

if [[ $# -gt 0 ]]; then
  targets=("$@")
else
  mapfile -t targets < <(cargo fuzz list)
fi

cargo fuzz build --sanitizer "$sanitizer"

crashed=()
for target in "${targets[@]}"; do
  seeds="fuzz/corpus/$target"
  mkdir -p "$seeds"
  if [[ "${FUZZ_KEEP:-0}" == 1 ]]; then
    dirs=("$seeds")
  else
    out="fuzz/target/corpus/$target"
    mkdir -p "$out"
    dirs=("$out" "$seeds")
  fi
  args=(-max_total_time="$seconds" -timeout=10 -print_final_stats=1)
  if [[ "$jobs" -gt 1 ]]; then args+=(-fork="$jobs"); fi
  if [[ -f "fuzz/$target.dict" ]]; then args+=(-dict="fuzz/$target.dict"); fi
  echo "== $target: ${seconds}s"
  if ! cargo fuzz run "$target" --sanitizer "$sanitizer" "${dirs[@]}" -- "${args[@]}"; then
    crashed+=("$target")
  fi
done

if [[ ${#crashed[@]} -gt 0 ]]; then
  echo "crashed: ${crashed[*]} (inputs in fuzz/artifacts/; see fuzz/README.md)" >&2
  exit 1
fi
echo "no crash in ${targets[*]}"
