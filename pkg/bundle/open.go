package bundle

import (
	"fmt"
	"io"
	"os"
	"syscall"
)

// OpenRegular opens the regular file at p for reading without following a symlink in its
// last component and without blocking on a FIFO or device: anything but a regular file
// is refused after the open, so a path swapped between a check and the open is caught.
func OpenRegular(p string) (*os.File, error) {
	f, err := os.OpenFile(p, os.O_RDONLY|syscall.O_NOFOLLOW|syscall.O_NONBLOCK, 0)
	if err != nil {
		return nil, err
	}
	return regularOnly(f, p)
}

// openRegularIn is [OpenRegular] for a manifest path below root: the walk never leaves
// root (an absolute or climbing link in a parent is refused by [os.Root]).
func openRegularIn(root *os.Root, p string) (*os.File, error) {
	f, err := root.OpenFile(p, os.O_RDONLY|syscall.O_NOFOLLOW|syscall.O_NONBLOCK, 0)
	if err != nil {
		return nil, err
	}
	return regularOnly(f, p)
}

func regularOnly(f *os.File, p string) (*os.File, error) {
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, err
	}
	if !fi.Mode().IsRegular() {
		f.Close()
		return nil, fmt.Errorf("%s: want a regular file, found %v", p, fi.Mode().Type())
	}
	return f, nil
}

// readRegular reads the whole regular file at p ([OpenRegular]).
func readRegular(p string) ([]byte, error) {
	f, err := OpenRegular(p)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return io.ReadAll(f)
}
