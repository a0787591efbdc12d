#!/usr/bin/env bash
# lab.sh - `hilt probe` names the right cause for every `hilt lab` scenario.
# Starts the lab on a free port range, takes the scenario list it publishes
# (`--list --json` must agree with what the running lab printed), then for
# each scenario runs `hilt probe --json ARGS` and asserts `ok`,
# `diagnosis.code`, the expected non-error finding, and the exit code.
# Ends by stopping the lab with SIGTERM: exit 0, no sanitizer report, ports free.
source "$(dirname "$0")/../lib.sh"
source "$(dirname "$0")/lab_helpers.bash"

if ! lab_start "$T/lab" --dir "$T/lab"; then
  fail "lab starts" "$(head -c 600 "$T/lab.err" 2>/dev/null)"
  exit 0
fi
pass "lab starts on 127.0.0.1:$LAB_BASE-$((LAB_BASE + LAB_SPAN - 1))"

"$HILT" lab --list --json --base-port "$LAB_BASE" --dir "$T/lab" >"$T/list.json" 2>"$T/list.err"
if jq -e --slurpfile a "$LAB_OUT" '. == $a[0]' "$T/list.json" >/dev/null 2>&1; then
  pass "lab --list --json matches the running lab's list"
else
  fail "lab --list --json matches the running lab's list" "$(diff <(jq -S . "$T/list.json") <(jq -S . "$LAB_OUT") | head -5)"
fi

n=$(jq length "$LAB_OUT")
for i in $(seq 0 $((n - 1))); do
  name=$(jq -r ".[$i].name" "$LAB_OUT")
  want_ok=$(jq -r ".[$i].expect.ok" "$LAB_OUT")
  want_code=$(jq -r ".[$i].expect.code" "$LAB_OUT")
  want_finding=$(jq -r ".[$i].expect.finding" "$LAB_OUT")
  mapfile -t args < <(jq -r ".[$i].args[]" "$LAB_OUT")
  out="$T/probe-$name.json"
  timeout 120 "$HILT" probe --json "${args[@]}" >"$out" 2>"$T/probe-$name.err"; rc=$?
  if ! jq -e 'type == "object"' "$out" >/dev/null 2>&1; then
    fail "probe $name" "no JSON (exit $rc): $(head -c 300 "$T/probe-$name.err")"
    continue
  fi
  got_ok=$(jq -r '.ok' "$out")
  got_code=$(jq -r '.diagnosis.code // "null"' "$out")
  why=""
  [[ "$got_ok" == "$want_ok" ]] || why+="ok=$got_ok (wanted $want_ok); "
  [[ "$got_code" == "$want_code" ]] || why+="diagnosis.code=$got_code (wanted $want_code); "
  if [[ "$want_finding" != null ]] &&
     ! jq -e --arg f "$want_finding" 'any(.findings[]?; .code == $f)' "$out" >/dev/null; then
    why+="finding $want_finding missing (got: $(jq -c '[.findings[]?.code]' "$out")); "
  fi
  want_rc=1; [[ "$want_ok" == true ]] && want_rc=0
  [[ "$rc" == "$want_rc" ]] || why+="exit $rc (wanted $want_rc); "
  if [[ -z "$why" ]]; then
    pass "probe $name: $( [[ $want_ok == true ]] && echo ok || echo "$want_code")"
  else
    fail "probe $name" "$why"
  fi
done

lab_stop
if [[ "$LAB_RC" == 0 ]] && ! grep -qE 'Sanitizer|runtime error' "$LAB_ERR"; then
  pass "lab stops cleanly on SIGTERM (exit 0, no sanitizer report)"
else
  fail "lab stops cleanly on SIGTERM" "exit $LAB_RC: $(grep -m3 -E 'Sanitizer|runtime error|ERROR' "$LAB_ERR")"
fi
if ports_closed "$LAB_BASE" 0 $((LAB_SPAN - 1)); then
  pass "lab leaves nothing listening"
else
  fail "lab leaves nothing listening" "a port of $LAB_BASE.. still accepts"
fi
