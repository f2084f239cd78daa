#!/usr/bin/env bash
# test_streams.sh - kmc run with the streams servers and scripts give it:
# standard output on /dev/full, closed, or a pipe nobody reads any more;
# descriptors 0, 1 and 2 closed at start (cron, `>&-`). A failed write
# is an exit code and a message, never exit 0 and never a silent death;
# no message or secret ever lands in a vault file that took a closed
# descriptor's number. Then what else a script meets: the descriptors a
# server's children inherit, a secret typed as an option's value, a
# secret option naming a descriptor's link or a terminal, and signals
# (SIGHUP, ^Z) at the no-echo prompt.
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

V=$T/vault
kmc() { "$KMC" --vault "$V" "$@"; }
PW=$T/pw
secret_file "$PW" 'hunter2'
t "a vault" kmc init
t "... with a password" kmc password set db --password-file "$PW"

# ---- standard output that cannot be written ----------------------------------------

# to_full CMD...: CMD with standard output on /dev/full.
to_full() { "$@" >/dev/full; }
# out_closed CMD...: CMD with standard output closed.
out_closed() { "$@" >&-; }
for args in "version" "--version" "--help" "list --help" "version --json"; do
	# shellcheck disable=SC2086 # the words of args are the arguments
	t_err 6 "kmc $args to /dev/full exits 6 naming standard output" \
		'writing to standard output: No space left' to_full "$KMC" $args
	# shellcheck disable=SC2086
	t_err 6 "kmc $args with standard output closed exits 6" \
		'writing to standard output: Bad file descriptor' out_closed "$KMC" $args
done
t_err 6 "password get to /dev/full exits 6" 'standard output: No space left' \
	to_full kmc password get db

# A pipe whose reader has gone: the read end of a FIFO opened and closed
# again, so that a write gets SIGPIPE (EPIPE) every time, not by a race.
mkfifo "$T/fifo"
exec 8<>"$T/fifo" 9>"$T/fifo" 8<&-
to_gone() { "$@" >&9; }
t_err 6 "password get into a pipe nobody reads exits 6 saying so (not killed by SIGPIPE)" \
	'standard output: Broken pipe' to_gone kmc password get db
t_err 6 "... so does status" 'standard output: Broken pipe' to_gone kmc status
t_err 6 "... (audit)" 'standard output: Broken pipe' to_gone kmc audit
t_err 6 "... (mk list)" 'standard output: Broken pipe' to_gone kmc mk list
t_err 6 "... (protector list)" 'standard output: Broken pipe' to_gone kmc protector list
# init --protector recovery makes the vault, then prints the only copy of
# its key: the command must say nobody got it and what to remove.
t_err 6 "init --protector recovery into a gone pipe says nobody has the key" \
	"nobody has the recovery key of $T/rv: remove that folder" \
	to_gone "$KMC" --vault "$T/rv" init --protector recovery
exec 9>&-

# A non-blocking pipe (a parent's O_NONBLOCK, shared with kmc) that is
# full: kmc waits for its reader instead of failing halfway through the
# secret (EAGAIN). The pipe holds one page, filled but for 3 bytes (a
# write of up to a page is all or nothing: none of it fits); the reader
# drains it once kmc has exited or waits in poll (its wchan; where that
# cannot be read, after a bounded wait).
nonblocking_full() { # nonblocking_full EXPECTED CMD...: stdout is EXPECTED, exit 0
	python3 - "$@" <<'PY'
import fcntl, os, subprocess, sys, time
want = sys.argv[1].encode()
r, w = os.pipe()
fcntl.fcntl(w, 1031, 4096)          # F_SETPIPE_SZ: one page
size = fcntl.fcntl(w, 1032)         # F_GETPIPE_SZ
filler = b"x" * (size - 3)
os.write(w, filler)
os.set_blocking(w, False)
p = subprocess.Popen(sys.argv[2:], stdout=w)
os.close(w)
def waiting():
    try:
        with open("/proc/%d/wchan" % p.pid) as f:
            return "poll" in f.read()
    except OSError:
        return False
for _ in range(1000):               # bounded: until kmc is done or waits
    if p.poll() is not None or waiting():
        break
    time.sleep(0.01)
got = b""
while True:
    b = os.read(r, 65536)
    if not b:
        break
    got += b
rc = p.wait()
if rc != 0 or got != filler + want:
    print("exit %d, %d bytes after the filler" % (rc, len(got) - len(filler)),
          file=sys.stderr)
    sys.exit(1)
PY
}
if command -v python3 >/dev/null; then
	check "password get into a full non-blocking pipe waits and prints it whole" \
		nonblocking_full 'hunter2' "$KMC" --vault "$V" password get db
	# Tables and JSON, printed through stdio, too (they ended short with
	# exit 6, "Resource temporarily unavailable").
	for args in "list" "list --json" "status --json" "--help"; do
		# shellcheck disable=SC2086 # the words of args are the arguments
		want=$("$KMC" --vault "$V" $args) && want="$want
"
		# shellcheck disable=SC2086
		check "kmc $args into a full non-blocking pipe waits and prints it whole" \
			nonblocking_full "$want" "$KMC" --vault "$V" $args
	done
else
	echo "# non-blocking pipe check skipped: no python3"
fi

# A non-blocking pipe on the reading side: standard input (or --*-fd)
# whose writer has not written yet. kmc waits for the secret rather
# than fail at once with "Resource temporarily unavailable" (exit 6).
# The writer writes once kmc has exited or waits in poll (its wchan;
# where that cannot be read, after a bounded wait).
nonblocking_empty() { # nonblocking_empty DATA CMD...: CMD's stdout; its exit code
	python3 - "$@" <<'PY'
import os, subprocess, sys, time
data = sys.argv[1].encode()
r, w = os.pipe()
os.set_blocking(r, False)
p = subprocess.Popen(sys.argv[2:], stdin=r, stdout=subprocess.PIPE)
os.close(r)
def waiting():
    try:
        with open("/proc/%d/wchan" % p.pid) as f:
            return "poll" in f.read()
    except OSError:
        return False
for _ in range(1000):               # bounded: until kmc is done or waits
    if p.poll() is not None or waiting():
        break
    time.sleep(0.01)
try:
    os.write(w, data)
except BrokenPipeError:
    pass
os.close(w)
out = p.stdout.read()
sys.stdout.buffer.write(out)
sys.exit(p.wait())
PY
}
if command -v python3 >/dev/null; then
	t "encrypt reads its secret from a non-blocking, empty stdin once it comes" \
		nonblocking_empty 'late secret' "$KMC" --vault "$V" encrypt
	cp "$OUT" "$T/late.enc"
	t_out "... and prints a ciphertext string of it" 'late secret' \
		kmc decrypt "$(cat "$T/late.enc")"
	t "password set --password-fd 0 waits on a non-blocking stdin" \
		nonblocking_empty 'late password' "$KMC" --vault "$V" password set late --password-fd 0
	t_out "... and stored it whole" 'late password' kmc password get late
	t "password set --batch - waits on a non-blocking stdin" \
		nonblocking_empty 'batch1 one
batch2 two' "$KMC" --vault "$V" password set --batch -
	t_out "... and stored every line" 'two' kmc password get batch2
else
	echo "# non-blocking stdin check skipped: no python3"
fi

# ---- descriptors 0, 1 and 2 closed at start ------------------------------------------

# No vault file may take a closed descriptor's number: messages for
# standard error would be written into it (the LMDB lock file was fd 2).
no_message_in_vault() {
	! grep -rq 'kmc: ' "$V"
}
closed_out_err() { kmc "$@" 1>&- 2>&-; }
closed_err() { kmc "$@" 2>&-; }
closed_all() { kmc "$@" 0<&- 1>&- 2>&-; }
t_rc 6 "password get with standard output and error closed exits 6" \
	closed_out_err password get db
t_rc 7 "password get of a missing item with standard error closed exits 7" \
	closed_err password get nosuch
t "password set with standard error closed stores it" \
	closed_err password set db2 --password-file "$PW"
t "password set with 0, 1 and 2 closed still stores it" \
	closed_all password set db3 --password-file "$PW"
check "... and no message went into a vault file (lock file, store, log)" \
	no_message_in_vault
t_out "... which still opens and holds both" 'hunter2hunter2' \
	eval 'kmc password get db2 && kmc password get db3'
t "... and its audit log verifies" kmc audit verify
# With 0 and 1 closed, the lock file took descriptor 1: the plaintext
# key of unwrap and the password of password get went into it, exit 0.
P=$T/pki
secret_file "$T/kpw" 'server-key-password'
check "mkpki.sh makes a PKI" bash "$KMC_TOP/tools/mkpki.sh" "$P" 'server-key-password'
t "an imported bundle" kmc import -c "$P/ca.crt" -s "$P/server.crt" \
	-k "$P/server.key" --password-file "$T/kpw"
closed_in_out() { kmc "$@" 0<&- 1>&-; }
t_err 6 "unwrap with standard input and output closed exits 6" \
	'writing to standard output: Bad file descriptor' closed_in_out unwrap server
t_err 6 "... so does password get" 'standard output: Bad file descriptor' \
	closed_in_out password get db
t_err 6 "... and export --no-password" 'standard output: Bad file descriptor' \
	closed_in_out export server --format pkcs8-pem --no-password
no_plaintext_in_vault() {
	! grep -rq -e 'BEGIN[ ]PRIVATE KEY' -e 'hunter2' "$V"
}
check "... and neither the key nor the password landed in a vault file" \
	no_plaintext_in_vault

# An export to a pipe that has gone, with a password item made for it:
# the item stays, and the message says nothing usable was written.
exec 8<>"$T/fifo" 9>"$T/fifo" 8<&-
t_err 6 "export --password-item NEW into a gone pipe exits 6 saying the item stays" \
	'nothing usable was written; the new password stays as item exp' \
	to_gone kmc export server --format pkcs12 --password-item exp
exec 9>&-
t "... and the item is there for the next export" kmc password get exp

t_err 6 "decrypt with standard input closed names the fault" \
	'reading standard input: Bad file descriptor' eval "'$KMC' --vault '$V' decrypt 0<&-"
t_err 6 "... and with standard input a folder" \
	'reading standard input: Is a directory' eval "'$KMC' --vault '$V' decrypt <'$T'"

# A closed standard input stays closed to a reader: --password-fd 0
# fails as it would on any closed descriptor.
t_err 6 "password set --password-fd 0 with standard input closed: Bad file descriptor" \
	'descriptor 0: Bad file descriptor' \
	eval "'$KMC' --vault '$V' password set db4 --password-fd 0 0<&-"

# ---- descriptors a server's children inherit ----------------------------------------

# LMDB opens the item store without O_CLOEXEC: a server that opened its
# vault and then started a program handed it items.mdb, open for writing.
check "fd_inherit builds (a server that opens its vault, then starts a program)" \
	kmc_cc "$T/fd_inherit" "$KMC_TOP/tests/e2e/fd_inherit.c"
no_vault_fd() { # no_vault_fd [write]: no vault file among what a child inherits
	"$T/fd_inherit" "$V" "$@" >"$T/inherit.out" || return 1
	! grep -F "$V/" "$T/inherit.out"
}
check "a program started after kmc_vault_open inherits no vault file" no_vault_fd
check "... nor after an open for writing" no_vault_fd write

# ---- secrets typed where no option takes them ---------------------------------------

# An unknown option is named without what follows its '=' (a password
# given as --password=..., which no command takes): messages go to logs.
no_typo_secret() { ! grep -q 's3cret-typed' "$LAST_ERR"; }
t_err 2 "password set --password=SECRET: named as --password=..." \
	'unknown option --password=\.\.\.' kmc password set db --password=s3cret-typed
check "... and the secret is not in the message" no_typo_secret
t_err 2 "--passphrase=SECRET before the command: named as --passphrase=..." \
	'unknown option --passphrase=\.\.\.' "$KMC" --passphrase=s3cret-typed list
check "... and the secret is not in the message" no_typo_secret
t_err 2 "-pSECRET: named as -p (not another word of the command line)" \
	'unknown option -p ' kmc password set db -ps3cret-typed
check "... and the secret is not in the message" no_typo_secret
t_err 2 "--json=1 is named as an option that takes no value" \
	'list: --json takes no value' kmc list --json=1
t_err 2 "... also abbreviated (--js=1)" 'list: --json takes no value' kmc list --js=1
t_err 2 "an unknown short option after a known one is named alone (-Z)" \
	'list: unknown option -Z ' kmc list --json -Zq

# A shell's <(...) names a descriptor's link, which a secret file must
# not be: the message gives the descriptor option to use instead (it
# said "replace it with the file itself").
t_err 5 "--password-file <(...) is refused, naming --password-fd 63 instead" \
	'a link to descriptor [0-9]+, not a file; give --password-fd [0-9]+ instead' \
	eval "'$KMC' --vault '$V' password set pp --password-file <(cat '$PW')"
t_err 5 "... and --passphrase-file /dev/stdin, naming --passphrase-fd 0" \
	'give --passphrase-fd 0 instead' \
	eval "'$KMC' --vault '$V' list --passphrase-file /dev/stdin <'$PW'"

# ---- a secret's descriptor that is a terminal ----------------------------------------

# Read to its end, a terminal shows the secret as it is typed: refused
# (script gives kmc a terminal as standard input, and joins its
# standard error to what it prints, sent here to standard error).
on_tty_in() { # on_tty_in ARGS: kmc ARGS with a terminal as standard input
	timeout -k 5 20 script -qec "$(printf '%q ' "$KMC" --vault "$V" "$@")" \
		/dev/null </dev/null >&2
}
if command -v script >/dev/null; then
	before=$(snapshot "$V")
	t_err 2 "password set --password-fd 0 on a terminal is refused (exit 2)" \
		'descriptor 0: it is a terminal, which would show the password' \
		on_tty_in password set tty1 --password-fd 0
	t_err 2 "... so is --passphrase-fd 0 on a terminal" \
		'descriptor 0: it is a terminal' on_tty_in list --passphrase-fd 0
	t_err 2 "... and password set --batch - from a terminal" \
		'standard input is a terminal' on_tty_in password set --batch -
	check "... and nothing changed" [ "$before" = "$(snapshot "$V")" ]

	# SIGHUP while the prompt has echo off: kmc dies of it, as by default,
	# but gives the terminal its echo back first (SIGINT and SIGTERM did;
	# SIGHUP and SIGQUIT left it off). The inner shell waits (bounded) for
	# the prompt to turn echo off, signals kmc, and shows the terminal's
	# settings after.
	hup_at_prompt() {
		# In a file, run by sh: script(1) runs its command with $SHELL,
		# which a CI job may not set (then /bin/sh, with no $'...').
		{
			printf '%s &\n' "$(printf '%q ' "$KMC" --vault "$V" password set hup)"
			printf '%s\n' 'p=$!; i=0' \
				'while stty -a | grep -q "[^-]echo " && [ $i -lt 200 ]; do' \
				'	sleep 0.05; i=$((i + 1)); done' \
				'kill -HUP $p; wait $p; echo "exit $?"; stty -a'
		} >"$T/hup.sh"
		local hold hold_pid
		# script's input stays open (no EOF typed) until it is done.
		exec {hold}< <(exec sleep 30 2>/dev/null)
		hold_pid=$!
		timeout -k 5 30 script -qec "sh $(printf '%q' "$T/hup.sh")" /dev/null \
			<&"$hold" | tr -d '\r' >"$T/hup.out"
		exec {hold}<&-
		kill "$hold_pid" 2>/dev/null
		grep -q '^exit 129$' "$T/hup.out" && grep -q '[^-]echo ' "$T/hup.out" ||
			{ cat "$T/hup.out" >&2; false; }
	}
	check "SIGHUP at the password prompt: kmc dies of it, the terminal echoes again" \
		hup_at_prompt

	# ^Z at the prompt, then fg in an interactive bash: bash gives the
	# terminal its echo back while kmc is stopped; kmc must turn it off
	# again when continued (it read on with echo, showing the rest of the
	# password as it was typed). Each step waits (bounded) for the last.
	tstp_at_prompt() {
		local name=tstp-$$ pid='' pts='' i
		kmc_pid() { # the kmc asking for $name, once it runs
			local d
			for d in /proc/[0-9]*; do
				{ tr '\0' ' ' <"$d/cmdline"; } 2>/dev/null |
					grep -q "password set $name" && { echo "${d#/proc/}"; return; }
			done
		}
		state() { awk '{ print $3 }' "/proc/$pid/stat" 2>/dev/null; }
		echo_off() { stty -a -F "$pts" 2>/dev/null | grep -q -- '-echo '; }
		wait_for() { # wait_for CMD...: poll until CMD succeeds (bounded)
			for ((i = 0; i < 200; i++)); do "$@" && return 0; sleep 0.05; done
			return 1
		}
		{
			printf '%s\n' "$(printf '%q ' "$KMC" --vault "$V" password set "$name")"
			wait_for eval 'pid=$(kmc_pid); [ -n "$pid" ]' &&
				wait_for eval 'pts=$(readlink /proc/$pid/fd/* | grep -m1 "^/dev/pts/")' &&
				wait_for echo_off && kill -TSTP "$pid" &&
				wait_for eval '[ "$(state)" = T ]' && echo fg &&
				wait_for eval '[ "$(state)" != T ]' &&
				{ wait_for echo_off && echo "echo off after fg" ||
					echo "echo on after fg"; } >"$T/tstp.result"
			[ -n "$pid" ] && kill -KILL "$pid" 2>/dev/null
			echo exit
		} | timeout -k 5 60 script -qec "bash --norc --noprofile -i" /dev/null \
			>"$T/tstp.out" 2>&1
		grep -qx "echo off after fg" "$T/tstp.result" 2>/dev/null ||
			{ cat "$T/tstp.result" "$T/tstp.out" 2>/dev/null | tr -d '\r' >&2; false; }
	}
	check "^Z at the password prompt, then fg: the prompt has its echo off again" \
		tstp_at_prompt
else
	echo "# terminal checks skipped: no script(1)"
fi

done_testing
