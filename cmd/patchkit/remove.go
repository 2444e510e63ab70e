package main

import (
	"errors"
	"fmt"

	"github.com/patchkit/patchkit/pkg/install"

	"github.com/spf13/cobra"
)

type removeOptions struct {
	output outputOptions
	target targetOptions
}

func newRemoveCmd(_ *globalOptions) *cobra.Command {
	o := &removeOptions{}
	cmd := &cobra.Command{
		Use:   "remove --root DIR [BUNDLE]",
		Short: "Remove an installed bundle, restoring the base bit for bit",
		Long: `Remove restores every path the installed bundle changed to its base, from the
content kept at install time, in one journaled transition, and proves every
restored path by digest. BUNDLE is the bundle's digest (or a prefix of at least 8
hex digits) or id, as "patchkit status" lists; it may be left out when one bundle
is installed.

Every restored path gets back its base content, mode, owner and group, bit for bit.
Paths the bundle changed must still hold what it installed: a locally modified
file, or a full release laid over the tree, is refused (exit 3, naming every
drifted path), nothing changes; "patchkit status" says which case it is and
"patchkit retire" forgets a bundle a full release folded in. The sequence floor
stays: a bundle older than the removed one is still refused by apply.`,
		Example: `  patchkit remove --root /srv/rootfs
  patchkit remove --root / libssl3-2`,
		Args: func(cmd *cobra.Command, args []string) error {
			if len(args) > 1 {
				return usagef("accepts at most 1 arg (the bundle), received %d", len(args))
			}
			return nil
		},
		PreRunE: func(cmd *cobra.Command, args []string) error { return o.target.validate() },
		RunE: func(cmd *cobra.Command, args []string) error {
			ref := ""
			if len(args) == 1 {
				ref = args[0]
			}
			return runRemove(cmd, o, ref)
		},
	}
	o.output.addFlags(cmd.Flags())
	o.target.addFlags(cmd.Flags())
	return cmd
}

func runRemove(cmd *cobra.Command, o *removeOptions, ref string) error {
	stderr := cmd.ErrOrStderr()
	t, err := o.target.open(cmd.Context(), stderr, true)
	if err != nil {
		return noState(err, o.target.root)
	}
	defer t.Close()
	res, err := t.Remove(cmd.Context(), ref)
	if err != nil {
		return driftHint(err)
	}
	if o.output.json {
		res.Type = "patchkit.remove/v1"
		return writeJSON(cmd.OutOrStdout(), res)
	}
	fmt.Fprintf(stderr, "removed %s (%s, sequence %d) from %s: %d paths restored, the base proven by digest\n",
		res.ID, res.Label, res.Sequence, o.target.root, res.Changed)
	return nil
}

// driftHint explains what to do about an installed bundle whose paths changed.
func driftHint(err error) error {
	var de *install.DriftError
	if errors.As(err, &de) {
		return withHint(err, fmt.Sprintf("\"patchkit status\" says what the tree holds now; if a full release was laid over it, \"patchkit retire %s --folded-into RELEASE\" forgets the bundle without touching a file", de.Bundle))
	}
	return err
}

// noState turns the missing state directory into "nothing installed".
func noState(err error, root string) error {
	if errors.Is(err, install.ErrNoState) {
		return fmt.Errorf("no bundle is installed in %s (no state directory)", root)
	}
	return err
}
