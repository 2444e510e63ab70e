package bundle

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
)

// Diff is what differs between two manifests ([DiffManifests]), or between a manifest's
// declared target and a tree ([DiffTree]). A is the first bundle, B the second bundle
// or the tree.
type Diff struct {
	Fields []FieldChange `json:"fields"` // header fields that differ, in a fixed order
	Paths  []PathChange  `json:"paths"`  // paths that differ, sorted
}

// FieldChange is one header field (label, sequence, advisories...) that differs.
type FieldChange struct {
	Field   string   `json:"field"`
	A       string   `json:"a"`
	B       string   `json:"b"`
	Added   []string `json:"added,omitempty"`   // for list fields: in B only
	Removed []string `json:"removed,omitempty"` // for list fields: in A only
}

// PathChange is one path that differs. Change is "added" (only B has the path: B
// adds or touches it, or the tree holds a path A deletes), "removed" (only A has it),
// or "changed" (both, differently; Differs names what).
type PathChange struct {
	Path    string     `json:"path"`
	Change  string     `json:"change"`
	Differs []string   `json:"differs,omitempty"` // op, base, target, codec, payload_size
	A       *PathState `json:"a,omitempty"`
	B       *PathState `json:"b,omitempty"`
}

// PathState is what one side says about a path. Digests are "sha256:<hex>".
type PathState struct {
	Op          string `json:"op,omitempty"`   // the bundle's operation; "" for a tree
	Type        string `json:"type,omitempty"` // of the target ("" when the path is deleted)
	Mode        string `json:"mode,omitempty"`
	Size        int64  `json:"size"` // of the target file
	Digest      string `json:"digest,omitempty"`
	Link        string `json:"link,omitempty"`
	BaseDigest  string `json:"base_digest,omitempty"`
	Codec       string `json:"codec,omitempty"`
	PayloadSize int64  `json:"payload_size"`
}

// Same reports whether nothing differs.
func (d *Diff) Same() bool { return len(d.Fields) == 0 && len(d.Paths) == 0 }

func hexDigest(h string) string {
	if h == "" {
		return ""
	}
	return "sha256:" + h
}

func nodeState(st *PathState, n *Node) {
	if n == nil {
		return
	}
	st.Type, st.Mode, st.Size, st.Digest, st.Link = n.Type, n.Mode, n.Size, hexDigest(n.SHA256), n.Link
}

func fileState(f *File) *PathState {
	st := &PathState{Op: string(f.Op)}
	nodeState(st, f.Target)
	if f.Base != nil {
		st.BaseDigest = hexDigest(f.Base.SHA256)
	}
	if f.Payload != nil {
		st.Codec, st.PayloadSize = f.Payload.Codec, f.Payload.Size
	}
	return st
}

// DiffManifests compares two bundles' manifests: header fields, and for every path
// either touches whether it is added, removed or changed (operation, base, target,
// codec, payload size).
func DiffManifests(a, b *Manifest) *Diff {
	d := &Diff{Fields: diffFields(a, b), Paths: []PathChange{}}
	pa, pb := map[string]*File{}, map[string]*File{}
	for i := range a.Files {
		pa[a.Files[i].Path] = &a.Files[i]
	}
	for i := range b.Files {
		pb[b.Files[i].Path] = &b.Files[i]
	}
	for _, p := range sortedUnion(pa, pb) {
		fa, fb := pa[p], pb[p]
		switch {
		case fb == nil:
			d.Paths = append(d.Paths, PathChange{Path: p, Change: "removed", A: fileState(fa)})
		case fa == nil:
			d.Paths = append(d.Paths, PathChange{Path: p, Change: "added", B: fileState(fb)})
		default:
			sa, sb := fileState(fa), fileState(fb)
			var differs []string
			if sa.Op != sb.Op {
				differs = append(differs, "op")
			}
			if !sameNode(fa.Base, fb.Base) {
				differs = append(differs, "base")
			}
			if !sameNode(fa.Target, fb.Target) {
				differs = append(differs, "target")
			}
			if sa.Codec != sb.Codec {
				differs = append(differs, "codec")
			}
			if sa.PayloadSize != sb.PayloadSize {
				differs = append(differs, "payload_size")
			}
			if len(differs) > 0 {
				d.Paths = append(d.Paths, PathChange{Path: p, Change: "changed", Differs: differs, A: sa, B: sb})
			}
		}
	}
	return d
}

// String describes c as "name base [-> target] [(under root/)]".
func (c Component) String() string {
	v := c.Name + " " + c.BaseVersion
	if c.TargetVersion != "" {
		v += " -> " + c.TargetVersion
	}
	if c.Root != "" {
		v += " (under " + c.Root + "/)"
	}
	return v
}

func sameNode(a, b *Node) bool {
	if a == nil || b == nil {
		return a == b
	}
	return *a == *b
}

func sortedUnion[V any](a, b map[string]V) []string {
	var keys []string
	for k := range a {
		keys = append(keys, k)
	}
	for k := range b {
		if _, ok := a[k]; !ok {
			keys = append(keys, k)
		}
	}
	sort.Strings(keys)
	return keys
}

func diffFields(a, b *Manifest) []FieldChange {
	out := []FieldChange{}
	scalar := func(name, va, vb string) {
		if va != vb {
			out = append(out, FieldChange{Field: name, A: va, B: vb})
		}
	}
	list := func(name string, va, vb []string) {
		added, removed := setDiff(vb, va), setDiff(va, vb)
		if len(added)+len(removed) > 0 {
			out = append(out, FieldChange{Field: name, A: strings.Join(va, ", "), B: strings.Join(vb, ", "), Added: added, Removed: removed})
		}
	}
	orNever := func(s string) string {
		if s == "" {
			return "never"
		}
		return s
	}
	components := func(m *Manifest) []string {
		var s []string
		for _, c := range m.Components {
			s = append(s, c.String())
		}
		return s
	}
	scalar("id", a.ID, b.ID)
	scalar("label", a.Label, b.Label)
	scalar("sequence", strconv.FormatInt(a.Sequence, 10), strconv.FormatInt(b.Sequence, 10))
	list("components", components(a), components(b))
	list("advisories", a.Advisories, b.Advisories)
	scalar("not_after", orNever(a.NotAfter), orNever(b.NotAfter))
	scalar("activation", a.Activation, b.Activation)
	list("supersedes", a.Supersedes, b.Supersedes)
	return out
}

// setDiff returns the elements of a not in b, in a's order.
func setDiff(a, b []string) []string {
	in := map[string]bool{}
	for _, s := range b {
		in[s] = true
	}
	var out []string
	for _, s := range a {
		if !in[s] {
			out = append(out, s)
		}
	}
	return out
}

// DiffTree compares the target m declares for every path it touches with the tree at
// dir (an install root: component roots included in the paths): a path the bundle
// produces that dir lacks is "removed", a path it deletes that dir holds is "added", a
// path whose type, mode, size, digest or link text differs is "changed". Paths the
// bundle does not touch are not compared; nothing under dir is followed through a
// symbolic link.
func DiffTree(m *Manifest, dir string) (*Diff, error) { return diffTree(m, dir, false) }

// DiffBase compares the base m declares for every path it touches or pins with the
// tree at dir, in the same terms as [DiffTree]: it names every path where dir is not the
// bundle's base, where apply and verify --base stop at the first.
func DiffBase(m *Manifest, dir string) (*Diff, error) { return diffTree(m, dir, true) }

func diffTree(m *Manifest, dir string, base bool) (*Diff, error) {
	if fi, err := os.Stat(dir); err != nil {
		return nil, err
	} else if !fi.IsDir() {
		return nil, fmt.Errorf("%s is not a directory", dir)
	}
	d := &Diff{Fields: []FieldChange{}, Paths: []PathChange{}}
	for i := range m.Files {
		f := &m.Files[i]
		want := f.Target
		if base {
			want = f.Base
		} else if f.Op == OpPin {
			continue
		}
		got, err := treeNode(dir, f.Path)
		if err != nil {
			return nil, err
		}
		sa := &PathState{Op: string(f.Op)}
		nodeState(sa, want)
		var sb *PathState
		if got != nil {
			sb = &PathState{}
			nodeState(sb, got)
		}
		what := "target"
		if base {
			what = "base"
		}
		switch {
		case want == nil && got == nil:
		case got == nil:
			d.Paths = append(d.Paths, PathChange{Path: f.Path, Change: "removed", A: sa})
		case want == nil:
			d.Paths = append(d.Paths, PathChange{Path: f.Path, Change: "added", A: sa, B: sb})
		case !sameNode(want, got):
			d.Paths = append(d.Paths, PathChange{Path: f.Path, Change: "changed", Differs: []string{what}, A: sa, B: sb})
		}
	}
	return d, nil
}

// treeNode describes dir/p as a manifest node, or returns nil when it does not exist.
// A symbolic link among p's parents is an error: it would lead outside what p names.
func treeNode(dir, p string) (*Node, error) {
	parts := strings.Split(p, "/")
	cur := dir
	for i, part := range parts {
		cur = filepath.Join(cur, part)
		fi, err := os.Lstat(cur)
		if errors.Is(err, fs.ErrNotExist) {
			return nil, nil
		}
		if err != nil {
			return nil, err
		}
		if i < len(parts)-1 {
			if !fi.IsDir() {
				if fi.Mode()&fs.ModeSymlink != 0 {
					return nil, fmt.Errorf("%s: a parent of %s is a symbolic link", cur, p)
				}
				return nil, nil
			}
			continue
		}
		switch mode := fi.Mode(); {
		case mode.IsRegular():
			sum, n, err := hashFile(cur)
			if err != nil {
				return nil, err
			}
			return &Node{Type: TypeFile, Mode: FormatMode(unixPerm(mode)), Size: n, SHA256: sum}, nil
		case mode.IsDir():
			return &Node{Type: TypeDir, Mode: FormatMode(unixPerm(mode))}, nil
		case mode&fs.ModeSymlink != 0:
			link, err := os.Readlink(cur)
			if err != nil {
				return nil, err
			}
			return &Node{Type: TypeSymlink, Link: link}, nil
		default:
			return &Node{Type: mode.Type().String()}, nil
		}
	}
	return nil, nil
}
