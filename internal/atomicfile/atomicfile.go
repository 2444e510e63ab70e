// Package atomicfile writes files and directories so that they appear complete or not at
// all: content goes to a temporary sibling, is synced, then renamed into place, and the
// parent directory is synced so the rename survives a crash.
package atomicfile

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
)

// File is a pending output file. Write to it, then Commit; Abort (safe to defer) removes
// the temporary file if Commit was not reached.
type File struct {
	*os.File
	path string
	done bool
}

// Create starts writing path with the given permissions. Nothing exists at path until
// Commit succeeds. An existing path that is not a regular file (a device, FIFO, socket,
// directory or symlink) is refused, here and again just before the rename: an output
// flag never replaces /dev/sda or a link.
func Create(path string, perm os.FileMode) (*File, error) {
	if err := replaceable(path); err != nil {
		return nil, err
	}
	dir, base := filepath.Split(path)
	if dir == "" {
		dir = "."
	}
	f, err := os.CreateTemp(dir, "."+base+".tmp-*")
	if err != nil {
		return nil, err
	}
	if err := f.Chmod(perm); err != nil {
		f.Close()
		os.Remove(f.Name())
		return nil, err
	}
	return &File{File: f, path: path}, nil
}

// Commit syncs the content, renames it into place and syncs the directory.
func (f *File) Commit() error {
	if f.done {
		return errors.New("atomicfile: already committed or aborted")
	}
	f.done = true
	tmp := f.Name()
	if err := f.Sync(); err != nil {
		f.File.Close()
		os.Remove(tmp)
		return fmt.Errorf("syncing %s: %w", f.path, err)
	}
	if err := f.File.Close(); err != nil {
		os.Remove(tmp)
		return fmt.Errorf("closing %s: %w", f.path, err)
	}
	if err := replaceable(f.path); err != nil {
		os.Remove(tmp)
		return err
	}
	if err := os.Rename(tmp, f.path); err != nil {
		os.Remove(tmp)
		return err
	}
	return SyncDir(filepath.Dir(f.path))
}

// ErrNotRegular is matched (errors.Is) when an output path exists and is not a regular file.
var ErrNotRegular = errors.New("not a regular file")

// replaceable refuses an existing path that is not a regular file.
func replaceable(path string) error {
	fi, err := os.Lstat(path)
	switch {
	case errors.Is(err, os.ErrNotExist):
		return nil
	case err != nil:
		return err
	case !fi.Mode().IsRegular():
		return fmt.Errorf("refusing to replace %s: %w (it is a %s)", path, ErrNotRegular, kind(fi.Mode()))
	}
	return nil
}

func kind(m os.FileMode) string {
	switch {
	case m&os.ModeSymlink != 0:
		return "symlink"
	case m.IsDir():
		return "directory"
	case m&os.ModeDevice != 0:
		return "device"
	case m&os.ModeNamedPipe != 0:
		return "named pipe"
	case m&os.ModeSocket != 0:
		return "socket"
	}
	return m.Type().String()
}

// Abort discards the pending file. It does nothing after Commit.
func (f *File) Abort() {
	if f.done {
		return
	}
	f.done = true
	f.File.Close()
	os.Remove(f.Name())
}

// WriteFile writes data to path atomically.
func WriteFile(path string, data []byte, perm os.FileMode) error {
	f, err := Create(path, perm)
	if err != nil {
		return err
	}
	defer f.Abort()
	if _, err := f.Write(data); err != nil {
		return err
	}
	return f.Commit()
}

// SyncDir fsyncs a directory so that renames and creations inside it are durable.
func SyncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	if err := d.Sync(); err != nil && !errors.Is(err, os.ErrInvalid) {
		return fmt.Errorf("syncing directory %s: %w", dir, err)
	}
	return nil
}

// Dir is a pending output directory, filled in a temporary sibling and renamed into
// place by Commit. The final path must not exist yet.
type Dir struct {
	Path string // the temporary directory to fill
	path string
	done bool
}

// CreateDir starts building the directory path. Commit never replaces anything that
// appeared at path in the meantime.
func CreateDir(path string) (*Dir, error) {
	if _, err := os.Lstat(path); err == nil {
		return nil, fmt.Errorf("%s already exists", path)
	}
	parent, base := filepath.Split(filepath.Clean(path))
	if parent == "" {
		parent = "."
	}
	tmp, err := os.MkdirTemp(parent, "."+base+".tmp-*")
	if err != nil {
		return nil, err
	}
	return &Dir{Path: tmp, path: path}, nil
}

// Commit renames the filled directory into place and syncs its parent.
func (d *Dir) Commit() error {
	if d.done {
		return errors.New("atomicfile: already committed or aborted")
	}
	d.done = true
	if err := os.Chmod(d.Path, 0o755); err != nil {
		os.RemoveAll(d.Path)
		return err
	}
	if err := renameNoReplace(d.Path, d.path); err != nil {
		os.RemoveAll(d.Path)
		return err
	}
	return SyncDir(filepath.Dir(filepath.Clean(d.path)))
}

// Abort removes the temporary directory. It does nothing after Commit.
func (d *Dir) Abort() {
	if d.done {
		return
	}
	d.done = true
	os.RemoveAll(d.Path)
}
