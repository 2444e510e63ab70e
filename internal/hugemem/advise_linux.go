package hugemem

import "golang.org/x/sys/unix"

const hugePage = 2 << 20

// advise asks for huge pages on the whole 2 MiB pages within [p, p+size).
// The memory is the caller's live Go allocation, which does not move; an
// error (THP compiled out, an old kernel) leaves it as it was.
func advise(p, size uintptr) {
	start := (p + hugePage - 1) &^ (hugePage - 1)
	end := (p + size) &^ (hugePage - 1)
	if end > start {
		unix.Syscall(unix.SYS_MADVISE, start, end-start, unix.MADV_HUGEPAGE)
	}
}
