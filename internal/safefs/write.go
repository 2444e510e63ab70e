package safefs

// Whole-file helpers: a bounded read, an O_EXCL temporary file, an atomic write.

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"strings"

	"golang.org/x/sys/unix"
)

// ReadFile reads the regular file p of at most max bytes; a larger one is refused
// without reading past max+1 bytes. A symlink, FIFO or device is refused, never
// followed or opened for long.
func (d *Dir) ReadFile(p string, max int64) ([]byte, error) {
	f, err := d.Open(p)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, max+1))
	if err != nil {
		return nil, err
	}
	if int64(len(b)) > max {
		return nil, &PathError{Path: p, Err: fmt.Errorf("larger than %d bytes", max)}
	}
	return b, nil
}

// CreateTemp creates a new file in the directory dir ("" for d itself) named
// prefix followed by random hex, O_EXCL, open for reading and writing, mode 0600, and
// returns it with its path
// below d. A name that exists (a file or a link someone planted) is never opened: another
// name is tried.
func (d *Dir) CreateTemp(dir, prefix string) (*os.File, string, error) {
	if dir != "" {
		dir += "/"
	}
	var err error
	for range 10 {
		var rnd [8]byte
		rand.Read(rnd[:])
		p := dir + prefix + hex.EncodeToString(rnd[:])
		var f *os.File
		if f, err = d.create(p, unix.O_RDWR); err == nil {
			return f, p, nil
		}
		if !errors.Is(err, unix.EEXIST) {
			break
		}
	}
	return nil, "", err
}

// WriteFile replaces the file p with data atomically: a new temporary file beside it
// ([Dir.CreateTemp]), written, set to perm, synced, renamed over p (a file or link at
// p is replaced, never written through), the directory synced. On failure p is as it
// was and no temporary file is left.
func (d *Dir) WriteFile(p string, data []byte, perm uint32) error {
	return d.WriteFileThrough(p, data, perm, nil)
}

// WriteFileThrough is [Dir.WriteFile] writing data through wrap(file) when wrap is not
// nil (the install package's simulated disk-full, for instance).
func (d *Dir) WriteFileThrough(p string, data []byte, perm uint32, wrap func(io.Writer) io.Writer) error {
	if err := CheckPath(p); err != nil {
		return err
	}
	dir, base := path.Split(p)
	dir = strings.TrimSuffix(dir, "/")
	f, tmp, err := d.CreateTemp(dir, "."+base+".tmp-")
	if err != nil {
		return err
	}
	ok := false
	defer func() {
		if !ok {
			f.Close()
			d.Remove(tmp, false)
		}
	}()
	var w io.Writer = f
	if wrap != nil {
		w = wrap(f)
	}
	if _, err := w.Write(data); err != nil {
		return err
	}
	if err := f.Chmod(os.FileMode(perm)); err != nil {
		return err
	}
	if err := f.Sync(); err != nil {
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	if err := Rename(d, tmp, d, p); err != nil {
		return err
	}
	ok = true
	return d.SyncDir(dir)
}
