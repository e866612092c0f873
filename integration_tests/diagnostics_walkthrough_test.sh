#!/bin/bash
# The operator's walkthrough of docs/diagnostics.md (issue 26): starts the
# local stack with deploy/run-local-stack.sh, takes the `export` line it
# prints, and runs every command of the doc's code blocks as written
# (vitrage-ctl, grpc_probe.py, and grpcurl: run when installed, else
# translated to grpc_probe.py by the doc's own rule). Each must exit 0 and
# print something. The commands come from the doc, so a doc that drifts
# from the tools fails here. Two placeholders the doc explains are filled
# in: VITRAGE_ID (a host's vitrage_id) and ALARM_ID (an alarm's).
# Also runs the `vitrage-ctl --config PATH ...` forms the stack prints.
# Run by ctest (labels "integration;mariadb").
. "$(dirname "$0")/deploy_test_lib.sh"

/usr/bin/python3 -c 'import grpc' 2> /dev/null || { echo "python3-grpcio missing: skipped"; exit 77; }
DOC=$VITRAGE_SOURCE_DIR/docs/diagnostics.md
deploy_init diagnostics_walkthrough

# The stack in its own process group (its leader is the pid we start), so
# that its `sleep` ends with it and the script's own cleanup runs.
setsid env SKIP_BUILD=1 BUILD_DIR="$VITRAGE_BINARY_DIR" \
	bash "$VITRAGE_SOURCE_DIR/deploy/run-local-stack.sh" > "$T/stack.log" 2>&1 &
STACK_PID=$!
stop_stack() {
	kill -TERM -- "-$STACK_PID" 2>/dev/null
	local i
	for (( i = 0; i < 300; i++ )); do
		kill -0 "$STACK_PID" 2>/dev/null || break
		sleep 0.1
	done
	kill -KILL -- "-$STACK_PID" 2>/dev/null
	wait "$STACK_PID" 2>/dev/null
}
CLEANUPS+=(stop_stack)

exports=""
for (( i = 0; i < 600; i++ )); do
	exports=$(grep -m1 '^  export PATH=' "$T/stack.log")
	[ -n "$exports" ] && break
	kill -0 "$STACK_PID" 2>/dev/null || die "the stack ended: $(tail -n 20 "$T/stack.log")"
	sleep 0.1
done
[ -n "$exports" ] || die "the stack printed no export line: $(tail -n 20 "$T/stack.log")"
eval "$exports"
log "stack: $exports"
for v in VITRAGE_CONFIG GRAPH PERSISTOR COLLECTOR; do
	[ -n "${!v:-}" ] || die "the export line does not set $v"
done
[ "$(command -v vitrage-ctl)" = "$CTL_BIN" ] || die "PATH does not lead to $CTL_BIN"

# The stack's own `vitrage-ctl --config PATH ...` lines.
forms=$(sed -n 's/^  [a-z]*: *\(.*vitrage-ctl --config .*\)$/\1/p' "$T/stack.log")
[ "$(echo "$forms" | grep -c .)" -ge 2 ] || die "the stack prints no vitrage-ctl --config forms"

active=""
for (( i = 0; i < 600; i++ )); do
	active=$(vitrage-ctl status 2>/dev/null | grep -c '"role": "ACTIVE"')
	[ "$active" = 1 ] && break
	sleep 0.1
done
[ "$active" = 1 ] || die "the stack's graph is not ACTIVE: $(tail -n 20 "$T/stack.log")"
log "graph ACTIVE"
while read -r form; do
	out=$(bash -c "$form" 2>&1) || die "the stack's form failed: $form: $out"
	[ -n "$out" ] || die "the stack's form printed nothing: $form"
	log "ok: $form"
done <<< "$forms"

# The log examples read after seq 10: wait until there are some.
for (( i = 0; i < 300; i++ )); do
	durable=$(vitrage-ctl persistor-status | json_field durableSeq)
	[ "${durable:-0}" -gt 12 ] && break
	sleep 0.2
done
[ "${durable:-0}" -gt 12 ] || die "the stack's durable seq stays at ${durable:-?}"

VITRAGE_ID=$(vitrage-ctl vertex host-1 | /usr/bin/python3 -c 'import json,sys; print(json.load(sys.stdin)["vertex"]["id"])') \
	|| die "vitrage-ctl vertex host-1"
export VITRAGE_ID
ALARM_ID=""
mkdir -p "$T/work"
cd "$T/work" || die "cd"

# The commands: the doc's indented code lines that start with a client.
/usr/bin/python3 - "$DOC" > "$T/commands" <<'PY' || die "could not read the commands of $DOC"
import re, shlex, shutil, sys
have_grpcurl = shutil.which('grpcurl') is not None
for line in open(sys.argv[1]):
    if not line.startswith('    '):
        continue
    cmd = line.strip()
    if not re.match(r'(vitrage-ctl|grpc_probe\.py|grpcurl)\b', cmd):
        continue
    # A trailing comment (two spaces, then #) is the doc's, not the shell's.
    cmd = re.sub(r'\s{2,}#.*$', '', cmd)
    if cmd.startswith('grpcurl') and not have_grpcurl:
        # The doc's rule: grpcurl -plaintext -d JSON ADDR METHOD is
        # grpc_probe.py ADDR call METHOD JSON; list and describe alike.
        words = shlex.split(cmd, posix=True)[1:]
        data = '{}'
        rest = []
        i = 0
        while i < len(words):
            if words[i] == '-plaintext':
                i += 1
            elif words[i] == '-d':
                data = words[i + 1]
                i += 2
            else:
                rest.append(words[i])
                i += 1
        addr, verb = rest[0], rest[1:]
        if verb[0] in ('list', 'describe'):
            probe = ' '.join(verb)
        else:
            probe = 'call %s %s' % (verb[0], shlex.quote(data))
        cmd = 'grpc_probe.py %s %s' % (addr, probe)
    print(cmd)
PY
n=$(grep -c . "$T/commands")
[ "$n" -ge 30 ] || die "only $n commands found in $DOC: $(cat "$T/commands")"
log "$n commands from docs/diagnostics.md"

while read -r cmd; do
	if [[ $cmd == *ALARM_ID* ]]; then
		# A live alarm: the generator clears some as it goes.
		ALARM_ID=$(vitrage-ctl alarms --json | /usr/bin/python3 -c '
import json, sys
alarms = [a for a in json.load(sys.stdin).get("alarms", [])
          if not any(p["key"] == "vitrage_is_deleted" and p["value"].get("boolValue") for p in a.get("properties", []))]
print(alarms[-1]["id"])') || die "no alarm for ALARM_ID"
		export ALARM_ID
	fi
	run=${cmd//VITRAGE_ID/$VITRAGE_ID}
	run=${run//ALARM_ID/$ALARM_ID}
	rc=0
	out=$(timeout 120 bash -c "$run" 2> "$T/stderr") || rc=$?
	[ $rc -eq 0 ] || die "\`$cmd\` exited $rc: $(head -c 2000 "$T/stderr") $(echo "$out" | head -n 5)"
	if [[ $cmd == "vitrage-ctl export "?* ]]; then
		file=${cmd#vitrage-ctl export }
		[ -s "$file" ] || die "\`$cmd\` wrote no $file"
	else
		[ -n "$out" ] || die "\`$cmd\` printed nothing"
	fi
	log "ok: $cmd"
done < "$T/commands"
log "PASS"
