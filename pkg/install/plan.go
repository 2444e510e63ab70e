package install

import (
	"errors"
	"fmt"
	"path"
	"sort"

	"github.com/patchkit/patchkit/pkg/bundle"
	"golang.org/x/sys/unix"
)

// Planning a transition: which path goes from which node to which, checked against the
// tree before anything is staged. The same plan checks a journal found at recovery
// ([Target.checkJournal]).

type pair struct{ cur, next *Change }

// planSteps returns the steps moving every path from cur's target (or next's base, for
// paths cur does not change) to next's target (or cur's base, for paths next does not
// change), sorted by path, with the owner each path keeps.
func planSteps(cur, next *Install) ([]step, error) {
	pairs, paths := pairsOf(cur, next)
	var steps []step
	for _, p := range paths {
		pr := pairs[p]
		from, to, owner := pr.nodes()
		if pr.cur != nil && pr.next != nil && !sameNode(pr.cur.Base, pr.next.Base) {
			return nil, &bundle.BaseError{Path: p, Err: fmt.Errorf("the bundle's base is %s, the base recorded by %s had %s", describe(pr.next.Base), cur.ID, describe(pr.cur.Base))}
		}
		if !sameNode(from, to) {
			steps = append(steps, step{Path: p, From: from, To: to, Owner: owner})
		}
	}
	return steps, nil
}

func pairsOf(cur, next *Install) (map[string]*pair, []string) {
	pairs := map[string]*pair{}
	if cur != nil {
		for i := range cur.Paths {
			pairs[cur.Paths[i].Path] = &pair{cur: &cur.Paths[i]}
		}
	}
	if next != nil {
		for i := range next.Paths {
			c := &next.Paths[i]
			if p, ok := pairs[c.Path]; ok {
				p.next = c
			} else {
				pairs[c.Path] = &pair{next: c}
			}
		}
	}
	paths := make([]string, 0, len(pairs))
	for p := range pairs {
		paths = append(paths, p)
	}
	sort.Strings(paths)
	return pairs, paths
}

// nodes returns what the path holds before and after the transition, and its owner.
func (pr *pair) nodes() (from, to *bundle.Node, owner *Owner) {
	if pr.cur != nil {
		from, owner = pr.cur.Target, pr.cur.Owner
	} else {
		from = pr.next.Base
	}
	if pr.next != nil {
		to, owner = pr.next.Target, pr.next.Owner
	} else {
		to = pr.cur.Base
	}
	return from, to, owner
}

// DriftError reports that paths of an installed bundle no longer hold what it
// installed (a full release laid over the tree, a local edit): nothing is restored
// over them.
type DriftError struct {
	Bundle string   // id of the installed bundle
	Paths  []string // the paths that changed
	First  error    // how the first one differs
}

func (e *DriftError) Error() string {
	more := ""
	if len(e.Paths) > 1 {
		more = fmt.Sprintf(" (and %d more: %s)", len(e.Paths)-1, joinShort(e.Paths[1:], 8))
	}
	first := e.First
	var be *bundle.BaseError
	if errors.As(first, &be) && be.Path == e.Paths[0] {
		first = be.Err
	}
	return fmt.Sprintf("the tree no longer matches installed bundle %s at %s: %v%s", e.Bundle, e.Paths[0], first, more)
}

func (e *DriftError) Unwrap() error { return e.First }

func joinShort(ps []string, n int) string {
	s := ""
	for i, p := range ps {
		if i == n {
			return s + fmt.Sprintf(", ... %d more", len(ps)-n)
		}
		if i > 0 {
			s += ", "
		}
		s += p
	}
	return s
}

// checkTree checks that every path of the transition holds what it starts from, and
// that every pinned path holds its pin; it notes where file contents are found now.
// Paths of cur that drifted are collected into one [DriftError].
func (t *Target) checkTree(cur, next *Install, pins []*bundle.File, inTree map[string]string) error {
	pairs, paths := pairsOf(cur, next)
	for _, p := range pins {
		if pr, ok := pairs[p.Path]; ok {
			// cur changed a path next pins: it is restored to the base next pins.
			if !sameNode(pr.cur.Base, p.Base) {
				return &bundle.BaseError{Path: p.Path, Err: fmt.Errorf("the bundle pins %s, the base recorded by %s had %s", describe(p.Base), cur.ID, describe(pr.cur.Base))}
			}
			continue
		}
		if err := t.expect(p.Path, p.Base, inTree, nil); err != nil {
			return err
		}
	}
	var drift *DriftError
	for _, p := range paths {
		pr := pairs[p]
		from, _, _ := pr.nodes()
		err := t.expect(p, from, inTree, pairs)
		if err == nil {
			continue
		}
		var pe *PathError
		if pr.cur == nil || errors.As(err, &pe) {
			return err
		}
		if drift == nil {
			drift = &DriftError{Bundle: cur.ID, First: err}
		}
		drift.Paths = append(drift.Paths, p)
	}
	if drift != nil {
		return drift
	}
	return nil
}

// expect checks that path p holds want now, and notes where file contents are found.
func (t *Target) expect(p string, want *bundle.Node, inTree map[string]string, changed map[string]*pair) error {
	have, err := node(t.root, p)
	if err != nil && want == nil {
		// Absent as it should be if an ancestor is not a directory now: the
		// transition changes that ancestor (checkShape makes sure of the rest).
		for d := path.Dir(p); d != "."; d = path.Dir(d) {
			if _, ok := changed[d]; ok {
				return nil
			}
		}
	}
	if err != nil {
		var pe *PathError
		if errors.As(err, &pe) {
			return err
		}
		return &bundle.BaseError{Path: p, Err: err}
	}
	if !sameNode(have, want) {
		return &bundle.BaseError{Path: p, Err: mismatch(have, want)}
	}
	if have != nil && have.Type == bundle.TypeFile {
		inTree[have.SHA256] = p
	}
	return nil
}

// checkShape refuses transitions that cannot be done with the tree as it is: a
// directory to delete holding paths the transition does not delete, a parent that is
// neither a directory now nor created by the transition, a directory without write
// permission.
func (t *Target) checkShape(steps []step) error {
	byPath := map[string]*step{}
	for i := range steps {
		byPath[steps[i].Path] = &steps[i]
	}
	checked := map[string]bool{}
	for _, s := range steps {
		if s.From != nil && s.From.Type == bundle.TypeDir && (s.To == nil || s.To.Type != bundle.TypeDir) {
			names, err := t.root.ReadDir(s.Path)
			if err != nil {
				return err
			}
			for _, n := range names {
				c, ok := byPath[s.Path+"/"+n]
				if !ok || c.To != nil {
					return &bundle.BaseError{Path: s.Path, Err: fmt.Errorf("directory to remove holds %s, which the bundle does not remove", n)}
				}
			}
		}
		dir := path.Dir(s.Path)
		for dir != "." && !checked[dir] {
			checked[dir] = true
			if d, ok := byPath[dir]; ok {
				if s.To != nil && (d.To == nil || d.To.Type != bundle.TypeDir) {
					return &bundle.BaseError{Path: s.Path, Err: fmt.Errorf("parent %s is not a directory in the target", dir)}
				}
				dir = path.Dir(dir)
				continue
			}
			st, ok, err := t.root.Lstat(dir)
			if err != nil {
				return err
			}
			if !ok || st.Mode&unix.S_IFMT != unix.S_IFDIR {
				return &bundle.BaseError{Path: s.Path, Err: fmt.Errorf("parent %s is missing or not a directory", dir)}
			}
			if err := t.root.Writable(dir); err != nil {
				return err
			}
			dir = path.Dir(dir)
		}
		if path.Dir(s.Path) == "." && !checked["."] {
			checked["."] = true
			if err := t.root.Writable(""); err != nil {
				return err
			}
		}
	}
	return nil
}
