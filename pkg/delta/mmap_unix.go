//go:build linux || darwin || freebsd || netbsd || openbsd

package delta

import (
	"io"
	"io/fs"
	"syscall"

	"golang.org/x/sys/unix"
)

// mapOld maps old read-only when it is a regular file of oldSize bytes, at
// least mapMin, so that Apply reads it without a system call per seek (a
// browser's patch seeks half a million times). It returns nil when old is
// not such a file or the mapping fails: Apply then reads through ReadAt.
func mapOld(old io.ReaderAt, oldSize int64) (data []byte, unmap func()) {
	f, ok := old.(interface {
		Stat() (fs.FileInfo, error)
		SyscallConn() (syscall.RawConn, error)
	})
	if !ok || oldSize < mapMin || int64(int(oldSize)) != oldSize {
		return nil, nil
	}
	st, err := f.Stat()
	if err != nil || !st.Mode().IsRegular() || st.Size() != oldSize {
		return nil, nil
	}
	rc, err := f.SyscallConn()
	if err != nil {
		return nil, nil
	}
	var merr error
	if err := rc.Control(func(fd uintptr) {
		data, merr = unix.Mmap(int(fd), 0, int(oldSize), unix.PROT_READ, unix.MAP_SHARED)
	}); err != nil || merr != nil {
		return nil, nil
	}
	return data, func() { unix.Munmap(data) }
}
