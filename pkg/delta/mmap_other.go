//go:build !(linux || darwin || freebsd || netbsd || openbsd)

package delta

import "io"

// mapOld maps nothing here: Apply reads old through ReadAt.
func mapOld(io.ReaderAt, int64) ([]byte, func()) { return nil, nil }
