package main

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/patchkit/patchkit/pkg/channel"
	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
)

// registryOptions say how to reach the registry of a channel.
type registryOptions struct {
	plainHTTP bool
	timeout   time.Duration
}

func (o *registryOptions) addFlags(fs *pflag.FlagSet) {
	fs.BoolVar(&o.plainHTTP, "plain-http", false, "talk to the registry over http:// (a loopback or test registry only)")
	fs.DurationVar(&o.timeout, "registry-timeout", 30*time.Second, "how long to wait for each registry response")
}

// open parses and opens a channel reference.
func (o *registryOptions) open(ctx context.Context, ref string) (*channel.Repo, error) {
	r, err := channel.ParseRef(ref)
	if err != nil {
		return nil, usagef("%v", err)
	}
	return channel.Open(ctx, r, &channel.Options{PlainHTTP: o.plainHTTP, Timeout: o.timeout})
}

type publishOptions struct {
	output      outputOptions
	trust       trustOptions
	registry    registryOptions
	signingKeys []string
	recall      string
	fold        string
	releaseTree string
	ttl         time.Duration
}

func newPublishCmd(_ *globalOptions) *cobra.Command {
	o := &publishOptions{}
	cmd := &cobra.Command{
		Use:   "publish CHANNEL [BUNDLE...] --signing-key KEY... (--key PUB ... | --policy FILE) [--recall LIST] [--fold COMPONENT=VERSION --release-tree DIR]",
		Short: "Push bundles, a recall list or a fold to an OCI registry channel and sign its new index",
		Long: `Publish changes a channel: an OCI repository and tag (HOST/REPO:CHANNEL), or an
OCI image layout directory (oci:DIR:CHANNEL), the offline mirror. In order:

  1. load the channel index in force and verify it against the trust flags (the
     first publish of a channel starts an empty index);
  2. verify each BUNDLE against the trust flags (signatures, policy, payloads) and
     push it: the .pkb blob, then an OCI manifest of artifact type
     application/vnd.patchkit.bundle.v1 annotated with component, base version,
     label and sequence, tagged pkb-<digest prefix>; it becomes the current bundle
     for its component's base version;
  3. --recall LIST: verify the signed recall list and push it; the bundles it names
     become recalled and the newest other bundle of each base current again;
  4. --fold COMPONENT=VERSION --release-tree DIR: record that the full release
     VERSION (its tree at DIR) carries the fixes of the component's bundles;
  5. sign the new index (sequence + 1, expiry --ttl from now) with every
     --signing-key, push it, and move the channel tag to it: last, so a reader
     never sees an index naming a blob that is not there.

With no BUNDLE and no --recall or --fold, publish re-signs the index with a new
sequence and expiry: run it from a timer well within --ttl, or machines refuse the
channel as stale. Registry credentials come from PATCHKIT_REGISTRY_USERNAME and
PATCHKIT_REGISTRY_PASSWORD, else from "docker login". See docs/channels.md.`,
		Example: `  patchkit publish registry.example.com/patchkit/libssl3:stable a.pkb --signing-key channel.key --key release.pub
  patchkit publish registry.example.com/patchkit/libssl3:stable b.pkb --recall recall.json --signing-key channel.key --key release.pub
  patchkit publish registry.example.com/patchkit/libssl3:stable --fold libssl3=3.0.22-1~deb12u2 --release-tree 3.0.22/ --signing-key channel.key --key release.pub
  patchkit publish oci:/srv/mirror:stable a.pkb --signing-key channel.key --policy publish-policy.yaml`,
		Args: func(cmd *cobra.Command, args []string) error {
			if len(args) < 1 {
				return usagef("missing CHANNEL")
			}
			return nil
		},
		PreRunE: func(cmd *cobra.Command, args []string) error {
			if len(o.signingKeys) == 0 {
				return usagef("missing --signing-key: the channel index must be signed")
			}
			if (o.fold == "") != (o.releaseTree == "") {
				return usagef("--fold COMPONENT=VERSION and --release-tree DIR go together")
			}
			if o.fold != "" && !strings.Contains(o.fold, "=") {
				return usagef("--fold %q: want COMPONENT=VERSION", o.fold)
			}
			if o.ttl < time.Minute {
				return usagef("--ttl must be at least 1m")
			}
			return o.trust.validate()
		},
		RunE: func(cmd *cobra.Command, args []string) error { return runPublish(cmd, o, args[0], args[1:]) },
	}
	fs := cmd.Flags()
	o.output.addFlags(fs)
	o.trust.addFlags(fs)
	o.registry.addFlags(fs)
	fs.StringArrayVar(&o.signingKeys, "signing-key", nil, "private key file or KMS URI that signs the channel index (repeatable: k-of-n)")
	fs.StringVar(&o.recall, "recall", "", "signed recall list to push and put in force")
	fs.StringVar(&o.fold, "fold", "", "COMPONENT=VERSION: the full release VERSION folds in the component's bundles")
	fs.StringVar(&o.releaseTree, "release-tree", "", "the tree of the full release named by --fold")
	fs.DurationVar(&o.ttl, "ttl", channel.DefaultTTL, "how long the new index stays valid")
	return cmd
}

type publishReport struct {
	Type      string             `json:"type"`
	Channel   string             `json:"channel"`
	Published []channel.Entry    `json:"published"`
	Recall    int64              `json:"recall_sequence,omitempty"`
	Folded    []channel.Entry    `json:"folded,omitempty"`
	Index     *channel.Committed `json:"index"`
}

func runPublish(cmd *cobra.Command, o *publishOptions, ref string, bundles []string) error {
	ctx := cmd.Context()
	p, err := o.trust.policy(cmd.ErrOrStderr())
	if err != nil {
		return err
	}
	signers, err := loadSigners(ctx, o.signingKeys)
	if err != nil {
		return err
	}
	repo, err := o.registry.open(ctx, ref)
	if err != nil {
		return err
	}
	if repo.Ref.Tag == "" {
		return usagef("publish needs a channel tag (REPO:CHANNEL), not a digest")
	}
	pub := &channel.Publisher{Repo: repo, Signers: signers, Trust: p, TTL: o.ttl}
	if _, err := pub.Load(ctx); err != nil {
		return err
	}
	rep := &publishReport{Type: "patchkit.publish/v1", Channel: repo.Ref.String(), Published: []channel.Entry{}}
	stderr := cmd.ErrOrStderr()
	for _, b := range bundles {
		e, err := pub.AddBundle(ctx, b)
		if err != nil {
			return err
		}
		rep.Published = append(rep.Published, *e)
		if !o.output.json {
			fmt.Fprintf(stderr, "pushed %s (%s, sequence %d) for %s %s: %s, %s\n", e.ID, e.Label, e.Sequence, e.Component, e.BaseVersion, e.Blob.Digest, formatBytes(e.Blob.Size))
		}
	}
	if o.recall != "" {
		l, err := pub.AddRecall(ctx, o.recall)
		if err != nil {
			return err
		}
		rep.Recall = l.Sequence
		if !o.output.json {
			fmt.Fprintf(stderr, "pushed recall list %d (%d bundle(s))\n", l.Sequence, len(l.Entries))
		}
	}
	if o.fold != "" {
		comp, ver, _ := strings.Cut(o.fold, "=")
		folded, err := pub.Fold(comp, ver, o.releaseTree)
		if err != nil {
			return err
		}
		rep.Folded = folded
		if !o.output.json {
			for _, e := range folded {
				fmt.Fprintf(stderr, "folded %s (%s) into %s %s\n", e.ID, e.Label, comp, ver)
			}
		}
	}
	c, err := pub.Commit(ctx)
	if err != nil {
		return err
	}
	rep.Index = c
	if o.output.json {
		return writeJSON(cmd.OutOrStdout(), rep)
	}
	fmt.Fprintf(stderr, "published index %d of %s: %d bundle(s), expires %s\n", c.Sequence, repo.Ref, c.Bundles, c.Expires)
	for _, e := range pub.Index().Bundles {
		fold := ""
		if e.FoldedInto != "" {
			fold = ", folded into " + e.FoldedInto
		}
		fmt.Fprintf(cmd.OutOrStdout(), "%s\t%s\t%d\t%s %s\t%s%s\n", e.ID, e.Label, e.Sequence, e.Component, e.BaseVersion, e.Status, fold)
	}
	return nil
}
