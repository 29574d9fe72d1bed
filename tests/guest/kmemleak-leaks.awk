# Prints the blocks of a kmemleak report (/sys/kernel/debug/kmemleak) that
# belong to a module: its name in the backtrace while it is loaded or, after
# rmmod (symbols gone, raw addresses printed), an address inside its former
# core. Exit status 0 when it printed one.
#   awk -v mod=NAME [-v text=0x<core address> -v size=<core size>] -f kmemleak-leaks.awk FILE
function hex32(h,   i, v) {
	v = 0
	h = tolower(h)
	for (i = 1; i <= length(h); i++)
		v = v * 16 + index("0123456789abcdef", substr(h, i, 1)) - 1
	return v
}
# Module space has all upper 32 address bits set: compare the low 32.
BEGIN {
	lo = text == "" ? -1 : hex32(substr(text, length(text) - 7))
	hi = lo + size
	tag = "[" mod "]"
}
function flush() {
	if (keep) {
		printf "%s", block
		found = 1
	}
	block = ""
	keep = 0
}
/^unreferenced object/ { flush() }
{
	block = block $0 "\n"
	if (index($0, tag))
		keep = 1
	if (lo >= 0 && match($0, /0xffffffff[0-9a-f]+/) && RLENGTH == 18) {
		a = hex32(substr($0, RSTART + 10, 8))
		if (a >= lo && a < hi)
			keep = 1
	}
}
END {
	flush()
	exit !found
}
