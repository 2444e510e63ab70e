package main

import (
	"fmt"

	"github.com/spf13/cobra"
)

type pullOptions struct {
	output   outputOptions
	registry registryOptions
	out      string
}

func newPullCmd(_ *globalOptions) *cobra.Command {
	o := &pullOptions{}
	cmd := &cobra.Command{
		Use:   "pull REF -o FILE",
		Short: "Download a bundle from an OCI registry by digest or tag, checked against its descriptor",
		Long: `Pull fetches the bundle artifact REF (HOST/REPO@sha256:<manifest digest>, or
HOST/REPO:pkb-<digest prefix> as publish tags it, or the same under oci:DIR) and
writes its .pkb blob to FILE, streamed and checked against the size and digest its
manifest names; FILE appears only when it is complete. Pull does not verify the
bundle's signatures: run "patchkit verify" on FILE, or let "patchkit update" do
the whole job.`,
		Example: `  patchkit pull registry.example.com/patchkit/libssl3:pkb-3f1c0a... -o a.pkb
  patchkit verify a.pkb --key release.pub`,
		Args: exactArgs(1),
		PreRunE: func(cmd *cobra.Command, args []string) error {
			if o.out == "" {
				return usagef("missing -o/--output FILE")
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			repo, err := o.registry.open(cmd.Context(), args[0])
			if err != nil {
				return err
			}
			b, err := repo.PullBundle(cmd.Context(), o.out)
			if err != nil {
				return err
			}
			if o.output.json {
				return writeJSON(cmd.OutOrStdout(), map[string]any{"type": "patchkit.pull/v1", "ref": args[0], "output": o.out, "blob": b})
			}
			fmt.Fprintf(cmd.ErrOrStderr(), "wrote %s: %s, %s\n", o.out, b.Digest, formatBytes(b.Size))
			return nil
		},
	}
	o.output.addFlags(cmd.Flags())
	o.registry.addFlags(cmd.Flags())
	cmd.Flags().StringVarP(&o.out, "output", "o", "", "bundle file to write")
	return cmd
}
