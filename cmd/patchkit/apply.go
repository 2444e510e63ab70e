package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/patchkit/patchkit/pkg/bundle"
	"github.com/patchkit/patchkit/pkg/install"
	"github.com/patchkit/patchkit/pkg/verify"
	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
)

// targetOptions name the tree apply, remove, status and recall apply work on.
type targetOptions struct {
	root        string
	stateDir    string
	lockTimeout time.Duration
}

func (o *targetOptions) addFlags(fs *pflag.FlagSet) {
	fs.StringVar(&o.root, "root", "", "target tree the bundle is installed in (required)")
	fs.StringVar(&o.stateDir, "state-dir", "", "install state directory (default ROOT/.patchkit; must be on ROOT's filesystem)")
	fs.DurationVar(&o.lockTimeout, "lock-timeout", 10*time.Second, "how long to wait while another patchkit operation holds the target's lock")
}

func (o *targetOptions) validate() error {
	if o.root == "" {
		return usagef("missing --root DIR")
	}
	return nil
}

// open opens and locks the target, reporting any recovery on stderr.
func (o *targetOptions) open(ctx context.Context, stderr io.Writer, noCreate bool) (*install.Target, error) {
	t, err := install.Open(ctx, o.root, &install.Options{StateDir: o.stateDir, LockTimeout: o.lockTimeout, NoCreate: noCreate})
	if err != nil {
		if errors.Is(err, install.ErrLocked) {
			return nil, withHint(err, "wait for the other operation, or raise --lock-timeout")
		}
		return nil, err
	}
	if r := t.Recovered; r != nil {
		fmt.Fprintf(stderr, "patchkit: recovered an interrupted %s (%s): %s\n", r.Op, r.Tx, r.Action)
	}
	return t, nil
}

type applyOptions struct {
	output       outputOptions
	trust        trustOptions
	target       targetOptions
	at           string
	insecureSkip bool
}

func newApplyCmd(_ *globalOptions) *cobra.Command {
	o := &applyOptions{}
	cmd := &cobra.Command{
		Use:   "apply FILE --root DIR (--key PUB ... | --policy FILE | --certificate-identity ...)",
		Short: "Verify a bundle and install it in a target tree, atomically",
		Long: `Apply installs a bundle in the tree at --root, in this order:

  1. verify the manifest: signatures against the trust flags (the same as
     "patchkit verify"), policy, expiry, recall (the newest of --recall-list, the
     policy's lists and the list the target has seen), and the sequence floor the
     target records for each component (anti-rollback);
  2. check every path the bundle touches in the tree: type, mode, symlink text,
     size and SHA-256; a parent that is a symlink is refused;
  3. decode every new file into ROOT/.patchkit/staging and check its digest, and
     keep every file it replaces in ROOT/.patchkit/objects (for remove);
  4. write a journal, switch with renames, prove every path by digest, commit.

Nothing in the tree changes before steps 1 and 2 pass. A crash at any point is
repaired by the next patchkit command on the tree (apply, remove, status): it
completes or rolls back the interrupted transition, so the tree is exactly the
old state or the new one. Applying a bundle for a component that has a bundle
installed supersedes it in one transition (both must have the same base).

There is no default trust: give --key, a keyless identity, or --policy. The
--insecure-skip-verify flag installs without checking signatures (tests only).

Exit status 3: verification failed, the tree is not the bundle's base, or a path
is unsafe; 4: the bundle is recalled or expired.`,
		Example: `  patchkit apply libssl3-3.0.22.pkb --root / --policy /etc/patchkit/policy.yaml
  patchkit apply libssl3-3.0.22.pkb --root /srv/rootfs --key release.pub --json`,
		Args: exactArgs(1),
		PreRunE: func(cmd *cobra.Command, args []string) error {
			if err := o.target.validate(); err != nil {
				return err
			}
			if o.insecureSkip {
				if o.trust.given() {
					return usagef("--insecure-skip-verify cannot be combined with a trust source")
				}
				return nil
			}
			return o.trust.validate()
		},
		RunE: func(cmd *cobra.Command, args []string) error { return runApply(cmd, o, args[0]) },
	}
	fs := cmd.Flags()
	o.output.addFlags(fs)
	o.target.addFlags(fs)
	o.trust.addFlags(fs)
	fs.StringVar(&o.at, "at", "", "evaluate expiry at this time (RFC 3339 or @UNIXSECONDS) instead of now")
	fs.BoolVar(&o.insecureSkip, "insecure-skip-verify", false, "INSECURE: install without checking signatures or policy (sequence floors and recorded recalls still apply)")
	return cmd
}

// recallOf converts a verified recall list for the install state.
func recallOf(l *verify.RecallList) *install.Recall {
	if l == nil {
		return nil
	}
	return &install.Recall{Sequence: l.Sequence, Digest: l.Digest, Issued: l.Issued.UTC().Format(time.RFC3339), Entries: l.Entries}
}

// recallList converts a recorded recall list back; it was verified when recorded.
func recallList(r *install.Recall) *verify.RecallList {
	if r == nil {
		return nil
	}
	return &verify.RecallList{Sequence: r.Sequence, Digest: r.Digest, Entries: r.Entries}
}

func runApply(cmd *cobra.Command, o *applyOptions, file string) error {
	ctx := cmd.Context()
	stderr := cmd.ErrOrStderr()
	at, err := parseAt(o.at, cmd.ErrOrStderr())
	if err != nil {
		return err
	}
	var p *verify.Policy
	if !o.insecureSkip {
		if p, err = o.trust.policy(cmd.ErrOrStderr()); err != nil {
			return err
		}
	}
	f, r, err := openBundle(file)
	if err != nil {
		return err
	}
	defer f.Close()
	t, err := o.target.open(ctx, stderr, false)
	if err != nil {
		return err
	}
	defer t.Close()
	if p != nil {
		newest, err := verify.Newest(p.Recalls)
		if err != nil {
			return err
		}
		if err := t.SetRecall(recallOf(newest)); err != nil {
			return err
		}
	}
	check := func(ctx context.Context, manifest []byte, sigs []bundle.Signature, floors map[string]int64, rc *install.Recall) error {
		var recalls []*verify.RecallList
		if l := recallList(rc); l != nil {
			recalls = append(recalls, l)
		}
		if p == nil {
			return skipVerify(stderr, manifest, floors, rc)
		}
		_, err := verify.Manifest(ctx, manifest, sigs, p, &verify.Options{At: at, Floors: floors, Recalls: recalls})
		return err
	}
	res, err := t.Apply(ctx, r, check)
	if err != nil {
		var ve *verify.Error
		if errors.As(err, &ve) && ve.Check == verify.CheckSignatures {
			return withHint(err, "check the trusted keys or identities, and --threshold")
		}
		return err
	}
	if o.output.json {
		return writeJSON(cmd.OutOrStdout(), res)
	}
	switch res.Op {
	case "none":
		fmt.Fprintf(stderr, "%s (%s) is already installed in %s: nothing to do\n", res.ID, res.Label, o.target.root)
	case "supersede":
		fmt.Fprintf(stderr, "installed %s (%s, sequence %d), superseding %s (%s): %d paths switched, %d proven by digest\n",
			res.ID, res.Label, res.Sequence, res.Superseded.ID, res.Superseded.Label, res.Changed, res.Proven)
	default:
		fmt.Fprintf(stderr, "installed %s (%s, sequence %d) in %s: %d paths switched, %d proven by digest\n",
			res.ID, res.Label, res.Sequence, o.target.root, res.Changed, res.Proven)
	}
	if a := r.Manifest().Activation; a != "" && res.Op != "none" {
		fmt.Fprintf(stderr, "activation: %s\n", a)
	}
	return nil
}

// skipVerify is the verification of --insecure-skip-verify: no signatures, but the
// target's floors and recorded recall list still hold.
func skipVerify(stderr io.Writer, manifest []byte, floors map[string]int64, rc *install.Recall) error {
	fmt.Fprintln(stderr, "patchkit: WARNING: --insecure-skip-verify: installing WITHOUT checking signatures or policy")
	m, err := bundle.ParseManifest(manifest)
	if err != nil {
		return err
	}
	for _, c := range m.Components {
		if f, ok := floors[c.Name]; ok && m.Sequence < f {
			return &verify.Error{Check: verify.CheckSequence, Err: fmt.Errorf("component %s: sequence %d is below the floor %d recorded by the target", c.Name, m.Sequence, f)}
		}
	}
	if rc != nil {
		if reason, ok := rc.Entries[bundle.Digest(manifest)]; ok {
			return &verify.Error{Check: verify.CheckRecall, Err: fmt.Errorf("%w: %s is recalled by recall list %d: %s", verify.ErrRecalled, m.ID, rc.Sequence, reason)}
		}
	}
	return nil
}

func init() {
	extraCommands = append(extraCommands, newApplyCmd, newRemoveCmd, newStatusCmd, newRetireCmd)
	exitCodeHooks = append(exitCodeHooks, func(err error) (int, bool) {
		var pe *install.PathError
		if errors.As(err, &pe) || errors.Is(err, errDrift) {
			return exitVerify, true
		}
		return 0, false
	})
}
