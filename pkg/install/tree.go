package install

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/patchkit/patchkit/pkg/bundle"
	"golang.org/x/sys/unix"
)

// tree is a directory reached only by openat-style walking: every parent component of a
// path is opened with O_NOFOLLOW|O_DIRECTORY, so a symlink anywhere above a path is
// refused (never followed) and no path can resolve outside the directory, whatever
// chain of links the tree holds. The final component is never followed either.
type tree struct {
	dir string // for messages
	fd  int
}

func openTree(dir string) (*tree, error) {
	fd, err := unix.Open(dir, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, &os.PathError{Op: "open", Path: dir, Err: err}
	}
	return &tree{dir: dir, fd: fd}, nil
}

func (t *tree) close() error { return unix.Close(t.fd) }

// PathError reports a path of the tree that cannot be used safely: a parent is a
// symlink or not a directory.
type PathError struct {
	Path string
	Err  error
}

func (e *PathError) Error() string { return fmt.Sprintf("unsafe path %s: %v", e.Path, e.Err) }
func (e *PathError) Unwrap() error { return e.Err }

var errNoParent = errors.New("not a directory")

// parent opens the directory holding p (slash-separated, relative) and returns its
// descriptor, which the caller closes, and p's last component.
func (t *tree) parent(p string) (int, string, error) {
	parts := strings.Split(p, "/")
	fd, err := unix.Dup(t.fd)
	if err != nil {
		return -1, "", err
	}
	for i, c := range parts[:len(parts)-1] {
		nfd, err := unix.Openat(fd, c, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
		if err != nil {
			at := strings.Join(parts[:i+1], "/")
			if err == unix.ENOTDIR {
				var st unix.Stat_t
				if unix.Fstatat(fd, c, &st, unix.AT_SYMLINK_NOFOLLOW) == nil && st.Mode&unix.S_IFMT == unix.S_IFLNK {
					err = unix.ELOOP
				}
			}
			unix.Close(fd)
			switch err {
			case unix.ELOOP:
				return -1, "", &PathError{Path: p, Err: fmt.Errorf("parent %s is a symlink", at)}
			case unix.ENOTDIR:
				return -1, "", &PathError{Path: p, Err: fmt.Errorf("parent %s is %w", at, errNoParent)}
			}
			return -1, "", &os.PathError{Op: "open", Path: at, Err: err}
		}
		unix.Close(fd)
		fd = nfd
	}
	return fd, parts[len(parts)-1], nil
}

// lstat returns p's status; ok is false when p does not exist.
func (t *tree) lstat(p string) (st unix.Stat_t, ok bool, err error) {
	fd, name, err := t.parent(p)
	if errors.Is(err, errNoParent) || errors.Is(err, unix.ENOENT) {
		return st, false, nil // a parent is missing or a plain file: p does not exist
	}
	if err != nil {
		return st, false, err
	}
	defer unix.Close(fd)
	err = unix.Fstatat(fd, name, &st, unix.AT_SYMLINK_NOFOLLOW)
	if err == unix.ENOTDIR {
		err = unix.ENOENT
	}
	if err == unix.ENOENT {
		return st, false, nil
	}
	if err != nil {
		return st, false, &os.PathError{Op: "lstat", Path: p, Err: err}
	}
	return st, true, nil
}

// open opens the regular file p for reading without following a symlink.
func (t *tree) open(p string) (*os.File, error) {
	fd, name, err := t.parent(p)
	if err != nil {
		return nil, err
	}
	defer unix.Close(fd)
	ffd, err := unix.Openat(fd, name, unix.O_RDONLY|unix.O_NOFOLLOW|unix.O_NONBLOCK|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, &os.PathError{Op: "open", Path: p, Err: err}
	}
	f := os.NewFile(uintptr(ffd), p)
	fi, err := f.Stat()
	if err != nil || !fi.Mode().IsRegular() {
		f.Close()
		if err == nil {
			err = fmt.Errorf("%s is not a regular file", p)
		}
		return nil, err
	}
	return f, nil
}

// create creates the new file p for writing with mode 0600.
func (t *tree) create(p string) (*os.File, error) {
	fd, name, err := t.parent(p)
	if err != nil {
		return nil, err
	}
	defer unix.Close(fd)
	ffd, err := unix.Openat(fd, name, unix.O_WRONLY|unix.O_CREAT|unix.O_EXCL|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0o600)
	if err != nil {
		return nil, &os.PathError{Op: "create", Path: p, Err: err}
	}
	return os.NewFile(uintptr(ffd), p), nil
}

func (t *tree) readlink(p string) (string, error) {
	fd, name, err := t.parent(p)
	if err != nil {
		return "", err
	}
	defer unix.Close(fd)
	buf := make([]byte, 4097)
	n, err := unix.Readlinkat(fd, name, buf)
	if err != nil {
		return "", &os.PathError{Op: "readlink", Path: p, Err: err}
	}
	return string(buf[:n]), nil
}

// remove unlinks the file or symlink p, or removes the empty directory p.
func (t *tree) remove(p string, dir bool) error {
	fd, name, err := t.parent(p)
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

func (t *tree) mkdir(p string, perm uint32) error {
	fd, name, err := t.parent(p)
	if err != nil {
		return err
	}
	defer unix.Close(fd)
	if err := unix.Mkdirat(fd, name, perm); err != nil {
		return &os.PathError{Op: "mkdir", Path: p, Err: err}
	}
	return nil
}

func (t *tree) symlink(link, p string) error {
	fd, name, err := t.parent(p)
	if err != nil {
		return err
	}
	defer unix.Close(fd)
	if err := unix.Symlinkat(link, fd, name); err != nil {
		return &os.PathError{Op: "symlink", Path: p, Err: err}
	}
	return nil
}

// chmod sets the permission bits (with setuid, setgid and sticky) of the file or
// directory p, opened without following a symlink.
func (t *tree) chmod(p string, perm uint32) error {
	fd, name, err := t.parent(p)
	if err != nil {
		return err
	}
	defer unix.Close(fd)
	ffd, err := unix.Openat(fd, name, unix.O_RDONLY|unix.O_NOFOLLOW|unix.O_NONBLOCK|unix.O_CLOEXEC, 0)
	if err != nil {
		return &os.PathError{Op: "chmod", Path: p, Err: err}
	}
	defer unix.Close(ffd)
	if err := unix.Fchmod(ffd, perm); err != nil {
		return &os.PathError{Op: "chmod", Path: p, Err: err}
	}
	return nil
}

// rename moves src of tree from to dst of t (both on one filesystem), replacing a file
// or symlink at dst.
func rename(from *tree, src string, t *tree, dst string) error {
	sfd, sname, err := from.parent(src)
	if err != nil {
		return err
	}
	defer unix.Close(sfd)
	dfd, dname, err := t.parent(dst)
	if err != nil {
		return err
	}
	defer unix.Close(dfd)
	if err := unix.Renameat(sfd, sname, dfd, dname); err != nil {
		return &os.LinkError{Op: "rename", Old: src, New: dst, Err: err}
	}
	return nil
}

// syncDir fsyncs the directory p ("" for the tree itself).
func (t *tree) syncDir(p string) error {
	var fd int
	var err error
	if p == "" {
		fd, err = unix.Dup(t.fd)
	} else {
		pfd, name, perr := t.parent(p)
		if perr != nil {
			return perr
		}
		fd, err = unix.Openat(pfd, name, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
		unix.Close(pfd)
	}
	if err != nil {
		return &os.PathError{Op: "sync", Path: p, Err: err}
	}
	defer unix.Close(fd)
	if err := unix.Fsync(fd); err != nil && err != unix.EINVAL {
		return &os.PathError{Op: "sync", Path: p, Err: err}
	}
	return nil
}

// readDir lists the names in directory p.
func (t *tree) readDir(p string) ([]string, error) {
	pfd, name, err := t.parent(p)
	if err != nil {
		return nil, err
	}
	fd, err := unix.Openat(pfd, name, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	unix.Close(pfd)
	if err != nil {
		return nil, &os.PathError{Op: "open", Path: p, Err: err}
	}
	d := os.NewFile(uintptr(fd), p)
	defer d.Close()
	return d.Readdirnames(-1)
}

// writable reports whether the directory p ("" for the tree) may be written to.
func (t *tree) writable(p string) error {
	fd := t.fd
	if p != "" {
		pfd, name, err := t.parent(p)
		if err != nil {
			return err
		}
		defer unix.Close(pfd)
		dfd, err := unix.Openat(pfd, name, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
		if err != nil {
			return &os.PathError{Op: "open", Path: p, Err: err}
		}
		defer unix.Close(dfd)
		fd = dfd
	}
	if err := unix.Faccessat(fd, ".", unix.W_OK|unix.X_OK, unix.AT_EACCESS); err != nil {
		if p == "" {
			p = "."
		}
		return fmt.Errorf("cannot write in directory %s: %w", p, err)
	}
	return nil
}

// node describes what is at p now, nil when nothing is. Regular files are hashed.
func (t *tree) node(p string) (*bundle.Node, error) {
	st, ok, err := t.lstat(p)
	if err != nil || !ok {
		return nil, err
	}
	mode := bundle.FormatMode(st.Mode & 0o7777)
	switch st.Mode & unix.S_IFMT {
	case unix.S_IFDIR:
		return &bundle.Node{Type: bundle.TypeDir, Mode: mode}, nil
	case unix.S_IFLNK:
		link, err := t.readlink(p)
		if err != nil {
			return nil, err
		}
		return &bundle.Node{Type: bundle.TypeSymlink, Link: link}, nil
	case unix.S_IFREG:
		f, err := t.open(p)
		if err != nil {
			return nil, err
		}
		defer f.Close()
		h := sha256.New()
		n, err := io.Copy(h, f)
		if err != nil {
			return nil, err
		}
		return &bundle.Node{Type: bundle.TypeFile, Mode: mode, Size: n, SHA256: hex.EncodeToString(h.Sum(nil))}, nil
	}
	return nil, fmt.Errorf("%s: unsupported file type %#o", p, st.Mode&unix.S_IFMT)
}

// sameNode reports whether two nodes (nil meaning absent) describe the same thing.
func sameNode(a, b *bundle.Node) bool {
	if a == nil || b == nil {
		return a == nil && b == nil
	}
	return *a == *b
}

// describe renders a node for messages.
func describe(n *bundle.Node) string {
	switch {
	case n == nil:
		return "nothing"
	case n.Type == bundle.TypeFile:
		return fmt.Sprintf("file %s mode %s (%d bytes)", short(n.SHA256), n.Mode, n.Size)
	case n.Type == bundle.TypeDir:
		return "directory mode " + n.Mode
	}
	return "symlink to " + n.Link
}

func short(h string) string {
	if len(h) > 12 {
		return h[:12]
	}
	return h
}

// mismatch explains how have differs from want.
func mismatch(have, want *bundle.Node) error {
	switch {
	case have == nil:
		return errors.New("missing")
	case want == nil:
		return fmt.Errorf("exists (%s), want nothing", describe(have))
	case have.Type != want.Type:
		return fmt.Errorf("want a %s, found a %s", want.Type, have.Type)
	case have.Type == bundle.TypeSymlink:
		return fmt.Errorf("symlink points to %q, want %q", have.Link, want.Link)
	case have.SHA256 != want.SHA256 || have.Size != want.Size:
		return errors.New("content digest differs")
	}
	return fmt.Errorf("mode %s, want %s", have.Mode, want.Mode)
}
