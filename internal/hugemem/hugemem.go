// Package hugemem allocates large buffers so that the kernel may back them
// with huge pages.
//
// Linux commonly runs transparent huge pages in "madvise" mode, where only
// memory advised MADV_HUGEPAGE gets them, and the Go runtime advises none.
// A buffer of hundreds of megabytes then costs a page fault per 4 KiB page
// on first touch, and a TLB miss on most random reads. On the virtual
// machine of docs/benchmarks.md, where a fault costs about 10 µs, reading
// WebKit's two 92 MB files into fresh memory took 0.45 s of system time
// and, advised, 0.05–0.3 s. The advice changes no byte of any result; it
// only asks. Where it is not available (another system, THP off or
// "never") Make is make. With THP's defrag setting at its default, a fault
// in advised memory may compact memory first: on a fragmented machine the
// first touch of a buffer can take longer, not shorter.
package hugemem

import "unsafe"

// MinSize is the size from which Make advises: a buffer of 4 MiB holds at
// least one whole aligned 2 MiB page.
const MinSize = 4 << 20

// Make returns a zeroed slice of n elements. When it spans MinSize bytes or
// more, the whole 2 MiB pages within it are advised for huge pages before
// anything touches them (a new large allocation is not touched by make).
func Make[T any](n int) []T {
	s := make([]T, n)
	var t T
	if size := uintptr(n) * unsafe.Sizeof(t); size >= MinSize {
		advise(uintptr(unsafe.Pointer(unsafe.SliceData(s))), size)
	}
	return s
}
