package main

import (
	"errors"
	"fmt"
	"io"

	"github.com/patchkit/patchkit/pkg/channel"
	"github.com/spf13/cobra"
)

// errAvailable is the outcome of update --check when something is available (exit 100).
var errAvailable = errors.New("updates are available")

type updateOptions struct {
	output   outputOptions
	trust    trustOptions
	target   targetOptions
	registry registryOptions
	channel  string
	check    bool
	at       string
}

func newUpdateCmd(_ *globalOptions) *cobra.Command {
	o := &updateOptions{}
	cmd := &cobra.Command{
		Use:   "update --root DIR --channel REF (--key PUB ... | --policy FILE | --certificate-identity ...) [--check]",
		Short: "Fetch a channel's signed index and install, supersede, remove or fold what it says for this tree",
		Long: `Update is the machine side of a channel (docs/channels.md). In order:

  1. resolve the channel tag and fetch the index: manifest and blob bounded and
     checked by size and digest; its signatures must meet the trust flags
     (k-of-n, the threshold of the policy);
  2. refuse an index of another channel, an expired index (stale: a replayed or
     frozen channel), and one older than the highest index this machine accepted
     (recorded in STATE_DIR/channels.json: no rollback);
  3. fetch the recall list the index names, verify it, record it on the target;
  4. decide, for each installed bundle: retire it when the index folds it into a
     full release the tree now holds at every path (state dropped, files untouched);
     install the current reissue over it in one transition when it is recalled, or
     remove it when there is none; supersede it when a newer bundle is current for
     its base. For each component with nothing installed: install the current
     bundle of the base version whose identity the tree matches;
  5. unless --check (or auto_install: false in the policy): download each bundle,
     check its size and digest against the index and its manifest digest against
     the entry, then apply it: its own signatures, policy, floors and recall are
     verified again before the tree is touched.

Update is idempotent: run it from a timer (examples/systemd). Registry credentials
come from PATCHKIT_REGISTRY_USERNAME and PATCHKIT_REGISTRY_PASSWORD, else from
"docker login".

Exit status: 0 up to date or updated; 100 --check found changes to make; 3 the
index or a blob is missing, damaged, untrusted or rolled back, or a bundle differs
from the index; 4 the index expired (or a bundle is recalled or expired); 5 the
registry cannot be reached (try later). The tree is untouched on every failure
before step 5.`,
		Example: `  patchkit update --root / --channel registry.example.com/patchkit/libssl3:stable --policy /etc/patchkit/policy.yaml
  patchkit update --root / --channel oci:/media/mirror:stable --key channel.pub --check`,
		Args: exactArgs(0),
		PreRunE: func(cmd *cobra.Command, args []string) error {
			if err := o.target.validate(); err != nil {
				return err
			}
			if o.channel == "" {
				return usagef("missing --channel REF")
			}
			return o.trust.validate()
		},
		RunE: func(cmd *cobra.Command, args []string) error { return runUpdate(cmd, o) },
	}
	fs := cmd.Flags()
	o.output.addFlags(fs)
	o.target.addFlags(fs)
	o.trust.addFlags(fs)
	o.registry.addFlags(fs)
	fs.StringVar(&o.channel, "channel", "", "channel: HOST/REPO:CHANNEL, or oci:DIR:CHANNEL for an OCI layout mirror")
	fs.BoolVar(&o.check, "check", false, "report what is available (exit 100) and change nothing")
	fs.StringVar(&o.at, "at", "", "evaluate expiry at this time (RFC 3339 or @UNIXSECONDS) instead of now")
	return cmd
}

func runUpdate(cmd *cobra.Command, o *updateOptions) error {
	ctx := cmd.Context()
	at, err := parseAt(o.at, cmd.ErrOrStderr())
	if err != nil {
		return err
	}
	p, err := o.trust.policy(cmd.ErrOrStderr())
	if err != nil {
		return err
	}
	check := o.check || (p.AutoInstall != nil && !*p.AutoInstall)
	repo, err := o.registry.open(ctx, o.channel)
	if err != nil {
		return err
	}
	if repo.Ref.Tag == "" {
		return usagef("--channel needs a channel tag (REPO:CHANNEL)")
	}
	stderr := cmd.ErrOrStderr()
	t, err := o.target.open(ctx, stderr, false)
	if err != nil {
		return err
	}
	defer t.Close()
	rep, err := channel.Update(ctx, repo, t, &channel.UpdateOptions{Policy: p, Check: check, At: at, Root: o.target.root})
	if err != nil {
		var ce *channel.Error
		if errors.As(err, &ce) && ce.Kind == channel.KindUnavailable {
			return withHint(err, "the registry is down or unreachable: nothing changed; the timer will try again")
		}
		if errors.As(err, &ce) && ce.Kind == channel.KindDenied {
			return withHint(err, "check PATCHKIT_REGISTRY_USERNAME and PATCHKIT_REGISTRY_PASSWORD, or \"docker login\"")
		}
		return err
	}
	if o.output.json {
		if err := writeJSON(cmd.OutOrStdout(), rep); err != nil {
			return err
		}
	} else {
		renderUpdate(cmd.OutOrStdout(), stderr, rep)
	}
	if rep.Check && len(rep.Actions) > 0 {
		return errAvailable
	}
	return nil
}

func renderUpdate(out, stderr io.Writer, rep *channel.Report) {
	fmt.Fprintf(stderr, "channel %s: index %d, expires %s\n", rep.Channel, rep.Sequence, rep.Expires)
	for _, p := range rep.Pending {
		fmt.Fprintf(stderr, "pending: %s\n", p)
	}
	if len(rep.Actions) == 0 {
		fmt.Fprintln(out, "up to date")
		return
	}
	for _, a := range rep.Actions {
		what := ""
		switch {
		case a.Bundle != nil && a.Installed != nil && a.Op == "supersede":
			what = fmt.Sprintf("%s (%s, sequence %d) over %s (%s)", a.Bundle.ID, a.Bundle.Label, a.Bundle.Sequence, a.Installed.ID, a.Installed.Label)
		case a.Op == "retire":
			what = fmt.Sprintf("%s (%s) folded into %s", a.Installed.ID, a.Installed.Label, a.Bundle.FoldedInto)
		case a.Bundle != nil:
			what = fmt.Sprintf("%s (%s, sequence %d)", a.Bundle.ID, a.Bundle.Label, a.Bundle.Sequence)
		default:
			what = fmt.Sprintf("%s (%s)", a.Installed.ID, a.Installed.Label)
		}
		if rep.Check {
			fmt.Fprintf(out, "available: %s %s: %s\n", a.Op, what, a.Reason)
			continue
		}
		changed := 0
		if a.Result != nil {
			changed = a.Result.Changed
		}
		fmt.Fprintf(out, "%s: %s: %s; %d paths switched\n", doneVerb(a.Op), what, a.Reason, changed)
	}
}

func doneVerb(op string) string {
	switch op {
	case "install":
		return "installed"
	case "supersede":
		return "superseded"
	case "remove":
		return "removed"
	case "retire":
		return "retired"
	}
	return op
}
