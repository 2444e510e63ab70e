package bundle

import (
	"fmt"
	"io"
	"os"
	"syscall"

	"github.com/patchkit/patchkit/internal/hugemem"
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

// readRegular reads the regular file at p ([OpenRegular]), which must hold size
// bytes. Its buffer is allocated once: io.ReadAll's growing left garbage several times
// the size of a browser binary, and made Create's peak memory a third larger.
func readRegular(p string, size int64) ([]byte, error) {
	f, err := OpenRegular(p)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	data := hugemem.Make[byte](int(size) + 1) // a byte more: a file that grew fills it
	n, err := io.ReadFull(f, data)
	if err != nil && err != io.EOF && err != io.ErrUnexpectedEOF {
		return nil, fmt.Errorf("reading %s: %w", p, err)
	}
	if int64(n) != size {
		return nil, errChanged(p)
	}
	return data[:n], nil
}

func errChanged(p string) error {
	return fmt.Errorf("%s changed while the bundle was being made", p)
}
