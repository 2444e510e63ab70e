// Package safefs reaches the paths of a directory tree without ever following a
// symbolic link: every operation starts from a descriptor of the directory, resolves the
// parents of a path with openat2(RESOLVE_BENEATH|RESOLVE_NO_SYMLINKS) where the kernel
// has it and by an openat(O_NOFOLLOW|O_DIRECTORY) walk otherwise, and acts on the last
// component with an *at call that does not follow it either. So no link in the tree,
// whatever its text (absolute, "..", or a chain such as a/l1 -> .., a/l2 -> l1/..),
// can make a caller read or write outside the directory; a link is data.
//
// Paths are slash-separated and relative; "", ".", ".." and empty components are
// refused. Only regular files are opened (a FIFO or a device never blocks an open).
//
// It is the one tree checker of patchkit: apply, remove and recovery (pkg/install) and
// verify --base and extract --base (pkg/bundle's CheckBase) judge a tree with [Dir.Check].
package safefs

import (
	"errors"
	"fmt"
	"os"
	"strings"
	"sync/atomic"

	"golang.org/x/sys/unix"
)

// Dir is an open directory. Its methods never follow a symlink below it.
type Dir struct {
	name string // for messages
	fd   int
}

// Open opens the directory dir. dir itself is named by the caller (the operator) and
// resolved as usual; nothing below it is.
func Open(dir string) (*Dir, error) {
	fd, err := unix.Open(dir, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, &os.PathError{Op: "open", Path: dir, Err: err}
	}
	return &Dir{name: dir, fd: fd}, nil
}

// OpenDir opens the directory p below d, refusing a symlink anywhere on the way.
func (d *Dir) OpenDir(p string) (*Dir, error) {
	pfd, name, err := d.parent(p)
	if err != nil {
		return nil, err
	}
	defer unix.Close(pfd)
	fd, err := openDirAt(pfd, name, p)
	if err != nil {
		return nil, err
	}
	return &Dir{name: d.name + "/" + p, fd: fd}, nil
}

// Close closes d.
func (d *Dir) Close() error { return unix.Close(d.fd) }

// Name returns the name d was opened with.
func (d *Dir) Name() string { return d.name }

// Stat returns the status of d itself.
func (d *Dir) Stat() (unix.Stat_t, error) {
	var st unix.Stat_t
	err := unix.Fstat(d.fd, &st)
	return st, err
}

// PathError reports a path that cannot be used safely: a parent is a symlink or not a
// directory, the path is not a clean relative path, or the last component is not of
// the kind the operation needs.
type PathError struct {
	Path string
	Err  error
}

func (e *PathError) Error() string { return fmt.Sprintf("unsafe path %s: %v", e.Path, e.Err) }
func (e *PathError) Unwrap() error { return e.Err }

// ErrNotDir is wrapped by the error of a path whose parent is not a directory.
var ErrNotDir = errors.New("not a directory")

// CheckPath refuses a path that is not clean, relative and slash-separated.
func CheckPath(p string) error {
	if p == "" || p == "." || strings.HasPrefix(p, "/") || strings.ContainsRune(p, 0) {
		return &PathError{Path: p, Err: errors.New("not a clean relative path")}
	}
	for _, c := range strings.Split(p, "/") {
		if c == "" || c == "." || c == ".." {
			return &PathError{Path: p, Err: fmt.Errorf("has a %q component", c)}
		}
	}
	return nil
}

// noOpenat2 is set once the kernel (or a seccomp filter) refuses openat2.
var noOpenat2 atomic.Bool

func openDirAt(fd int, name, p string) (int, error) {
	nfd, err := unix.Openat(fd, name, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	if err != nil {
		return -1, classify(fd, name, p, p, err)
	}
	return nfd, nil
}

// classify turns the error of opening component name (of path at, within p) as a
// directory into a [PathError] when it is a symlink or not a directory.
func classify(fd int, name, at, p string, err error) error {
	if err == unix.ENOTDIR {
		var st unix.Stat_t
		if unix.Fstatat(fd, name, &st, unix.AT_SYMLINK_NOFOLLOW) == nil && st.Mode&unix.S_IFMT == unix.S_IFLNK {
			err = unix.ELOOP
		}
	}
	switch err {
	case unix.ELOOP:
		if at == p {
			return &PathError{Path: p, Err: errors.New("is a symlink")}
		}
		return &PathError{Path: p, Err: fmt.Errorf("parent %s is a symlink", at)}
	case unix.ENOTDIR:
		if at == p {
			return &PathError{Path: p, Err: ErrNotDir}
		}
		return &PathError{Path: p, Err: fmt.Errorf("parent %s is %w", at, ErrNotDir)}
	}
	return &os.PathError{Op: "open", Path: at, Err: err}
}

// parent opens the directory holding p and returns its descriptor, which the caller
// closes, and p's last component.
func (d *Dir) parent(p string) (int, string, error) {
	if err := CheckPath(p); err != nil {
		return -1, "", err
	}
	i := strings.LastIndexByte(p, '/')
	if i < 0 {
		fd, err := unix.Dup(d.fd)
		return fd, p, err
	}
	dir, name := p[:i], p[i+1:]
	if !noOpenat2.Load() {
		fd, err := unix.Openat2(d.fd, dir, &unix.OpenHow{
			Flags:   unix.O_RDONLY | unix.O_DIRECTORY | unix.O_CLOEXEC,
			Resolve: unix.RESOLVE_BENEATH | unix.RESOLVE_NO_SYMLINKS | unix.RESOLVE_NO_MAGICLINKS,
		})
		switch err {
		case nil:
			return fd, name, nil
		case unix.ENOSYS, unix.EPERM, unix.E2BIG, unix.EINVAL:
			noOpenat2.Store(true)
		}
		// Anything else (a symlink, a missing parent...): the walk below says which.
	}
	fd, err := unix.Dup(d.fd)
	if err != nil {
		return -1, "", err
	}
	parts := strings.Split(dir, "/")
	for j, c := range parts {
		nfd, err := unix.Openat(fd, c, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
		if err != nil {
			err = classify(fd, c, strings.Join(parts[:j+1], "/"), p, err)
			unix.Close(fd)
			return -1, "", err
		}
		unix.Close(fd)
		fd = nfd
	}
	return fd, name, nil
}

// Lstat returns p's status; ok is false when p does not exist (or a parent is missing
// or not a directory).
func (d *Dir) Lstat(p string) (st unix.Stat_t, ok bool, err error) {
	fd, name, err := d.parent(p)
	if errors.Is(err, ErrNotDir) || errors.Is(err, unix.ENOENT) {
		return st, false, nil
	}
	if err != nil {
		return st, false, err
	}
	defer unix.Close(fd)
	err = unix.Fstatat(fd, name, &st, unix.AT_SYMLINK_NOFOLLOW)
	if err == unix.ENOTDIR || err == unix.ENOENT {
		return st, false, nil
	}
	if err != nil {
		return st, false, &os.PathError{Op: "lstat", Path: p, Err: err}
	}
	return st, true, nil
}

// Open opens the regular file p for reading. A symlink, FIFO, socket or device is
// refused without blocking.
func (d *Dir) Open(p string) (*os.File, error) {
	return d.openFile(p, unix.O_RDONLY, 0)
}

// OpenRW opens the regular file p for reading and writing, creating it with perm if it
// does not exist; an existing symlink or special file is refused, never followed.
func (d *Dir) OpenRW(p string, perm uint32) (*os.File, error) {
	return d.openFile(p, unix.O_RDWR|unix.O_CREAT, perm)
}

func (d *Dir) openFile(p string, flags int, perm uint32) (*os.File, error) {
	fd, name, err := d.parent(p)
	if err != nil {
		return nil, err
	}
	defer unix.Close(fd)
	ffd, err := unix.Openat(fd, name, flags|unix.O_NOFOLLOW|unix.O_NONBLOCK|unix.O_CLOEXEC, perm)
	if err == unix.ELOOP {
		return nil, &PathError{Path: p, Err: errors.New("is a symlink")}
	}
	if err != nil {
		return nil, &os.PathError{Op: "open", Path: p, Err: err}
	}
	var st unix.Stat_t
	if err := unix.Fstat(ffd, &st); err != nil || st.Mode&unix.S_IFMT != unix.S_IFREG {
		unix.Close(ffd)
		if err == nil {
			err = &PathError{Path: p, Err: fmt.Errorf("is a %s, not a regular file", kind(st.Mode))}
		}
		return nil, err
	}
	return os.NewFile(uintptr(ffd), d.name+"/"+p), nil
}

// Create creates the new file p (O_EXCL: never an existing file or link) with mode 0600.
func (d *Dir) Create(p string) (*os.File, error) { return d.create(p, unix.O_WRONLY) }

func (d *Dir) create(p string, mode int) (*os.File, error) {
	fd, name, err := d.parent(p)
	if err != nil {
		return nil, err
	}
	defer unix.Close(fd)
	ffd, err := unix.Openat(fd, name, mode|unix.O_CREAT|unix.O_EXCL|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0o600)
	if err != nil {
		return nil, &os.PathError{Op: "create", Path: p, Err: err}
	}
	return os.NewFile(uintptr(ffd), d.name+"/"+p), nil
}

// Readlink returns the text of the symlink p.
func (d *Dir) Readlink(p string) (string, error) {
	fd, name, err := d.parent(p)
	if err != nil {
		return "", err
	}
	defer unix.Close(fd)
	buf := make([]byte, unix.PathMax+1)
	n, err := unix.Readlinkat(fd, name, buf)
	if err != nil {
		return "", &os.PathError{Op: "readlink", Path: p, Err: err}
	}
	if n > unix.PathMax {
		return "", &os.PathError{Op: "readlink", Path: p, Err: unix.ENAMETOOLONG}
	}
	return string(buf[:n]), nil
}

// Remove unlinks the file or symlink p, or removes the empty directory p.
func (d *Dir) Remove(p string, dir bool) error {
	fd, name, err := d.parent(p)
	if err != nil {
		return err
	}
	defer unix.Close(fd)
	flags := 0
	if dir {
		flags = unix.AT_REMOVEDIR
	}
	if err := unix.Unlinkat(fd, name, flags); err != nil {
		return &os.PathError{Op: "remove", Path: p, Err: err}
	}
	return nil
}

// RemoveAll removes p and everything below it, never following a link; a missing p is
// not an error.
func (d *Dir) RemoveAll(p string) error {
	st, ok, err := d.Lstat(p)
	if err != nil || !ok {
		return err
	}
	if st.Mode&unix.S_IFMT != unix.S_IFDIR {
		return d.Remove(p, false)
	}
	names, err := d.ReadDir(p)
	if err != nil {
		return err
	}
	for _, n := range names {
		if err := d.RemoveAll(p + "/" + n); err != nil {
			return err
		}
	}
	return d.Remove(p, true)
}

// Mkdir makes the directory p.
func (d *Dir) Mkdir(p string, perm uint32) error {
	fd, name, err := d.parent(p)
	if err != nil {
		return err
	}
	defer unix.Close(fd)
	if err := unix.Mkdirat(fd, name, perm); err != nil {
		return &os.PathError{Op: "mkdir", Path: p, Err: err}
	}
	return nil
}

// Symlink makes the symlink p with the text link (data: it is never resolved).
func (d *Dir) Symlink(link, p string) error {
	fd, name, err := d.parent(p)
	if err != nil {
		return err
	}
	defer unix.Close(fd)
	if err := unix.Symlinkat(link, fd, name); err != nil {
		return &os.PathError{Op: "symlink", Path: p, Err: err}
	}
	return nil
}

// Chmod sets the permission bits (with setuid, setgid and sticky) of the regular file
// or directory p, opened without following a link.
func (d *Dir) Chmod(p string, perm uint32) error {
	fd, name, err := d.parent(p)
	if err != nil {
		return err
	}
	defer unix.Close(fd)
	ffd, err := unix.Openat(fd, name, unix.O_RDONLY|unix.O_NOFOLLOW|unix.O_NONBLOCK|unix.O_CLOEXEC, 0)
	if err != nil {
		return &os.PathError{Op: "chmod", Path: p, Err: err}
	}
	defer unix.Close(ffd)
	var st unix.Stat_t
	if err := unix.Fstat(ffd, &st); err != nil {
		return err
	}
	if t := st.Mode & unix.S_IFMT; t != unix.S_IFREG && t != unix.S_IFDIR {
		return &PathError{Path: p, Err: fmt.Errorf("chmod of a %s", kind(st.Mode))}
	}
	if err := unix.Fchmod(ffd, perm); err != nil {
		return &os.PathError{Op: "chmod", Path: p, Err: err}
	}
	return nil
}

// Lchown sets the owner and group of p itself (a symlink is not followed).
func (d *Dir) Lchown(p string, uid, gid int) error {
	fd, name, err := d.parent(p)
	if err != nil {
		return err
	}
	defer unix.Close(fd)
	if err := unix.Fchownat(fd, name, uid, gid, unix.AT_SYMLINK_NOFOLLOW); err != nil {
		return &os.PathError{Op: "chown", Path: p, Err: err}
	}
	return nil
}

// Rename moves src of from to dst of to (one filesystem), replacing a file or symlink
// at dst (never writing through it).
func Rename(from *Dir, src string, to *Dir, dst string) error {
	sfd, sname, err := from.parent(src)
	if err != nil {
		return err
	}
	defer unix.Close(sfd)
	dfd, dname, err := to.parent(dst)
	if err != nil {
		return err
	}
	defer unix.Close(dfd)
	if err := unix.Renameat(sfd, sname, dfd, dname); err != nil {
		return &os.LinkError{Op: "rename", Old: src, New: dst, Err: err}
	}
	return nil
}

// SyncDir fsyncs the directory p ("" for d itself).
func (d *Dir) SyncDir(p string) error {
	fd, err := d.dirFD(p)
	if err != nil {
		return err
	}
	defer unix.Close(fd)
	if err := unix.Fsync(fd); err != nil && err != unix.EINVAL {
		return &os.PathError{Op: "sync", Path: p, Err: err}
	}
	return nil
}

// dirFD opens the directory p ("" for d itself).
func (d *Dir) dirFD(p string) (int, error) {
	if p == "" {
		return unix.Dup(d.fd)
	}
	pfd, name, err := d.parent(p)
	if err != nil {
		return -1, err
	}
	defer unix.Close(pfd)
	return openDirAt(pfd, name, p)
}

// ReadDir lists the names in the directory p ("" for d itself).
func (d *Dir) ReadDir(p string) ([]string, error) {
	fd, err := d.dirFD(p)
	if err != nil {
		return nil, err
	}
	f := os.NewFile(uintptr(fd), p)
	defer f.Close()
	return f.Readdirnames(-1)
}

// Writable reports whether the directory p ("" for d) may be written to.
func (d *Dir) Writable(p string) error {
	fd, err := d.dirFD(p)
	if err != nil {
		return err
	}
	defer unix.Close(fd)
	if err := unix.Faccessat(fd, ".", unix.W_OK|unix.X_OK, unix.AT_EACCESS); err != nil {
		if p == "" {
			p = "."
		}
		return fmt.Errorf("cannot write in directory %s: %w", p, err)
	}
	return nil
}
