package main

import (
	"fmt"
	"os"
	"regexp"
	"strconv"
	"time"

	"github.com/patchkit/patchkit/internal/atomicfile"
	"github.com/patchkit/patchkit/pkg/sign"
	"github.com/patchkit/patchkit/pkg/verify"
	"github.com/spf13/cobra"
)

func newRecallCmd(g *globalOptions) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "recall",
		Short: "Create and check signed recall lists",
		Args:  exactArgs(0),
		RunE:  func(cmd *cobra.Command, args []string) error { return cmd.Help() },
	}
	cmd.AddCommand(newRecallCreateCmd(g), newRecallVerifyCmd(g))
	for _, f := range recallSubcommands {
		cmd.AddCommand(f(g))
	}
	return cmd
}

// recallSubcommands lets other files add "recall" subcommands (such as "recall apply"
// from the install side) from their own init functions.
var recallSubcommands []func(*globalOptions) *cobra.Command

type recallCreateOptions struct {
	output   outputOptions
	digests  []string
	bundles  []string
	reason   string
	sequence int64
	issued   string
	notAfter string
	validFor string
	keys     []string
	out      string
}

var bundleDigestRE = regexp.MustCompile(`^sha256:[0-9a-f]{64}$`)

func newRecallCreateCmd(_ *globalOptions) *cobra.Command {
	o := &recallCreateOptions{}
	cmd := &cobra.Command{
		Use:   "create (--bundle-digest D | --bundle FILE)... --reason TEXT --sequence N --key KEY... -o recall.json",
		Short: "Write a signed recall list naming bundles that must not be installed",
		Long: `Recall create writes a recall list: a canonical JSON document (type
patchkit.recall/v1) naming bundle digests with a reason, a sequence number and an
issue time, signed by each --key as a Sigstore bundle over the document bytes.
A recall list replaces the lists with lower sequence numbers, never the reverse:
give each new list a higher --sequence. The list is complete: include every
bundle that stays recalled. "verify --recall-list" and policy recall_lists honour it.

Every list expires (--not-after, or --valid-for after the issue time, default 90d):
once expired it is refused, so an old list cannot be replayed forever; publish a
fresh list before then. A list needs as many distinct trusted signers as the
bundles it names (the verifier's --threshold or policy threshold, unless the
policy sets recall_threshold): sign it with that many --key.`,
		Example: `  patchkit recall create --bundle libssl3-a.pkb --reason "breaks TLS 1.2 renegotiation" \
      --sequence 2 --key release.key -o recall.json`,
		Args: exactArgs(0),
		PreRunE: func(cmd *cobra.Command, args []string) error {
			switch {
			case len(o.digests)+len(o.bundles) == 0:
				return usagef("name at least one bundle with --bundle-digest or --bundle")
			case o.reason == "":
				return usagef("missing --reason")
			case o.sequence < 1:
				return usagef("missing --sequence N (N >= 1, higher than the list it replaces)")
			case len(o.keys) == 0:
				return usagef("missing --key")
			case o.out == "":
				return usagef("missing -o/--output")
			case o.notAfter != "" && cmd.Flags().Changed("valid-for"):
				return usagef("give --not-after or --valid-for, not both")
			}
			for _, d := range o.digests {
				if !bundleDigestRE.MatchString(d) {
					return usagef("--bundle-digest %q: want sha256:<64 hex digits> (as patchkit inspect prints)", d)
				}
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error { return runRecallCreate(cmd, o) },
	}
	fs := cmd.Flags()
	o.output.addFlags(fs)
	fs.StringArrayVar(&o.digests, "bundle-digest", nil, "digest of a recalled bundle (sha256:...; repeatable)")
	fs.StringArrayVar(&o.bundles, "bundle", nil, "recalled bundle file, to take its digest from (repeatable)")
	fs.StringVar(&o.reason, "reason", "", "why the bundles are recalled")
	fs.Int64Var(&o.sequence, "sequence", 0, "sequence number of this list, higher than the one it replaces")
	fs.StringVar(&o.issued, "issued", "", "issue time (RFC 3339; default $SOURCE_DATE_EPOCH or now)")
	fs.StringVar(&o.notAfter, "not-after", "", "expiry time of the list (RFC 3339)")
	fs.StringVar(&o.validFor, "valid-for", "90d", "expiry as a duration after the issue time (Go duration or days, e.g. 30d)")
	fs.StringArrayVar(&o.keys, "key", nil, "private key file or KMS URI (repeatable)")
	fs.StringVarP(&o.out, "output", "o", "", "recall list file to write")
	return cmd
}

func runRecallCreate(cmd *cobra.Command, o *recallCreateOptions) error {
	ctx := cmd.Context()
	issued := time.Now().UTC()
	if o.issued != "" {
		t, err := time.Parse(time.RFC3339, o.issued)
		if err != nil {
			return usagef("--issued %q: want RFC 3339", o.issued)
		}
		issued = t.UTC()
	} else if s := os.Getenv("SOURCE_DATE_EPOCH"); s != "" {
		n, err := strconv.ParseInt(s, 10, 64)
		if err != nil || n < 0 {
			return usagef("SOURCE_DATE_EPOCH=%q: want a non-negative integer", s)
		}
		issued = time.Unix(n, 0).UTC()
	}
	notAfter := time.Time{}
	if o.notAfter != "" {
		t, err := time.Parse(time.RFC3339, o.notAfter)
		if err != nil {
			return usagef("--not-after %q: want RFC 3339", o.notAfter)
		}
		notAfter = t.UTC()
	} else {
		d, err := verify.ParseDuration(o.validFor)
		if err != nil || d <= 0 {
			return usagef("--valid-for %q: want a positive Go duration or a number of days such as 30d", o.validFor)
		}
		notAfter = issued.Add(d)
	}
	d := &verify.RecallDocument{Sequence: o.sequence, Issued: issued.Format(time.RFC3339), NotAfter: notAfter.Format(time.RFC3339)}
	digests := append([]string(nil), o.digests...)
	for _, path := range o.bundles {
		f, r, err := openBundle(path)
		if err != nil {
			return err
		}
		f.Close()
		digests = append(digests, r.Digest())
	}
	seen := map[string]bool{}
	for _, dg := range digests {
		if !seen[dg] {
			seen[dg] = true
			d.Entries = append(d.Entries, verify.RecallEntry{Digest: dg, Reason: o.reason})
		}
	}
	doc, err := verify.MarshalRecallDocument(d)
	if err != nil {
		return err
	}
	signers, err := loadSigners(ctx, o.keys)
	if err != nil {
		return err
	}
	sigs, err := sign.Signatures(ctx, doc, nil, signers)
	if err != nil {
		return err
	}
	out, err := verify.MarshalSignedRecall(doc, sigs)
	if err != nil {
		return err
	}
	if err := atomicfile.WriteFile(o.out, out, 0o644); err != nil {
		return err
	}
	if o.output.json {
		return writeJSON(cmd.OutOrStdout(), map[string]any{
			"type": "patchkit.recall-create/v1", "output": o.out, "sequence": o.sequence,
			"issued": d.Issued, "not_after": d.NotAfter, "entries": d.Entries, "signatures": len(sigs),
		})
	}
	fmt.Fprintf(cmd.ErrOrStderr(), "wrote %s: recall list %d, %d bundle(s), %d signature(s), valid until %s\n", o.out, o.sequence, len(d.Entries), len(sigs), d.NotAfter)
	return nil
}

type recallVerifyOptions struct {
	output outputOptions
	trust  trustOptions
}

func newRecallVerifyCmd(_ *globalOptions) *cobra.Command {
	o := &recallVerifyOptions{}
	cmd := &cobra.Command{
		Use:     "verify FILE (--key PUB ... | --policy FILE | --certificate-identity ...)",
		Short:   "Check a recall list's signatures and print the bundles it recalls",
		Args:    exactArgs(1),
		PreRunE: func(cmd *cobra.Command, args []string) error { return o.trust.validate() },
		RunE: func(cmd *cobra.Command, args []string) error {
			p, err := o.trust.policy(cmd.ErrOrStderr())
			if err != nil {
				return err
			}
			l, err := verify.LoadRecallList(args[0], p)
			if err != nil {
				return err
			}
			if _, err := verify.InForce([]*verify.RecallList{l}, time.Now()); err != nil {
				return err
			}
			rep := struct {
				Type     string               `json:"type"`
				File     string               `json:"file"`
				Sequence int64                `json:"sequence"`
				Issued   string               `json:"issued"`
				NotAfter string               `json:"not_after"`
				Entries  []verify.RecallEntry `json:"entries"`
				Signers  []verify.Signer      `json:"signers"`
			}{"patchkit.recall-verify/v1", args[0], l.Sequence, l.Issued.UTC().Format(time.RFC3339),
				l.NotAfter.UTC().Format(time.RFC3339), l.SortedEntries(), l.Signers}
			if o.output.json {
				return writeJSON(cmd.OutOrStdout(), rep)
			}
			w := cmd.OutOrStdout()
			fmt.Fprintf(w, "recall list %s: sequence %d, issued %s, valid until %s, %d bundle(s)\n", args[0], l.Sequence, rep.Issued, rep.NotAfter, len(rep.Entries))
			for _, s := range l.Signers {
				fmt.Fprintf(w, "  %s  %s\n", s.Member, signerLine(s))
			}
			for _, e := range rep.Entries {
				fmt.Fprintf(w, "%s  %s\n", e.Digest, e.Reason)
			}
			return nil
		},
	}
	o.output.addFlags(cmd.Flags())
	o.trust.addFlags(cmd.Flags())
	return cmd
}
