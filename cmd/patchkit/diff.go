package main

import (
	"fmt"
	"io"
	"strings"
	"text/tabwriter"

	"github.com/patchkit/patchkit/pkg/bundle"
	"github.com/spf13/cobra"
)

type diffOptions struct {
	output outputOptions
	tree   string
	base   string
}

func newDiffCmd(_ *globalOptions) *cobra.Command {
	o := &diffOptions{}
	cmd := &cobra.Command{
		Use:   "diff A.pkb (B.pkb | --tree DIR | --base DIR) [--json]",
		Short: "Show what changed between two bundles, or between a bundle and a tree",
		Long: `Diff compares two bundles' manifests: the header (id, label, sequence, components,
advisories, expiry, activation, supersedes, signature count) and every path either
touches, added, removed or changed (operation, base, target, codec, payload size).
Release engineers use it to review a reissue (b) against the recalled (a) before
publishing it.

With --tree DIR it compares the target A declares for every path it touches with
the tree at DIR (an install root, or the patched tree the bundle was made from): a
path A produces that DIR lacks is "removed", a path A deletes that DIR still holds
is "added", and a path whose type, mode, size, digest or link differs is "changed".
With --base DIR it compares the base A declares instead, and so names every path
where DIR is not the bundle's base (apply and verify --base stop at the first).

Only the manifests are read and checked, not the signatures (use "patchkit verify")
or the payloads. The exit status is 0 whether or not anything differs; the JSON
report says "same".`,
		Example: `  patchkit diff libssl3-a.pkb libssl3-b.pkb
  patchkit diff libssl3-b.pkb --tree new/ --json
  patchkit diff libssl3-b.pkb --base /srv/rootfs`,
		Args: func(cmd *cobra.Command, args []string) error {
			switch {
			case o.tree != "" && o.base != "":
				return usagef("give --tree DIR or --base DIR, not both")
			case o.tree == "" && o.base == "" && len(args) != 2:
				return usagef("give two bundles, or one bundle and --tree DIR or --base DIR")
			case (o.tree != "" || o.base != "") && len(args) != 1:
				return usagef("--tree and --base compare one bundle with a tree: give exactly one bundle")
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error { return runDiff(cmd, o, args) },
	}
	o.output.addFlags(cmd.Flags())
	cmd.Flags().StringVar(&o.tree, "tree", "", "compare the bundle's declared targets with this tree instead of a second bundle")
	cmd.Flags().StringVar(&o.base, "base", "", "compare the bundle's declared base with this tree: every path where it is not the bundle's base")
	return cmd
}

// diffSide names one side of a diff in the report.
type diffSide struct {
	File       string `json:"file,omitempty"`
	Tree       string `json:"tree,omitempty"`
	Digest     string `json:"digest,omitempty"`
	ID         string `json:"id,omitempty"`
	Label      string `json:"label,omitempty"`
	Sequence   int64  `json:"sequence,omitempty"`
	Signatures int    `json:"signatures,omitempty"`
}

type diffReport struct {
	Type string   `json:"type"`
	A    diffSide `json:"a"`
	B    diffSide `json:"b"`
	Same bool     `json:"same"`
	*bundle.Diff
}

func readSide(path string) (diffSide, *bundle.Manifest, error) {
	f, r, err := openBundle(path)
	if err != nil {
		return diffSide{}, nil, err
	}
	f.Close()
	m := r.Manifest()
	return diffSide{File: path, Digest: r.Digest(), ID: m.ID, Label: m.Label, Sequence: m.Sequence, Signatures: len(r.Signatures())}, m, nil
}

func runDiff(cmd *cobra.Command, o *diffOptions, args []string) error {
	a, ma, err := readSide(args[0])
	if err != nil {
		return err
	}
	rep := &diffReport{Type: "patchkit.diff/v1", A: a}
	if dir := o.tree + o.base; dir != "" {
		rep.B = diffSide{Tree: dir}
		diff := bundle.DiffTree
		if o.base != "" {
			diff = bundle.DiffBase
		}
		if rep.Diff, err = diff(ma, dir); err != nil {
			return fmt.Errorf("comparing %s with %s: %w", args[0], dir, err)
		}
	} else {
		b, mb, err := readSide(args[1])
		if err != nil {
			return err
		}
		rep.B = b
		rep.Diff = bundle.DiffManifests(ma, mb)
		if a.Signatures != b.Signatures {
			rep.Fields = append(rep.Fields, bundle.FieldChange{Field: "signatures", A: fmt.Sprint(a.Signatures), B: fmt.Sprint(b.Signatures)})
		}
	}
	rep.Same = rep.Diff.Same()
	if o.output.json {
		return writeJSON(cmd.OutOrStdout(), rep)
	}
	return rep.render(cmd.OutOrStdout())
}

func (s diffSide) String() string {
	if s.Tree != "" {
		return "tree " + s.Tree
	}
	return fmt.Sprintf("%s: %s %q, sequence %d, %s", s.File, s.ID, s.Label, s.Sequence, shortDigest(s.Digest))
}

func (rep *diffReport) render(w io.Writer) error {
	fmt.Fprintf(w, "a  %s\nb  %s\n", rep.A, rep.B)
	if rep.Same {
		_, err := fmt.Fprintln(w, "\nno differences")
		return err
	}
	if len(rep.Fields) > 0 {
		fmt.Fprintln(w)
		tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
		for _, f := range rep.Fields {
			v := fmt.Sprintf("%s -> %s", orDash(f.A), orDash(f.B))
			if len(f.Added)+len(f.Removed) > 0 {
				var parts []string
				for _, s := range f.Added {
					parts = append(parts, "+"+s)
				}
				for _, s := range f.Removed {
					parts = append(parts, "-"+s)
				}
				v = strings.Join(parts, "  ")
			}
			fmt.Fprintf(tw, "%s\t%s\n", f.Field, v)
		}
		if err := tw.Flush(); err != nil {
			return err
		}
	}
	if len(rep.Paths) == 0 {
		_, err := fmt.Fprintln(w, "\nno path differs")
		return err
	}
	fmt.Fprintln(w)
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "CHANGE\tOP\tCODEC\tSIZE\tPAYLOAD\tDIFFERS\tPATH")
	count := map[string]int{}
	for _, p := range rep.Paths {
		count[p.Change]++
		// A tree has no operation, codec or payload: those columns are the bundle's.
		bundleOnly := p
		if rep.B.Tree != "" {
			bundleOnly.B = nil
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", p.Change,
			sides(bundleOnly, func(s *bundle.PathState) string { return orDash(s.Op) }),
			sides(bundleOnly, func(s *bundle.PathState) string { return orDash(s.Codec) }),
			sides(p, func(s *bundle.PathState) string { return sizeOrDash(s.Size, s.Type != bundle.TypeFile) }),
			sides(bundleOnly, func(s *bundle.PathState) string { return sizeOrDash(s.PayloadSize, s.Codec == "") }),
			orDash(strings.Join(p.Differs, ",")), p.Path)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	_, err := fmt.Fprintf(w, "\n%d paths differ: %d added, %d removed, %d changed\n", len(rep.Paths), count["added"], count["removed"], count["changed"])
	return err
}

// sides renders one column of a path change as "a -> b", or one value when only one
// side has the path or both agree.
func sides(p bundle.PathChange, f func(*bundle.PathState) string) string {
	switch {
	case p.A == nil:
		return f(p.B)
	case p.B == nil:
		return f(p.A)
	}
	a, b := f(p.A), f(p.B)
	if a == b {
		return a
	}
	return a + " -> " + b
}
