package install

import (
	"github.com/patchkit/patchkit/internal/safefs"
	"github.com/patchkit/patchkit/pkg/bundle"
	"golang.org/x/sys/unix"
)

// tree is a directory reached only through internal/safefs: no symlink under it is ever
// followed, whatever chain of links it holds.
type tree = safefs.Dir

// PathError reports a path of the tree that cannot be used safely: a parent is a
// symlink or not a directory, or the path is not a clean relative path.
type PathError = safefs.PathError

// node describes what is at p now (nil: nothing), regular files hashed.
func node(d *tree, p string) (*bundle.Node, error) {
	n, err := d.Node(p)
	if n == nil || err != nil {
		return nil, err
	}
	b := bundle.Node(*n)
	return &b, nil
}

func toFS(n *bundle.Node) *safefs.Node {
	if n == nil {
		return nil
	}
	s := safefs.Node(*n)
	return &s
}

// sameNode reports whether two nodes (nil meaning absent) describe the same thing.
func sameNode(a, b *bundle.Node) bool { return safefs.Same(toFS(a), toFS(b)) }

// describe renders a node for messages.
func describe(n *bundle.Node) string { return safefs.Describe(toFS(n)) }

// mismatch explains how have differs from want.
func mismatch(have, want *bundle.Node) error { return safefs.Mismatch(toFS(have), toFS(want)) }

func short(h string) string { return safefs.Short(h) }

func typeOf(st unix.Stat_t) string { return safefs.TypeOf(st) }

// Owner is the owner and group of a path, kept when a bundle replaces it and restored
// when the bundle is removed.
type Owner struct {
	UID uint32 `json:"uid"`
	GID uint32 `json:"gid"`
}

func ownerOf(st unix.Stat_t) *Owner { return &Owner{UID: st.Uid, GID: st.Gid} }

func rename(from *tree, src string, to *tree, dst string) error {
	return safefs.Rename(from, src, to, dst)
}
