package channel

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"

	"github.com/patchkit/patchkit/pkg/bundle"
)

// nodeAt describes what the tree opened as root holds at p, nil when nothing; regular
// files are hashed. os.Root keeps every lookup inside the tree and the final element
// is never followed, so a planted link cannot make the tree look like a release.
func nodeAt(root *os.Root, p string) (*bundle.Node, error) {
	fi, err := root.Lstat(p)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	mode := bundle.FormatMode(unixPerm(fi.Mode()))
	switch {
	case fi.Mode().IsDir():
		return &bundle.Node{Type: bundle.TypeDir, Mode: mode}, nil
	case fi.Mode()&fs.ModeSymlink != 0:
		link, err := root.Readlink(p)
		if err != nil {
			return nil, err
		}
		return &bundle.Node{Type: bundle.TypeSymlink, Link: link}, nil
	case fi.Mode().IsRegular():
		f, err := root.Open(p)
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
	return nil, fmt.Errorf("%s: unsupported file type %s", p, fi.Mode().Type())
}

// unixPerm returns the permission bits with setuid, setgid and sticky in their Unix
// positions.
func unixPerm(m fs.FileMode) uint32 {
	p := uint32(m.Perm())
	if m&fs.ModeSetuid != 0 {
		p |= 0o4000
	}
	if m&fs.ModeSetgid != 0 {
		p |= 0o2000
	}
	if m&fs.ModeSticky != 0 {
		p |= 0o1000
	}
	return p
}

// sameNode reports whether two nodes (nil: absent) describe the same thing.
func sameNode(a, b *bundle.Node) bool {
	if a == nil || b == nil {
		return a == nil && b == nil
	}
	return *a == *b
}

// matches reports whether the tree at dir holds the release rel at every path, and,
// when not, the first path that differs.
func matches(dir string, rel *Release) (bool, string, error) {
	root, err := os.OpenRoot(dir)
	if err != nil {
		return false, "", err
	}
	defer root.Close()
	for _, f := range rel.Files {
		n, err := nodeAt(root, f.Path)
		if err != nil {
			return false, f.Path, nil
		}
		if !sameNode(n, f.Node) {
			return false, f.Path, nil
		}
	}
	return true, "", nil
}

// identity describes the tree at dir at each of paths, as a release's files.
func identity(dir string, paths []string) ([]PathNode, error) {
	root, err := os.OpenRoot(dir)
	if err != nil {
		return nil, err
	}
	defer root.Close()
	out := make([]PathNode, 0, len(paths))
	for _, p := range paths {
		n, err := nodeAt(root, p)
		if err != nil {
			return nil, fmt.Errorf("release tree %s: %w", dir, err)
		}
		out = append(out, PathNode{Path: p, Node: n})
	}
	return out, nil
}
