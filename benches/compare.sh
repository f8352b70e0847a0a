#!/usr/bin/env bash
# Time lineage against the reference parser evtx_dump in one run, on the same inputs, and print a
# Markdown table (see benches/README.md).
#
#   benches/compare.sh [--dry] [--runs N] [--threads "1 2"] [-o FILE.md] [INPUT...]   (--help for all)
#
# INPUT is an .evtx file or a directory; default: /tmp/big.evtx (from make_big_evtx.py) and the
# corpus. Environment: LINEAGE (lineage binary), EVTX_DUMP (evtx_dump binary).
set -euo pipefail

usage() {
  cat <<'EOF'
usage: benches/compare.sh [--dry] [--runs N] [--threads "1 2"] [--max-wait S] [--no-idle-check]
                          [-o FILE.md] [INPUT...]

Times, for each INPUT (an .evtx file or a directory) and each thread count:
  lineage events INPUT --format jsonl -o /dev/null --quiet --threads N
  evtx_dump -t N -o jsonl FILE > /dev/null      (a directory: once per *.evtx file, total time)
One warm-up run of each tool, then --runs timed runs of each (default 3), alternating between
the tools; the table shows medians.

  --dry          run evtx_dump in place of lineage too (tests this script without lineage)
  --runs N       timed runs per cell (default 3)
  --threads LIST thread counts to try (default "1 2")
  --max-wait S   before each timed run, wait up to S seconds (default 600) for the machine to be
                 idle; a run disturbed by another process is repeated (up to 5 tries, else its
                 time is marked * in the table)
  --no-idle-check  neither wait nor repeat
  -o FILE        also write the Markdown report to FILE
  INPUT...       default: /tmp/big.evtx and the corpus directory

Environment: LINEAGE_COMMAND=scan times `lineage scan` instead of `lineage events`.
Environment: LINEAGE=path/to/lineage (default: the `dist` build, thin LTO, from
`cargo build --profile dist`, in target/ or $CARGO_TARGET_DIR; else the release build), EVTX_DUMP=path/to/evtx_dump (default: PATH, ~/.cargo/bin).
EOF
}

die() { echo "compare.sh: error: $*" >&2; exit 1; }
log() { echo "$*" >&2; }

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(dirname "$here")"

dry=0
idle_check=1
max_wait=600
runs=3
threads="1 2"
out=""
inputs=()
while (($#)); do
  case "$1" in
    --dry) dry=1 ;;
    --no-idle-check) idle_check=0 ;;
    --max-wait) max_wait="${2:?--max-wait needs seconds}"; shift ;;
    --runs) runs="${2:?--runs needs a number}"; shift ;;
    --threads) threads="${2:?--threads needs a list}"; shift ;;
    -o) out="${2:?-o needs a file}"; shift ;;
    -h|--help) usage; exit 0 ;;
    --) shift; inputs+=("$@"); break ;;
    -*) usage >&2; die "unknown option $1" ;;
    *) inputs+=("$1") ;;
  esac
  shift
done
[[ "$runs" =~ ^[1-9][0-9]*$ ]] || die "--runs must be a positive number, not '$runs'"
[[ "$max_wait" =~ ^[1-9][0-9]*$ ]] || die "--max-wait must be a positive number of seconds, not '$max_wait'"
for n in $threads; do [[ "$n" =~ ^[1-9][0-9]*$ ]] || die "bad thread count '$n' in --threads"; done

if ((${#inputs[@]} == 0)); then
  # The corpus sits beside the clone, or two levels up from a worktree (/work/wt/NAME).
  corpus=""
  for c in "$repo/../shared/corpus" "$repo/../../shared/corpus"; do
    [[ -d "$c" ]] && { corpus="$(cd "$c" && pwd)"; break; }
  done
  [[ -n "$corpus" ]] || die "corpus directory not found beside the repository; name inputs explicitly"
  inputs=(/tmp/big.evtx "$corpus")
fi
for i in "${inputs[@]}"; do
  if [[ "$i" == /tmp/big.evtx && ! -e "$i" ]]; then
    die "$i is missing; build it first: python3 benches/make_big_evtx.py --size-mb 260 -o /tmp/big.evtx"
  fi
  [[ -f "$i" || -d "$i" ]] || die "input not found: $i"
done

# --- tools ------------------------------------------------------------------------------------
# GNU time, not the shell keyword: it gives peak RSS (%M, KB) as well as wall time (%e, s).
[[ -x /usr/bin/time ]] || die "/usr/bin/time not found (apt-get install time)"
/usr/bin/time -f '%e %M' -o /dev/null true 2>/dev/null || die "/usr/bin/time is not GNU time (no -f)"

EVTX_DUMP="${EVTX_DUMP:-$(command -v evtx_dump || echo "$HOME/.cargo/bin/evtx_dump")}"
[[ -x "$EVTX_DUMP" ]] || die "evtx_dump not found at '$EVTX_DUMP' (cargo install evtx --version 0.15.1, or set EVTX_DUMP)"

if [[ -z "${LINEAGE:-}" ]]; then
  # The `dist` profile (release + thin LTO) is what users get; release is the fallback.
  for cand in "${CARGO_TARGET_DIR:-$repo/target}/dist/lineage" "$repo/target/dist/lineage" \
              "${CARGO_TARGET_DIR:-$repo/target}/release/lineage" "$repo/target/release/lineage"; do
    if [[ -x "$cand" ]]; then LINEAGE="$cand"; break; fi
  done
  LINEAGE="${LINEAGE:-$repo/target/release/lineage}"
fi
if ((dry)); then
  lineage_label="lineage [dry: evtx_dump]"
else
  [[ -x "$LINEAGE" ]] || die "lineage binary not found at '$LINEAGE' (cargo build --profile dist, or set LINEAGE=...)"
  lineage_label="lineage"
fi

# This machine's environment sets RUST_BACKTRACE=1, which makes evtx_dump capture a stack trace
# for every record it fails to decode (the corpus has damaged files): a cost a user does not pay.
unset RUST_BACKTRACE RUST_LIB_BACKTRACE

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

# --- inputs -----------------------------------------------------------------------------------
# What evtx_dump reads in a directory: every *.evtx file, as `find -name '*.evtx'` sees them.
evtx_count() { find "$1" -type f -name '*.evtx' | wc -l; }
input_bytes() {
  if [[ -d "$1" ]]; then find "$1" -type f -name '*.evtx' -printf '%s\n' | awk '{s += $1} END {print s + 0}'
  else stat -c %s "$1"; fi
}
# The reference record count (one JSON line per record), computed once and used for both tools'
# records/s, so that column compares like with like.
record_count() {
  if [[ -d "$1" ]]; then find "$1" -type f -name '*.evtx' -exec "$EVTX_DUMP" -o jsonl {} ';' 2>/dev/null | wc -l
  else "$EVTX_DUMP" -o jsonl "$1" 2>/dev/null | wc -l; fi
}

# Sets the array CMD to the command line for tool $1 (lineage|evtx_dump) on input $2, $3 threads.
# Every command's stdout goes to /dev/null (done by the caller).
build_cmd() {
  local tool="$1" input="$2" n="$3"
  if [[ "$tool" == lineage && $dry -eq 0 ]]; then
    # One process for everything: lineage walks directories itself.
    # LINEAGE_COMMAND=scan times `lineage scan` (read, lineage, baseline, JSONL report) instead.
    case "${LINEAGE_COMMAND:-events}" in
      scan) CMD=("$LINEAGE" scan "$input" --format jsonl -o /dev/null --quiet --threads "$n" --fail-on critical) ;;
      *) CMD=("$LINEAGE" events "$input" --format jsonl -o /dev/null --quiet --threads "$n") ;;
    esac
  elif [[ -d "$input" ]]; then
    # evtx_dump takes one file: run it once per file, as a user would; the time is the total.
    # (find -exec ... ';' does not stop at a failing evtx_dump; its exit status stays 0.)
    CMD=(find "$input" -type f -name '*.evtx' -exec "$EVTX_DUMP" -t "$n" -o jsonl {} ';')
  else
    CMD=("$EVTX_DUMP" -t "$n" -o jsonl "$input")
  fi
}

# Runs CMD once under GNU time; sets T_SECS (wall), T_KB (peak RSS) and T_CPU (user + system
# seconds of the tool). Not run in a subshell, so that a failure stops the whole script. The
# tool's stderr goes to a file: a terminal would slow down a tool that reports many problems.
time_once() {
  local tool="$1" rc=0
  /usr/bin/time -f '%e %M %U %S' -o "$work/time" "${CMD[@]}" >/dev/null 2>"$work/stderr" || rc=$?
  # lineage exits 3 when it finished but some input was damaged: expected on the corpus; and
  # `scan` exits 1 when it reports findings (the corpus has real attacks).
  if ((rc != 0)) && ! [[ "$tool" == lineage && $dry -eq 0 && ($rc -eq 3 || $rc -eq 1) ]]; then
    log "command failed (exit $rc): ${CMD[*]}"
    tail -n 20 "$work/stderr" >&2
    die "$tool failed"
  fi
  # On a non-zero exit GNU time writes a "Command exited with ..." line first: take the last.
  local user sys
  read -r T_SECS T_KB user sys < <(tail -n 1 "$work/time")
  [[ "$T_SECS" =~ ^[0-9.]+$ && "$T_KB" =~ ^[0-9]+$ ]] || die "cannot read GNU time output: $(cat "$work/time")"
  T_CPU="$(awk -v u="$user" -v s="$sys" 'BEGIN {printf "%.2f", u + s}')"
}

# CPU seconds all processes on the machine have used since boot (user, nice, system, irq, softirq,
# steal; not idle or iowait), from /proc/stat in clock ticks.
busy_ticks() { awk '/^cpu / {print $2 + $3 + $4 + $7 + $8 + $9; exit}' /proc/stat; }
hz="$(getconf CLK_TCK)"

# This machine has 2 cores and is shared: another process (a cargo build) can double a wall
# time. Before each timed run, wait (up to --max-wait s) until the machine has been idle for one
# second, meaning all processes together used under 0.1 CPU s in it.
wait_idle() {
  local waited=0 b1 b2
  while :; do
    b1="$(busy_ticks)"; sleep 1; b2="$(busy_ticks)"
    if (( (b2 - b1) * 10 < hz )); then return 0; fi
    if ((waited == 0)); then log "   waiting for the machine to be idle ($(( (b2 - b1) * 100 / hz ))% of a core busy) ..."; fi
    waited=$((waited + 1))
    if ((waited >= max_wait)); then log "   still busy after $max_wait s: measuring anyway"; return 0; fi
  done
}

# One timed run, repeated (up to 5 tries) while another process disturbed it: the CPU time the
# whole machine spent during the run, minus the tool's own, must stay under 0.05 s + 10% of the
# wall time (the shell, GNU time, tick rounding and idle background polling stay below that;
# a competing build uses about 1 CPU s per second). Sets T_* and
# T_NOTE ("*" when every try was disturbed).
measure() {
  local tool="$1" try b1 b2 other
  T_NOTE=""
  for try in 1 2 3 4 5; do
    ((idle_check)) && wait_idle
    b1="$(busy_ticks)"
    time_once "$tool"
    b2="$(busy_ticks)"
    ((idle_check)) || return 0
    other="$(awk -v d="$((b2 - b1))" -v hz="$hz" -v c="$T_CPU" -v w="$T_SECS" \
      'BEGIN {o = d / hz - c; printf "%.2f", o; exit (o > 0.05 + 0.1 * w)}')" || {
      log "   disturbed: other processes used $other CPU s during a $T_SECS s run; again"
      continue
    }
    return 0
  done
  T_NOTE="*"
}

# Median of the numbers on stdin (mean of the two middle ones for an even count).
median() { sort -g | awk '{v[NR] = $1} END {if (NR % 2) print v[(NR + 1) / 2]; else print (v[NR / 2] + v[NR / 2 + 1]) / 2}'; }

# --- run --------------------------------------------------------------------------------------
# Keep the load in the report, and warn early when the machine is already busy.
load_before="$(cut -d' ' -f1-3 /proc/loadavg)"
if awk -v l="${load_before%% *}" 'BEGIN {exit !(l >= 0.5)}'; then
  log "warning: load average is $load_before: another process is busy, wall times will be inflated"
fi

rows=()
declare -A n_records n_bytes
start_all=$SECONDS
for input in "${inputs[@]}"; do
  bytes="$(input_bytes "$input")"
  if [[ -d "$input" ]]; then
    label="$(basename "$input")/ ($(evtx_count "$input") files)"
  else
    label="$(basename "$input")"
  fi
  log "== $input: $bytes bytes; counting records with evtx_dump -o jsonl | wc -l ..."
  records="$(record_count "$input")"
  log "   $records records"
  n_records["$input"]="$records"; n_bytes["$input"]="$bytes"
  for n in $threads; do
    # Both tools are warmed up, then their timed runs alternate (lineage, evtx_dump, lineage, ...):
    # this host's speed drifts between runs (a one-thread evtx_dump run takes 0.55 or 0.85 s),
    # and alternating spreads such drift over both tools instead of favouring one.
    declare -A name=() secs=() rss=() cpu=()
    for tool in lineage evtx_dump; do
      build_cmd "$tool" "$input" "$n"
      name[$tool]="$tool"; [[ "$tool" == lineage ]] && name[$tool]="$lineage_label"
      [[ "$tool" == evtx_dump && -d "$input" ]] && name[$tool]="evtx_dump (1 process per file, total)"
      log "-- ${name[$tool]}, $n thread(s): ${CMD[*]}"
      time_once "$tool"  # warm-up: page cache, binary, allocator
    done
    for ((r = 1; r <= runs; r++)); do
      for tool in lineage evtx_dump; do
        build_cmd "$tool" "$input" "$n"
        measure "$tool"
        log "   run $r, $tool -t $n: $T_SECS s, $T_KB KB, CPU $T_CPU s${T_NOTE:+ (disturbed)}"
        secs[$tool]+="$T_SECS$T_NOTE "; rss[$tool]+="$T_KB "; cpu[$tool]+="$T_CPU "
      done
    done
    for tool in lineage evtx_dump; do
      s_med="$(tr ' ' '\n' <<<"${secs[$tool]//\*/}" | grep . | median)"
      m_med="$(tr ' ' '\n' <<<"${rss[$tool]}" | grep . | median)"
      c_med="$(tr ' ' '\n' <<<"${cpu[$tool]}" | grep . | median)"
      rows+=("$(awk -v inp="$label" -v tool="${name[$tool]}" -v n="$n" -v s="$s_med" -v b="$bytes" \
        -v rec="$records" -v kb="$m_med" -v cpu="$c_med" -v all="${secs[$tool]% }" 'BEGIN {
          mbs = s > 0 ? sprintf("%.1f", b / 1e6 / s) : "-"
          rps = s > 0 ? sprintf("%.0f", rec / s) : "-"
          printf "| %s | %s | %s | %.2f | %s | %s | %.1f | %.2f | %s |", inp, tool, n, s, mbs, rps, kb * 1024 / 1e6, cpu, all
        }')")
    done
  done
done
elapsed=$((SECONDS - start_all))

# --- report -----------------------------------------------------------------------------------
report() {
  echo "## lineage vs evtx_dump"
  echo
  echo "- $(date -u +%Y-%m-%dT%H:%MZ), $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//')"
  echo "- evtx_dump: $("$EVTX_DUMP" --version 2>&1 | head -n 1) ($EVTX_DUMP)"
  if ((dry)); then echo "- lineage: DRY RUN, evtx_dump ran in its place"
  else echo "- lineage: $("$LINEAGE" --version 2>&1 | head -n 1) ($LINEAGE)"; fi
  for input in "${inputs[@]}"; do
    echo "- input \`$input\`: ${n_bytes[$input]} bytes, ${n_records[$input]} records"
  done
  echo "- median of $runs timed runs per tool after 1 warm-up each, the tools alternating; page cache warm; output to /dev/null; total $elapsed s"
  echo "- MB/s = input bytes / 10^6 / seconds; records/s = \`evtx_dump -o jsonl | wc -l\` records / seconds;"
  echo "  peak RSS = largest single process (GNU time %M), 10^6 bytes; CPU s = median user + system time"
  echo "- load average before / after: $load_before / $(cut -d' ' -f1-3 /proc/loadavg)"
  if ((idle_check)); then echo "- each timed run waited for an idle machine; a run another process disturbed was repeated (* = still disturbed after 5 tries)"
  else echo "- no idle check (--no-idle-check): times may include other processes' load"; fi
  echo
  echo "| input | tool | threads | seconds | MB/s | records/s | peak RSS MB | CPU s | runs (s) |"
  echo "|---|---|---|---|---|---|---|---|---|"
  printf '%s\n' "${rows[@]}"
}
if [[ -n "$out" ]]; then report | tee "$out"; else report; fi
