package channel

import (
	"fmt"

	"github.com/patchkit/patchkit/internal/safefs"
	"github.com/patchkit/patchkit/pkg/bundle"
)

// nodeAt describes what the tree d holds at p, nil when nothing; regular files are
// hashed. It is the base check's own reader (safefs): no link is followed at any
// element, and a FIFO, socket or device is refused, never opened, so a planted link or
// special file can neither make the tree look like a release nor block update.
func nodeAt(d *safefs.Dir, p string) (*bundle.Node, error) {
	n, err := d.Node(p)
	if err != nil || n == nil {
		return nil, err
	}
	b := bundle.Node(*n)
	return &b, nil
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
	root, err := safefs.Open(dir)
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
	root, err := safefs.Open(dir)
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
