package main

import (
	"fmt"

	"github.com/spf13/cobra"
)

type retireOptions struct {
	output     outputOptions
	target     targetOptions
	foldedInto string
}

func newRetireCmd(_ *globalOptions) *cobra.Command {
	o := &retireOptions{}
	cmd := &cobra.Command{
		Use:   "retire --root DIR BUNDLE --folded-into RELEASE",
		Short: "Forget an installed bundle whose fix a full release folded in, touching no file",
		Long: `Retire drops the installed state of BUNDLE (its digest, a prefix of at least 8
hex digits, or its id, as "patchkit status" lists) without touching any file of
the tree, and records that RELEASE (for example "3.0.22-1~deb12u2") folded it in;
"patchkit status" shows it as "folded into RELEASE".

Use it when a package manager or an image update laid a full release over the
tree: the bundle's paths now hold that release, so "patchkit remove" would refuse
(it never restores a base over files it did not install). The sequence floors stay.`,
		Example: `  patchkit retire --root / libssl3-1 --folded-into 3.0.22-1~deb12u2`,
		Args:    exactArgs(1),
		PreRunE: func(cmd *cobra.Command, args []string) error {
			if err := o.target.validate(); err != nil {
				return err
			}
			if o.foldedInto == "" {
				return usagef("missing --folded-into RELEASE")
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error { return runRetire(cmd, o, args[0]) },
	}
	o.output.addFlags(cmd.Flags())
	o.target.addFlags(cmd.Flags())
	cmd.Flags().StringVar(&o.foldedInto, "folded-into", "", "the full release that carries the bundle's fix (required)")
	return cmd
}

func runRetire(cmd *cobra.Command, o *retireOptions, ref string) error {
	stderr := cmd.ErrOrStderr()
	t, err := o.target.open(cmd.Context(), stderr, true)
	if err != nil {
		return noState(err, o.target.root)
	}
	defer t.Close()
	res, err := t.Retire(cmd.Context(), ref, o.foldedInto)
	if err != nil {
		return err
	}
	if o.output.json {
		res.Type = "patchkit.retire/v1"
		return writeJSON(cmd.OutOrStdout(), res)
	}
	fmt.Fprintf(stderr, "retired %s (%s, sequence %d) in %s: folded into %s; no file was touched\n",
		res.ID, res.Label, res.Sequence, o.target.root, res.FoldedInto)
	return nil
}
