package main

import (
	"errors"
	"fmt"
	"io"
	"sort"
	"strings"
	"text/tabwriter"

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

Exit status 3 when a path no longer holds what was installed.`,
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
}

type statusReport struct {
	Type         string            `json:"type"`
	Root         string            `json:"root"`
	StateDir     string            `json:"state_dir"`
	Installed    []statusBundle    `json:"installed"`
	Floors       map[string]int64  `json:"floors"`
	Recall       *install.Recall   `json:"recall,omitempty"`
	Retired      []install.Retired `json:"retired"` // bundles folded into a full release
	TreeOK       bool              `json:"tree_ok"`
	Drift        []install.Drift   `json:"drift"`
	Recovered    *install.Recovery `json:"recovered,omitempty"` // done by this command
	LastRecovery *install.Recovery `json:"last_recovery,omitempty"`
}

func runStatus(cmd *cobra.Command, o *statusOptions) error {
	rep := &statusReport{Type: "patchkit.status/v1", Root: o.target.root, Installed: []statusBundle{},
		Floors: map[string]int64{}, Drift: []install.Drift{}, Retired: []install.Retired{}, TreeOK: true}
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
			rep.Installed = append(rep.Installed, sb)
		}
		rep.Retired = append(rep.Retired, st.Retired...)
		rep.Drift = append(rep.Drift, t.Check()...)
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
		return withHint(errDrift, "a path was changed after install: restore it, or reinstall the base and apply again")
	}
	for _, b := range rep.Installed {
		if b.Recalled {
			fmt.Fprintf(cmd.ErrOrStderr(), "patchkit: warning: %s is recalled (%s): run \"patchkit recall apply\" to remove it\n", b.ID, b.RecallReason)
		}
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
			if b.Recalled {
				recall = "RECALLED: " + b.RecallReason
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
