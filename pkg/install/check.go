package install

import (
	"fmt"
	"path"
	"strings"

	"github.com/patchkit/patchkit/pkg/bundle"
)

// Auditing a tree: drift, what kind of drift, and links that point outside the root.

// Drift is a path whose content no longer matches what the state records.
type Drift struct {
	Bundle string `json:"bundle"`
	Path   string `json:"path"`
	Error  string `json:"error"`
	// Holds says what the path holds instead: "base" (the bundle's own base) or
	// "other" (neither its base nor its target).
	Holds string `json:"holds"`
}

// Check compares every path of every installed bundle with the tree.
func (t *Target) Check() []Drift {
	var out []Drift
	for _, in := range t.st.Installed {
		for _, c := range in.Paths {
			have, err := node(t.root, c.Path)
			if err == nil && sameNode(have, c.Target) {
				continue
			}
			if err == nil {
				err = mismatch(have, c.Target)
			}
			holds := "other"
			if have, herr := node(t.root, c.Path); herr == nil && sameNode(have, c.Base) {
				holds = "base"
			}
			out = append(out, Drift{Bundle: in.Digest, Path: c.Path, Error: err.Error(), Holds: holds})
		}
	}
	return out
}

// Drift kinds of a [Diagnosis].
const (
	// DriftAnotherVersion: every file the bundle changed holds content that is neither
	// its base nor its target: another release (a full update) was laid over the tree.
	DriftAnotherVersion = "another-version"
	// DriftOwnBase: the drifted paths hold the bundle's own base again (its base
	// release was reinstalled): the fix is gone.
	DriftOwnBase = "own-base"
	// DriftUnknown: some paths changed in another way (a local edit, a partial update).
	DriftUnknown = "unknown"
)

// Diagnosis says what kind of drift one installed bundle has and what to do.
type Diagnosis struct {
	Bundle string   `json:"bundle"`
	ID     string   `json:"id"`
	Kind   string   `json:"kind"`
	Paths  []string `json:"paths"`
	Hint   string   `json:"hint"`
}

// Diagnose classifies drift (from [Target.Check]) per installed bundle.
func (t *Target) Diagnose(drift []Drift) []Diagnosis {
	var out []Diagnosis
	for _, in := range t.st.Installed {
		var paths []string
		byPath := map[string]Drift{}
		for _, d := range drift {
			if d.Bundle == in.Digest {
				paths = append(paths, d.Path)
				byPath[d.Path] = d
			}
		}
		if len(paths) == 0 {
			continue
		}
		comp := componentsOf(&in)
		dg := Diagnosis{Bundle: in.Digest, ID: in.ID, Paths: paths, Kind: DriftUnknown}
		allBase, allFilesOther, files := true, true, 0
		for _, p := range paths {
			if byPath[p].Holds != "base" {
				allBase = false
			}
		}
		for _, c := range in.Paths {
			if c.Target == nil || c.Target.Type != bundle.TypeFile || sameNode(c.Base, c.Target) {
				continue
			}
			files++
			if d, ok := byPath[c.Path]; !ok || d.Holds != "other" {
				allFilesOther = false
			}
		}
		switch {
		case allBase:
			dg.Kind = DriftOwnBase
			dg.Hint = fmt.Sprintf("the tree holds the base of %s again (%s reinstalled?): its fix is gone; run \"patchkit retire %s --folded-into '%s'\" to drop its state, then apply it again", in.ID, comp, in.ID, baseVersions(&in))
		case files > 0 && allFilesOther:
			dg.Kind = DriftAnotherVersion
			dg.Hint = fmt.Sprintf("every file %s changed holds other content: another release of %s was laid over the tree; if it carries the fix, run \"patchkit retire %s --folded-into RELEASE\"; else reinstall %s and apply again", in.ID, componentNames(&in), in.ID, comp)
		default:
			dg.Hint = fmt.Sprintf("restore the changed paths (or reinstall %s) before removing or superseding %s", comp, in.ID)
		}
		out = append(out, dg)
	}
	return out
}

func componentsOf(in *Install) string {
	var s []string
	for _, c := range in.Components {
		s = append(s, c.Name+" "+c.BaseVersion)
	}
	return strings.Join(s, ", ")
}

func componentNames(in *Install) string {
	var s []string
	for _, c := range in.Components {
		s = append(s, c.Name)
	}
	return strings.Join(s, ", ")
}

func baseVersions(in *Install) string {
	var s []string
	for _, c := range in.Components {
		s = append(s, c.BaseVersion)
	}
	return strings.Join(s, ", ")
}

// Link is a symlink an installed bundle put or pinned in the tree whose text points
// outside the root (absolute, or leaving it by ".."): data patchkit never follows,
// shown so a reviewer sees it.
type Link struct {
	Bundle string `json:"bundle"`
	Path   string `json:"path"`
	Link   string `json:"link"`
}

// OutsideLinks lists the symlinks of installed bundles (changed or pinned) that point
// outside the root: absolute, leaving it by "..", or through other links of the tree
// (a/l2 -> l1/.. with a/l1 -> ..).
func (t *Target) OutsideLinks() []Link {
	var out []Link
	for _, in := range t.st.Installed {
		m, err := t.readManifest(in.Digest)
		if err != nil {
			continue // checked by Open
		}
		for _, f := range m.Files {
			if n := f.Target; n != nil && n.Type == bundle.TypeSymlink && t.resolvesOutside(f.Path, n.Link) {
				out = append(out, Link{Bundle: in.Digest, Path: f.Path, Link: n.Link})
			}
		}
	}
	return out
}

// resolvesOutside resolves link, at path p, as the kernel would, expanding the links of
// the tree it meets (read, never followed), and reports whether it leaves the root.
func (t *Target) resolvesOutside(p, link string) bool {
	var at []string // resolved components below the root
	if d := path.Dir(p); d != "." {
		at = strings.Split(d, "/")
	}
	todo := strings.Split(link, "/")
	if strings.HasPrefix(link, "/") {
		return true
	}
	for expansions := 0; len(todo) > 0; {
		c := todo[0]
		todo = todo[1:]
		switch c {
		case "", ".":
			continue
		case "..":
			if len(at) == 0 {
				return true
			}
			at = at[:len(at)-1]
			continue
		}
		next := strings.Join(append(append([]string(nil), at...), c), "/")
		st, ok, err := t.root.Lstat(next)
		if err != nil || !ok || typeOf(st) != bundle.TypeSymlink {
			at = append(at, c) // a directory, a file or nothing: lexical from here
			continue
		}
		if expansions++; expansions > 40 {
			return false // a loop: it resolves nowhere
		}
		text, err := t.root.Readlink(next)
		if err != nil {
			return false
		}
		if strings.HasPrefix(text, "/") {
			return true
		}
		todo = append(strings.Split(text, "/"), todo...)
	}
	return false
}
