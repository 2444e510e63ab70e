package main

import (
	"fmt"
	"time"

	"github.com/patchkit/patchkit/pkg/install"
	"github.com/patchkit/patchkit/pkg/verify"
	"github.com/spf13/cobra"
)

type recallApplyOptions struct {
	output outputOptions
	trust  trustOptions
	target targetOptions
}

func newRecallApplyCmd(_ *globalOptions) *cobra.Command {
	o := &recallApplyOptions{}
	cmd := &cobra.Command{
		Use:   "apply LIST --root DIR (--key PUB ... | --policy FILE | --certificate-identity ...)",
		Short: "Record a signed recall list on a target and remove the installed bundles it names",
		Long: `Recall apply verifies the recall list against the trust flags, records it on the
target if it is newer than the list recorded there (a list never replaces a newer
one), and removes every installed bundle the newest list names, restoring its base
bit for bit. Apply refuses recalled bundles from then on.`,
		Example: `  patchkit recall apply recall.json --root /srv/rootfs --policy policy.yaml`,
		Args:    exactArgs(1),
		PreRunE: func(cmd *cobra.Command, args []string) error {
			if err := o.target.validate(); err != nil {
				return err
			}
			return o.trust.validate()
		},
		RunE: func(cmd *cobra.Command, args []string) error { return runRecallApply(cmd, o, args[0]) },
	}
	o.output.addFlags(cmd.Flags())
	o.target.addFlags(cmd.Flags())
	o.trust.addFlags(cmd.Flags())
	return cmd
}

type recallApplyReport struct {
	Type     string            `json:"type"`
	Root     string            `json:"root"`
	Sequence int64             `json:"sequence"` // of the list in force
	Removed  []*install.Result `json:"removed"`
}

func runRecallApply(cmd *cobra.Command, o *recallApplyOptions, file string) error {
	p, err := o.trust.policy(cmd.ErrOrStderr())
	if err != nil {
		return err
	}
	l, err := verify.LoadRecallList(file, p)
	if err != nil {
		return err
	}
	newest, err := verify.InForce(append(p.Recalls, l), time.Now())
	if err != nil {
		return err
	}
	stderr := cmd.ErrOrStderr()
	if msg := verify.Ignored(l, newest); msg != "" {
		fmt.Fprintf(stderr, "patchkit: %s\n", msg)
	}
	t, err := o.target.open(cmd.Context(), stderr, false)
	if err != nil {
		return err
	}
	defer t.Close()
	if err := t.SetRecall(recallOf(newest)); err != nil {
		return err
	}
	rep := &recallApplyReport{Type: "patchkit.recall-apply/v1", Root: o.target.root, Sequence: t.State().Recall.Sequence, Removed: []*install.Result{}}
	if msg := verify.Ignored(newest, &verify.RecallList{Sequence: t.State().Recall.Sequence}); msg != "" {
		fmt.Fprintf(stderr, "patchkit: %s (recorded on the target)\n", msg)
	}
	for _, in := range t.Recalled() {
		res, err := t.Remove(cmd.Context(), in.Digest)
		if err != nil {
			return fmt.Errorf("removing recalled %s: %w", in.ID, err)
		}
		rep.Removed = append(rep.Removed, res)
		if !o.output.json {
			fmt.Fprintf(stderr, "removed recalled %s (%s, sequence %d): %d paths restored, the base proven by digest\n", res.ID, res.Label, res.Sequence, res.Changed)
		}
	}
	if o.output.json {
		return writeJSON(cmd.OutOrStdout(), rep)
	}
	if len(rep.Removed) == 0 {
		fmt.Fprintf(stderr, "recall list %d recorded; no installed bundle is recalled\n", rep.Sequence)
	}
	return nil
}

// "recall apply" is added to the recall command of recall.go through its registry.
func init() { recallSubcommands = append(recallSubcommands, newRecallApplyCmd) }
