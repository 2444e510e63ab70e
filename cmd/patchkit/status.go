package main

import (
	"errors"
	"fmt"
	"io"
	"sort"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/patchkit/patchkit/pkg/bundle"
	"github.com/patchkit/patchkit/pkg/verify"

	"github.com/patchkit/patchkit/pkg/install"
	"github.com/spf13/cobra"
)

type statusOptions struct {
	output outputOptions
	target targetOptions
}

// errDrift is returned when the tree no longer matches what is installed.
var errDrift = errors.New("the tree does not match what is installed")

func newStatusCmd(_ *globalOptions) *cobra.Command {
	o := &statusOptions{}
	cmd := &cobra.Command{
		Use:   "status --root DIR [--json]",
		Short: "List the bundles installed in a target tree and check the tree still matches",
		Long: `Status lists every installed bundle (id, label, sequence, components, digest,
install time, recall state), the anti-rollback floors, the newest recall list the
target has seen, and checks every installed path by digest.

Like every command on a target, status first completes or rolls back a transition
an earlier command left unfinished (a crash), and reports what it did.

A tree that no longer holds what a bundle installed is classified: "another-version"
(every file the bundle changed holds other content: a full release was laid over
the tree; "patchkit retire" forgets the bundle if that release carries its fix),
"own-base" (the bundle's base is back: its fix is gone), or "unknown" (local edits),
each with a hint. Symlinks installed or pinned by a bundle that point outside the
root are listed (patchkit never follows them). Bundles retired with "patchkit
retire" are shown as "folded into RELEASE".

Exit status 3 when a path no longer holds what was installed or the state directory
cannot be trusted; 4 when an installed bundle is recalled (by the recall list the
target recorded) or expired (its not_after has passed).`,
		Example: `  patchkit status --root /srv/rootfs
  patchkit status --root / --json`,
		Args:    exactArgs(0),
		PreRunE: func(cmd *cobra.Command, args []string) error { return o.target.validate() },
		RunE:    func(cmd *cobra.Command, args []string) error { return runStatus(cmd, o) },
	}
	o.output.addFlags(cmd.Flags())
	o.target.addFlags(cmd.Flags())
	return cmd
}

type statusBundle struct {
	install.Install
	Recalled     bool   `json:"recalled"`
	RecallReason string `json:"recall_reason,omitempty"`
	Expired      bool   `json:"expired"`
}

type statusReport struct {
	Type         string              `json:"type"`
	Root         string              `json:"root"`
	StateDir     string              `json:"state_dir"`
	Installed    []statusBundle      `json:"installed"`
	Floors       map[string]int64    `json:"floors"`
	Recall       *install.Recall     `json:"recall,omitempty"`
	Retired      []install.Retired   `json:"retired"` // bundles folded into a full release
	TreeOK       bool                `json:"ok"`
	Drift        []install.Drift     `json:"drift"`
	Diagnosis    []install.Diagnosis `json:"diagnosis"`           // per drifted bundle: kind and hint
	OutsideLinks []install.Link      `json:"outside_links"`       // installed symlinks pointing outside the root
	Recovered    *install.Recovery   `json:"recovered,omitempty"` // done by this command
	LastRecovery *install.Recovery   `json:"last_recovery,omitempty"`
}

func runStatus(cmd *cobra.Command, o *statusOptions) error {
	rep := &statusReport{Type: "patchkit.status/v1", Root: o.target.root, Installed: []statusBundle{},
		Floors: map[string]int64{}, Drift: []install.Drift{}, Retired: []install.Retired{}, Diagnosis: []install.Diagnosis{},
		OutsideLinks: []install.Link{}, TreeOK: true}
	now := time.Now()
	t, err := o.target.open(cmd.Context(), cmd.ErrOrStderr(), true)
	switch {
	case errors.Is(err, install.ErrNoState):
	case err != nil:
		return err
	default:
		defer t.Close()
		st := t.State()
		rep.StateDir, rep.Floors, rep.Recall, rep.LastRecovery, rep.Recovered = t.StateDir(), st.Floors, st.Recall, st.LastRecovery, t.Recovered
		for _, in := range st.Installed {
			sb := statusBundle{Install: in}
			if st.Recall != nil {
				sb.RecallReason, sb.Recalled = st.Recall.Entries[in.Digest]
			}
			if na, err := bundle.ParseTime(in.NotAfter); err == nil && now.After(na) {
				sb.Expired = true
			}
			rep.Installed = append(rep.Installed, sb)
		}
		rep.Retired = append(rep.Retired, st.Retired...)
		rep.Drift = append(rep.Drift, t.Check()...)
		rep.Diagnosis = append(rep.Diagnosis, t.Diagnose(rep.Drift)...)
		rep.OutsideLinks = append(rep.OutsideLinks, t.OutsideLinks()...)
		rep.TreeOK = len(rep.Drift) == 0
	}
	if o.output.json {
		if err := writeJSON(cmd.OutOrStdout(), rep); err != nil {
			return err
		}
	} else if err := renderStatus(cmd.OutOrStdout(), rep); err != nil {
		return err
	}
	if !rep.TreeOK {
		hint := "a path was changed after install: restore it, or reinstall the base and apply again"
		if len(rep.Diagnosis) > 0 {
			hint = rep.Diagnosis[0].Hint
		}
		return withHint(errDrift, hint)
	}
	var bad []string
	kind := verify.ErrExpired
	for _, b := range rep.Installed {
		switch {
		case b.Recalled:
			bad, kind = append(bad, fmt.Sprintf("%s is recalled (%s)", b.ID, b.RecallReason)), verify.ErrRecalled
		case b.Expired:
			bad = append(bad, fmt.Sprintf("%s expired at %s", b.ID, b.NotAfter))
		}
	}
	if len(bad) > 0 {
		return withHint(fmt.Errorf("%w: %s", kind, strings.Join(bad, "; ")),
			"run \"patchkit recall apply\" to remove a recalled bundle; apply a newer bundle over an expired one")
	}
	return nil
}

func renderStatus(w io.Writer, rep *statusReport) error {
	pathCount := 0
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	if len(rep.Installed) == 0 {
		fmt.Fprintf(w, "nothing installed in %s\n", rep.Root)
	} else {
		fmt.Fprintln(tw, "ID\tLABEL\tSEQ\tCOMPONENTS\tINSTALLED\tDIGEST\tRECALL")
		for _, b := range rep.Installed {
			var comps []string
			for _, c := range b.Components {
				s := c.Name + " " + c.BaseVersion
				if c.TargetVersion != "" {
					s += "→" + c.TargetVersion
				}
				comps = append(comps, s)
			}
			recall := "-"
			switch {
			case b.Recalled:
				recall = "RECALLED: " + b.RecallReason
			case b.Expired:
				recall = "EXPIRED at " + b.NotAfter
			}
			fmt.Fprintf(tw, "%s\t%s\t%d\t%s\t%s\t%s\t%s\n", b.ID, b.Label, b.Sequence, strings.Join(comps, ", "), b.InstalledAt, shortDigest(b.Digest), recall)
			pathCount += len(b.Paths)
		}
		if err := tw.Flush(); err != nil {
			return err
		}
	}
	for _, r := range rep.Retired {
		fmt.Fprintf(w, "retired: %s (%s, sequence %d) folded into %s at %s\n", r.ID, r.Label, r.Sequence, r.FoldedInto, r.RetiredAt)
	}
	if rep.TreeOK {
		if pathCount > 0 {
			fmt.Fprintf(w, "tree: matches, %d installed paths checked by digest\n", pathCount)
		}
	} else {
		fmt.Fprintf(w, "tree: DOES NOT MATCH at %d path(s)\n", len(rep.Drift))
		for _, d := range rep.Drift {
			fmt.Fprintf(w, "  %s: %s\n", d.Path, d.Error)
		}
		for _, d := range rep.Diagnosis {
			fmt.Fprintf(w, "drift of %s: %s: %s\n", d.ID, d.Kind, d.Hint)
		}
	}
	for _, l := range rep.OutsideLinks {
		fmt.Fprintf(w, "link outside the root: %s -> %s\n", l.Path, l.Link)
	}
	if len(rep.Floors) > 0 {
		names := make([]string, 0, len(rep.Floors))
		for n := range rep.Floors {
			names = append(names, n)
		}
		sort.Strings(names)
		var parts []string
		for _, n := range names {
			parts = append(parts, fmt.Sprintf("%s>=%d", n, rep.Floors[n]))
		}
		fmt.Fprintf(w, "sequence floors: %s\n", strings.Join(parts, " "))
	}
	if r := rep.Recall; r != nil {
		fmt.Fprintf(w, "recall list: sequence %d, issued %s, %d bundle(s)\n", r.Sequence, r.Issued, len(r.Entries))
	}
	if r := rep.Recovered; r != nil {
		fmt.Fprintf(w, "recovered now: interrupted %s %s %s\n", r.Op, r.Tx, r.Action)
	} else if r := rep.LastRecovery; r != nil {
		fmt.Fprintf(w, "last recovery: %s, interrupted %s %s %s\n", r.At, r.Op, r.Tx, r.Action)
	}
	return nil
}

func shortDigest(d string) string {
	if len(d) > len("sha256:")+12 {
		return d[:len("sha256:")+12]
	}
	return d
}
