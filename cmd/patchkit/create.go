package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"strconv"
	"time"

	"github.com/patchkit/patchkit/internal/atomicfile"
	"github.com/patchkit/patchkit/pkg/bundle"
	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
)

type createOptions struct {
	output outputOptions

	bases, targets, components []string
	baseVersions, targetVers   []string
	roots                      []string
	spec                       string

	id, label, activation, notAfter string
	sequence                        int64
	advisories, supersedes          []string
	pinUnchanged, noDelta           bool
	exclude                         []string
	out                             string
}

func (o *createOptions) addFlags(fs *pflag.FlagSet) {
	o.output.addFlags(fs)
	fs.StringArrayVar(&o.bases, "base", nil, "base (old) tree of a component; repeat once per component")
	fs.StringArrayVar(&o.targets, "target", nil, "target (patched) tree of a component; repeat once per component")
	fs.StringArrayVar(&o.components, "component", nil, "component name, e.g. libssl3; repeat once per component")
	fs.StringArrayVar(&o.baseVersions, "base-version", nil, "version of the base the bundle applies to; repeat once per component")
	fs.StringArrayVar(&o.targetVers, "target-version", nil, "version the bundle produces (optional); once per component if given")
	fs.StringArrayVar(&o.roots, "root", nil, "path prefix the component's trees are installed under (optional); once per component if given")
	fs.StringVar(&o.spec, "spec", "", "YAML or JSON spec file describing the bundle and its components")
	fs.StringVar(&o.id, "id", "", "bundle id (default: COMPONENT-SEQUENCE)")
	fs.StringVar(&o.label, "label", "", `human label, e.g. "3.0.22 (a)"`)
	fs.Int64Var(&o.sequence, "sequence", 0, "sequence number for anti-rollback (higher is newer)")
	fs.StringVar(&o.notAfter, "not-after", "", "expiry time, RFC 3339 (e.g. 2027-01-31T00:00:00Z)")
	fs.StringArrayVar(&o.advisories, "cve", nil, "advisory or CVE id fixed by the bundle (repeatable)")
	fs.StringVar(&o.activation, "activation", "", `activation hint, e.g. "restart WebContent"`)
	fs.StringArrayVar(&o.supersedes, "supersedes", nil, "id or digest of a bundle this one supersedes (repeatable)")
	fs.BoolVar(&o.pinUnchanged, "pin-unchanged", false, "also pin the digests of unchanged base files")
	fs.BoolVar(&o.noDelta, "no-delta", false, "store every changed file in full, never as a delta")
	fs.StringArrayVar(&o.exclude, "exclude", nil, "leave out paths matching this pattern (path.Match syntax, relative to the tree; a matching directory excludes its contents), e.g. 'usr/share/doc' (repeatable)")
	fs.StringVarP(&o.out, "output", "o", "", "bundle file to write (required)")
}

func newCreateCmd(_ *globalOptions) *cobra.Command {
	o := &createOptions{}
	cmd := &cobra.Command{
		Use:   "create --base DIR --target DIR --component NAME --base-version V --label L --sequence N -o OUT.pkb",
		Short: "Create a reproducible patch bundle from a base tree and a patched tree",
		Long: `Create compares a base tree and a patched (target) tree and writes a bundle that
turns the one into the other: added, replaced, patched (binary delta), deleted,
mode-changed and symlink-changed paths. Each changed file is stored as a binary
delta against its base file (codec pkdelta1) when that is smaller than the file
compressed in full (codec zstd); inspect shows the choice per file. Regular files,
directories and symlinks are supported; devices, FIFOs and sockets are refused. A
symlink's text is data: absolute and outward links (such as firefox-esr's
defaults/syspref -> /etc/firefox-esr) are kept as they are, an unchanged link is not
bundle content, and a changed one is stored as its signed text (inspect marks links
that leave the root). Paths and labels with control or bidi-override characters are
refused.

Several components go in one bundle by repeating --component, --base, --target
and --base-version (the i-th of each belong together), or with --spec FILE:

  label: "2.50.6 (a)"
  sequence: 2
  components:
    - {name: webkit2gtk, base: old/webkit, target: new/webkit, base_version: 2.50.6-1~deb12u1}
    - {name: jscoregtk,  base: old/jsc,    target: new/jsc,    base_version: 2.50.6-1~deb12u1}

Paths in a spec are relative to the spec file. Flags given with --spec override its
fields. The output is byte-reproducible: member times come from SOURCE_DATE_EPOCH
(or zero). The file is written atomically; on failure nothing is left behind, and -o never
replaces anything but a regular file.`,
		Example: `  patchkit create --base old/ --target new/ --component libssl3 \
    --base-version 3.0.17-1~deb12u2 --label "3.0.22 (a)" --sequence 22 \
    --cve CVE-2025-9230 -o libssl3.pkb`,
		Args: exactArgs(0),
		PreRunE: func(cmd *cobra.Command, args []string) error {
			return o.validate()
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			copts, err := o.options(cmd.Flags())
			if err != nil {
				return err
			}
			return runCreate(cmd.Context(), copts, o, cmd.OutOrStdout(), cmd.ErrOrStderr())
		},
	}
	o.addFlags(cmd.Flags())
	cmd.MarkFlagsMutuallyExclusive("spec", "component")
	cmd.MarkFlagsMutuallyExclusive("spec", "base")
	cmd.MarkFlagsMutuallyExclusive("spec", "target")
	return cmd
}

func (o *createOptions) validate() error {
	if o.out == "" {
		return usagef("missing -o/--output")
	}
	if o.spec != "" {
		return nil
	}
	n := len(o.components)
	if n == 0 {
		return usagef("give --component, --base, --target and --base-version, or --spec")
	}
	for flag, v := range map[string][]string{"--base": o.bases, "--target": o.targets, "--base-version": o.baseVersions} {
		if len(v) != n {
			return usagef("%s given %d times for %d components", flag, len(v), n)
		}
	}
	for flag, v := range map[string][]string{"--target-version": o.targetVers, "--root": o.roots} {
		if len(v) != 0 && len(v) != n {
			return usagef("%s given %d times for %d components", flag, len(v), n)
		}
	}
	return nil
}

// options merges the spec file (bundle.LoadSpec), the flags and the environment.
func (o *createOptions) options(fs *pflag.FlagSet) (*bundle.CreateOptions, error) {
	spec := &bundle.Spec{}
	if o.spec != "" {
		var err error
		if spec, err = bundle.LoadSpec(o.spec); err != nil {
			return nil, err
		}
	}
	for i, name := range o.components {
		c := bundle.SpecComponent{Name: name, Base: o.bases[i], Target: o.targets[i], BaseVersion: o.baseVersions[i]}
		if len(o.targetVers) > 0 {
			c.TargetVersion = o.targetVers[i]
		}
		if len(o.roots) > 0 {
			c.Root = o.roots[i]
		}
		spec.Components = append(spec.Components, c)
	}
	set := func(name string, dst *string, v string) {
		if fs.Changed(name) {
			*dst = v
		}
	}
	set("id", &spec.ID, o.id)
	set("label", &spec.Label, o.label)
	set("not-after", &spec.NotAfter, o.notAfter)
	set("activation", &spec.Activation, o.activation)
	if fs.Changed("sequence") {
		spec.Sequence = o.sequence
	}
	if fs.Changed("cve") {
		spec.Advisories = o.advisories
	}
	if fs.Changed("supersedes") {
		spec.Supersedes = o.supersedes
	}
	spec.Exclude = append(spec.Exclude, o.exclude...)
	if spec.Label == "" {
		return nil, usagef("missing --label")
	}
	c, err := spec.CreateOptions()
	if err != nil {
		return nil, &usageError{err}
	}
	c.PinUnchanged, c.NoDelta = o.pinUnchanged, o.noDelta
	if s := os.Getenv("SOURCE_DATE_EPOCH"); s != "" {
		v, err := strconv.ParseInt(s, 10, 64)
		if err != nil || v < 0 {
			return nil, usagef("SOURCE_DATE_EPOCH=%q: want a non-negative integer", s)
		}
		c.Created = v
	}
	return c, nil
}

func runCreate(ctx context.Context, c *bundle.CreateOptions, o *createOptions, stdout, stderr io.Writer) error {
	if stderrIsTerminal() {
		start := time.Now()
		last := time.Time{}
		c.Progress = func(done, total int64) {
			if now := time.Now(); now.Sub(last) > 200*time.Millisecond || done == total {
				last = now
				fmt.Fprintf(stderr, "\rcreating %s: %s of %s (%s)   ", o.out, formatBytes(done), formatBytes(total), now.Sub(start).Round(100*time.Millisecond))
			}
		}
		defer fmt.Fprintln(stderr)
	}
	f, err := atomicfile.Create(o.out, 0o644)
	if err != nil {
		return err
	}
	defer f.Abort()
	m, err := bundle.Create(ctx, f, c)
	if err != nil {
		return err
	}
	if err := f.Commit(); err != nil {
		return err
	}
	rep, err := inspectFile(o.out)
	if err != nil {
		return fmt.Errorf("re-reading %s: %w", o.out, err)
	}
	if o.output.json {
		return writeJSON(stdout, rep)
	}
	fmt.Fprintf(stderr, "wrote %s: %d paths, %s of payload for %s of changed content, %s\n",
		o.out, len(m.Files), formatBytes(rep.Totals.PayloadSize), formatBytes(rep.Totals.TargetSize), rep.Digest)
	return nil
}
