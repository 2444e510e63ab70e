package main

import (
	"fmt"

	"github.com/patchkit/patchkit/pkg/channel"
	"github.com/spf13/cobra"
)

type pullOptions struct {
	output   outputOptions
	registry registryOptions
	trust    trustOptions
	out      string
	mirror   string
}

func newPullCmd(_ *globalOptions) *cobra.Command {
	o := &pullOptions{}
	cmd := &cobra.Command{
		Use:   "pull REF (-o FILE | --mirror oci:DIR:CHANNEL (--key PUB ... | --policy FILE))",
		Short: "Download a bundle from an OCI registry, or mirror a whole channel to an OCI layout",
		Long: `Pull -o fetches the bundle artifact REF (HOST/REPO@sha256:<manifest digest>, or
HOST/REPO:pkb-<digest prefix> as publish tags it, or the same under oci:DIR) and
writes its .pkb blob to FILE, streamed and checked against the size and digest its
manifest names; FILE appears only when it is complete. It does not verify the
bundle's signatures: run "patchkit verify" on FILE, or let "patchkit update" do it.

Pull --mirror copies the channel REF (HOST/REPO:CHANNEL) to an OCI image layout
directory, the offline mirror machines can update from (--channel oci:DIR:CHANNEL):
the index is verified against the trust flags first, then every bundle it names
and its recall list are copied, the index last.`,
		Example: `  patchkit pull registry.example.com/patchkit/libssl3:pkb-3f1c0a... -o a.pkb
  patchkit pull registry.example.com/patchkit/libssl3:stable --mirror oci:/media/usb/libssl3:stable --key channel.pub`,
		Args: exactArgs(1),
		PreRunE: func(cmd *cobra.Command, args []string) error {
			switch {
			case (o.out == "") == (o.mirror == ""):
				return usagef("give -o FILE (one bundle) or --mirror oci:DIR:CHANNEL (the channel)")
			case o.mirror != "":
				return o.trust.validate()
			case o.trust.given():
				return usagef("the trust flags go with --mirror; verify a pulled bundle with \"patchkit verify\"")
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			repo, err := o.registry.open(ctx, args[0])
			if err != nil {
				return err
			}
			if o.mirror != "" {
				p, err := o.trust.policy(cmd.ErrOrStderr())
				if err != nil {
					return err
				}
				dst, err := o.registry.open(ctx, o.mirror)
				if err != nil {
					return err
				}
				m, err := channel.Mirror(ctx, repo, dst, p)
				if err != nil {
					return err
				}
				if o.output.json {
					return writeJSON(cmd.OutOrStdout(), map[string]any{"type": "patchkit.pull/v1", "ref": args[0], "mirror": o.mirror, "index_sequence": m.Sequence, "bundles": m.Bundles, "recall": m.Recall})
				}
				fmt.Fprintf(cmd.ErrOrStderr(), "mirrored index %d of %s to %s: %d bundle(s)\n", m.Sequence, args[0], o.mirror, m.Bundles)
				return nil
			}
			pl, err := repo.PullBundle(ctx, o.out)
			if err != nil {
				return err
			}
			for _, seq := range pl.Recalls {
				fmt.Fprintf(cmd.ErrOrStderr(), "patchkit: warning: the registry lists recall list %s as a referrer of this bundle: check it with \"patchkit verify --recall-list\"\n", seq)
			}
			if o.output.json {
				return writeJSON(cmd.OutOrStdout(), map[string]any{"type": "patchkit.pull/v1", "ref": args[0], "output": o.out, "blob": pl.Blob, "recall_referrers": pl.Recalls})
			}
			fmt.Fprintf(cmd.ErrOrStderr(), "wrote %s: %s, %s\n", o.out, pl.Blob.Digest, formatBytes(pl.Blob.Size))
			return nil
		},
	}
	fs := cmd.Flags()
	o.output.addFlags(fs)
	o.registry.addFlags(fs)
	o.trust.addFlags(fs)
	fs.StringVarP(&o.out, "output", "o", "", "bundle file to write")
	fs.StringVar(&o.mirror, "mirror", "", "copy the channel to this OCI layout (oci:DIR:CHANNEL)")
	return cmd
}
