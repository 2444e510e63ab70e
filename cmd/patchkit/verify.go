package main

import (
	"errors"
	"fmt"
	"io"
	"text/tabwriter"

	"github.com/patchkit/patchkit/pkg/verify"
	"github.com/spf13/cobra"
)

type verifyOptions struct {
	output outputOptions
	trust  trustOptions
	at     string
	base   string
}

func (o *verifyOptions) addFlags(cmd *cobra.Command) {
	fs := cmd.Flags()
	o.output.addFlags(fs)
	o.trust.addFlags(fs)
	fs.StringVar(&o.at, "at", "", "override the clock: judge expiry, max age and recall lists at this time (RFC 3339 or @<decimal seconds>; warns)")
	fs.StringVar(&o.base, "base", "", "also check that the bundle applies to this tree and yields exactly the declared target digests")
}

func newVerifyCmd(_ *globalOptions) *cobra.Command {
	o := &verifyOptions{}
	cmd := &cobra.Command{
		Use:   "verify FILE (--key PUB ... [--threshold K] | --certificate-identity ... | --policy FILE) [--base DIR]",
		Short: "Check a bundle's signatures against a trust source, then every payload",
		Long: `Verify reads the bundle in one streaming pass. It first checks what the manifest
and its signatures say, before any payload byte is decompressed:

  signatures    at least --threshold distinct trusted signers (a key or identity
                counts once however many signatures it made)
  components    the policy allows every component (policy only)
  base_version  the policy allows each component's base version (policy only)
  sequence      the sequence is not below the policy's floor (anti-rollback)
  recall        the newest recall list given does not name the bundle digest
  expiry        not_after has not passed (at --at, default now)
  max_age       the manifest is not older than the policy allows

then every payload's size and digest, and with --base DIR that every base path
matches DIR and every payload decodes against it to the declared target digest.

There is no default trust: give --key, a keyless identity, or --policy.

Exit status 3 names the failed check; 4 means recalled or expired.`,
		Example: `  patchkit verify libssl3.pkb --key release1.pub --key release2.pub --threshold 2
  patchkit verify libssl3.pkb --policy release-policy.yaml --base /srv/base --json
  patchkit verify x.pkb --certificate-identity rel@example.com \
      --certificate-oidc-issuer https://accounts.google.com --trusted-root trusted_root.json`,
		Args:    exactArgs(1),
		PreRunE: func(cmd *cobra.Command, args []string) error { return o.trust.validate() },
		RunE: func(cmd *cobra.Command, args []string) error {
			return runVerify(cmd, o, args[0])
		},
	}
	o.addFlags(cmd)
	return cmd
}

func runVerify(cmd *cobra.Command, o *verifyOptions, path string) error {
	at, err := parseAt(o.at, cmd.ErrOrStderr())
	if err != nil {
		return err
	}
	p, err := o.trust.policy(cmd.ErrOrStderr())
	if err != nil {
		return err
	}
	f, r, err := openBundle(path)
	if err != nil {
		return err
	}
	defer f.Close()
	rep, verr := verify.Bundle(cmd.Context(), r, p, &verify.Options{At: at, BaseDir: o.base})
	if rep == nil {
		return verr
	}
	rep.File = path
	if o.output.json {
		if err := writeJSON(cmd.OutOrStdout(), rep); err != nil {
			return err
		}
	} else if err := renderVerify(cmd.OutOrStdout(), rep); err != nil {
		return err
	}
	var ve *verify.Error
	if errors.As(verr, &ve) && ve.Check == verify.CheckSignatures {
		return withHint(verr, "check the trusted keys or identities, and --threshold")
	}
	return verr
}

func renderVerify(w io.Writer, rep *verify.Report) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	status := "OK"
	if !rep.OK {
		status = "FAILED"
	}
	fmt.Fprintf(tw, "bundle\t%s: %s\n", rep.File, status)
	fmt.Fprintf(tw, "digest\t%s\n", rep.Digest)
	if rep.ID != "" {
		fmt.Fprintf(tw, "id\t%s\n", rep.ID)
		fmt.Fprintf(tw, "label\t%s\n", rep.Label)
		fmt.Fprintf(tw, "sequence\t%d\n", rep.Sequence)
	}
	fmt.Fprintf(tw, "signers\t%d distinct trusted, %d needed\n", rep.Trusted, rep.Threshold)
	for _, s := range rep.Signers {
		fmt.Fprintf(tw, "  %s\t%s\n", s.Member, signerLine(s))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	tw = tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	for _, c := range rep.Checks {
		mark := "ok"
		if !c.OK {
			mark = "FAIL"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\n", mark, c.Name, c.Detail)
	}
	return tw.Flush()
}

func signerLine(s verify.Signer) string {
	var who string
	switch s.Kind {
	case "key":
		who = "key"
		if s.Key != "" {
			who += " " + s.Key
			if s.KeyName != "" {
				who += " (" + s.KeyName + ")"
			}
		}
	case "keyless":
		who = "keyless " + s.Identity
		if s.Issuer != "" {
			who += " (" + s.Issuer + ")"
		}
		if s.SignedAt != "" {
			who += " at " + s.SignedAt
		}
	default:
		who = "unreadable"
	}
	switch {
	case s.Duplicate:
		return who + ": trusted, same signer again (counts once)"
	case s.Trusted:
		return who + ": trusted"
	}
	return who + ": NOT TRUSTED: " + s.Error
}
