package safefs

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"

	"golang.org/x/sys/unix"
)

// Node types, as in the bundle format.
const (
	TypeFile    = "file"
	TypeDir     = "dir"
	TypeSymlink = "symlink"
)

// Node describes what is at a path: its fields and their order are those of
// bundle.Node, so one converts to the other.
type Node struct {
	Link   string `json:"link,omitempty"`
	Mode   string `json:"mode,omitempty"`
	SHA256 string `json:"sha256,omitempty"`
	Size   int64  `json:"size,omitempty"`
	Type   string `json:"type"`
}

// Node describes what is at p now, nil when nothing is. Regular files are hashed;
// a FIFO, socket or device is an error, never opened.
func (d *Dir) Node(p string) (*Node, error) {
	st, ok, err := d.Lstat(p)
	if err != nil || !ok {
		return nil, err
	}
	mode := fmt.Sprintf("%04o", st.Mode&0o7777)
	switch st.Mode & unix.S_IFMT {
	case unix.S_IFDIR:
		return &Node{Type: TypeDir, Mode: mode}, nil
	case unix.S_IFLNK:
		link, err := d.Readlink(p)
		if err != nil {
			return nil, err
		}
		return &Node{Type: TypeSymlink, Link: link}, nil
	case unix.S_IFREG:
		f, err := d.Open(p)
		if err != nil {
			return nil, err
		}
		defer f.Close()
		h := sha256.New()
		n, err := io.Copy(h, f)
		if err != nil {
			return nil, err
		}
		return &Node{Type: TypeFile, Mode: mode, Size: n, SHA256: hex.EncodeToString(h.Sum(nil))}, nil
	}
	return nil, &PathError{Path: p, Err: fmt.Errorf("is a %s: unsupported file type", kind(st.Mode))}
}

// Check reports how p differs from want (nil: absent), or nil if it holds exactly
// want: type, mode, symlink text, size and SHA-256. Every base check of patchkit
// (apply, remove, verify --base, extract --base) is this one.
func (d *Dir) Check(p string, want *Node) error {
	have, err := d.Node(p)
	if err != nil {
		return err
	}
	if !Same(have, want) {
		return Mismatch(have, want)
	}
	return nil
}

// Same reports whether two nodes (nil meaning absent) describe the same thing.
func Same(a, b *Node) bool {
	if a == nil || b == nil {
		return a == nil && b == nil
	}
	return *a == *b
}

// Describe renders a node for messages.
func Describe(n *Node) string {
	switch {
	case n == nil:
		return "nothing"
	case n.Type == TypeFile:
		return fmt.Sprintf("file %s mode %s (%d bytes)", Short(n.SHA256), n.Mode, n.Size)
	case n.Type == TypeDir:
		return "directory mode " + n.Mode
	}
	return "symlink to " + n.Link
}

// Short abbreviates a hex digest for messages.
func Short(h string) string {
	if len(h) > 12 {
		return h[:12]
	}
	return h
}

// Mismatch explains how have differs from want.
func Mismatch(have, want *Node) error {
	switch {
	case have == nil:
		return errors.New("missing")
	case want == nil:
		return fmt.Errorf("exists (%s), want nothing", Describe(have))
	case have.Type != want.Type:
		return fmt.Errorf("want a %s, found a %s", want.Type, have.Type)
	case have.Type == TypeSymlink:
		return fmt.Errorf("symlink points to %q, want %q", have.Link, want.Link)
	case have.SHA256 != want.SHA256 || have.Size != want.Size:
		return errors.New("content digest differs")
	}
	return fmt.Errorf("mode %s, want %s", have.Mode, want.Mode)
}

// TypeOf names the file type of a status.
func TypeOf(st unix.Stat_t) string {
	switch st.Mode & unix.S_IFMT {
	case unix.S_IFDIR:
		return TypeDir
	case unix.S_IFLNK:
		return TypeSymlink
	case unix.S_IFREG:
		return TypeFile
	}
	return kind(st.Mode)
}

func kind(mode uint32) string {
	switch mode & unix.S_IFMT {
	case unix.S_IFDIR:
		return "directory"
	case unix.S_IFLNK:
		return "symlink"
	case unix.S_IFREG:
		return "regular file"
	case unix.S_IFIFO:
		return "FIFO"
	case unix.S_IFSOCK:
		return "socket"
	case unix.S_IFCHR:
		return "character device"
	case unix.S_IFBLK:
		return "block device"
	}
	return fmt.Sprintf("file of type %#o", mode&unix.S_IFMT)
}
