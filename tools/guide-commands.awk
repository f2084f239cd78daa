# guide-commands.awk - the kmc command lines of Markdown guides, one a
# line: "FILE:LINE<TAB>ARG ARG ...", the words after "kmc" up to the end
# of that command (a pipe, ;, &&, ||, a redirection, a closing paren or
# backquote, a comment). Read are code blocks (fenced, or indented four
# or more after a blank line), with continuation lines joined, and
# inline code spans that start with "kmc " (a span may wrap across the
# lines of a paragraph). kmc is a command where it starts a line, or
# follows sudo [-u USER], env [VAR=...], $(, (, |, ;, && or ||, or is
# /PATH/kmc quoted as a configuration's value.
# Used by tests/e2e/test_guides.sh: awk -f tools/guide-commands.awk FILE...

# emit TEXT LINE: every kmc command of TEXT, a shell line.
function emit(text, line,    n, w, i, j, t, prev, prev2, prev3, q, out, a) {
	# A comment: " #" to the end (a URI's "#" has no blank before it).
	sub(/(^|[ \t])#.*$/, "", text)
	gsub(/[ \t]+/, " ", text)
	n = split(text, w, " ")
	prev = ""; prev2 = ""; prev3 = ""
	for (i = 1; i <= n; i++) {
		t = w[i]
		q = (t ~ /^['"]/)
		sub(/^[A-Z_][A-Z_0-9]*=["']/, "", t)	# K="sudo ...
		sub(/^["'(]*(\$\()?/, "", t)
		if (t ~ /^(\/[^ ]*\/)?kmc$/ && w[i + 1] != "=" &&
		    (prev == "" || prev ~ /^(sudo|env|exec|do|then|\||;|&&|\|\||\$\(|\()$/ ||
		     prev ~ /^[A-Za-z_][A-Za-z_0-9]*=/ ||
		     (prev2 == "-u" && prev3 == "sudo") || (prev == "=" && q))) {
			out = ""
			for (j = i + 1; j <= n; j++) {
				a = w[j]
				if (a ~ /^(\||;|&&|\|\||\)|`)$/ || a ~ /^[0-9]*[<>]/)
					break
				if (a ~ /^[^'"]*[)`;]['"]?$/ && a !~ /^-/) {	# last word: "NAME)"
					sub(/[)`;]+['"]?$/, "", a)
					if (a != "")
						out = out " " a
					break
				}
				gsub(/^['"]|['"]$/, "", a)
				out = out " " a
			}
			print src ":" line "\t" substr(out, 2)
		}
		prev3 = prev2; prev2 = prev; prev = t
	}
}

# A paragraph's inline spans "`kmc ...`", the paragraph on one line.
function spans(text, line,    s) {
	while (match(text, /`kmc [^`]*`/)) {
		s = substr(text, RSTART + 1, RLENGTH - 2)
		emit(s, line)
		text = substr(text, RSTART + RLENGTH)
	}
}

function flush_para() {
	if (para != "") {
		src = para_file
		spans(para, para_line)
	}
	para = ""
}

FNR == 1 { flush_para(); fence = 0; blank = 1; code = 0; para = ""; cont = "" }

/^[ \t]*```/ {
	flush_para()
	fence = !fence
	blank = 0
	next
}

{
	is_code = fence || ((blank || code) && $0 ~ /^    +[^ ]/ )
	if (is_code) {
		flush_para()
		l = $0
		sub(/^[ \t]+/, "", l)
		sub(/^\$ /, "", l)	# a prompt
		if (cont == "")
			cont_line = FNR
		src = FILENAME
		if (l ~ /\\$/) {
			sub(/\\$/, "", l)
			cont = cont l " "
		} else {
			emit(cont l, cont_line)
			cont = ""
		}
		code = !fence
		blank = 0
		next
	}
	code = 0
	if ($0 ~ /^[ \t]*$/) {
		flush_para()
		blank = 1
		next
	}
	blank = 0
	if (para == "") {
		para_line = FNR
		para_file = FILENAME
	}
	para = para " " $0
}

END { flush_para() }
