package main

import (
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"

	"github.com/patchkit/patchkit/pkg/bundle"
	"github.com/patchkit/patchkit/pkg/verify"
	"github.com/spf13/cobra"
)

type extractOptions struct {
	output   outputOptions
	trust    trustOptions
	at       string
	manifest bool
	base     string
	out      string
	maxSize  string
}

func (o *extractOptions) addFlags(cmd *cobra.Command) {
	fs := cmd.Flags()
	o.output.addFlags(fs)
	fs.BoolVar(&o.manifest, "manifest", false, "write the exact manifest bytes (what signatures cover) to stdout")
	fs.StringVar(&o.base, "base", "", "base tree the bundle applies to (needed for delta payloads; checked by digest)")
	fs.StringVarP(&o.out, "output", "o", "", "directory to create with the target state of every touched path")
	o.trust.addFlags(fs)
	fs.StringVar(&o.at, "at", "", "with a trust source, override the clock: judge expiry at this time (RFC 3339 or @<decimal seconds>; warns)")
	fs.StringVar(&o.maxSize, "max-size", "", fmt.Sprintf("without a trust source: the most output the manifest may declare, e.g. 2GiB (default %d x the bundle size + 2 x its base files)", bundle.ExtractLimitFactor))
	cmd.MarkFlagsOneRequired("manifest", "output")
	cmd.MarkFlagsMutuallyExclusive("manifest", "output")
	cmd.MarkFlagsMutuallyExclusive("manifest", "base")
}

func newExtractCmd(_ *globalOptions) *cobra.Command {
	o := &extractOptions{}
	cmd := &cobra.Command{
		Use:   "extract FILE (--manifest | [--base DIR] -o DIR)",
		Short: "Write a bundle's manifest, or materialize its target files",
		Long: `Extract --manifest writes the manifest exactly as stored in the bundle: these are
the bytes every signature covers, so "cosign verify-blob" can check them.

Extract -o DIR creates DIR with the target state of every path the bundle touches
(files, directories, symlinks, with their modes). With --base, every base file the
bundle names is checked by digest first, and delta payloads are applied to it.
Every payload and every produced file is checked against the manifest; on any error
DIR is not created.

Given a trust source (the flags of "patchkit verify": --key, --policy, or a keyless
identity), extract verifies the signatures and the policy before it decodes a single
payload. Without one it warns that the output is unauthenticated: use it to look, not
to install ("patchkit apply" always verifies). An unauthenticated manifest may lie, so
its declared output is bounded by --max-size (default 32 x the bundle file plus twice
the base files it reads), and each payload is checked by digest before a byte of it is
decoded: a damaged payload stops the extract before its output is written.

No link is ever followed: DIR is filled through an openat-style root, files are
created O_EXCL|O_NOFOLLOW, base files are opened O_NOFOLLOW, and DIR appears by a
rename that never replaces anything. Links pointing outside the tree are written as
the link text they are.`,
		Example: `  patchkit extract libssl3.pkb --manifest > manifest.json
  patchkit extract libssl3.pkb --base old/ -o out/`,
		Args: exactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runExtract(cmd, o, args[0])
		},
	}
	o.addFlags(cmd)
	return cmd
}

func runExtract(cmd *cobra.Command, o *extractOptions, path string) error {
	f, r, err := openBundle(path)
	if err != nil {
		return err
	}
	defer f.Close()
	stdout := cmd.OutOrStdout()
	if o.manifest {
		_, err := stdout.Write(r.ManifestBytes())
		return err
	}
	if o.base == "" && r.Manifest().NeedsBase() {
		return withHint(usagef("%s carries deltas or mode changes of base files: --base is needed", path),
			"pass --base DIR, the tree the bundle was made from (patchkit inspect shows its base version)")
	}
	eo := &bundle.ExtractOptions{BaseDir: o.base}
	if o.trust.given() {
		if err := o.trust.validate(); err != nil {
			return err
		}
		p, err := o.trust.policy(cmd.ErrOrStderr())
		if err != nil {
			return err
		}
		at, err := parseAt(o.at, cmd.ErrOrStderr())
		if err != nil {
			return err
		}
		if _, err := verify.Manifest(cmd.Context(), r.ManifestBytes(), r.Signatures(), p, &verify.Options{At: at}); err != nil {
			return err
		}
	} else {
		fmt.Fprintln(cmd.ErrOrStderr(), "patchkit: warning: signatures not verified (no --key, --policy or identity given): the output is for inspection only")
		fi, err := f.Stat()
		if err != nil {
			return err
		}
		eo.Unauthenticated, eo.BundleSize = true, fi.Size()
		if o.maxSize != "" {
			if eo.MaxSize, err = parseSize(o.maxSize); err != nil {
				return usagef("--max-size %q: %v", o.maxSize, err)
			}
		}
	}
	res, err := bundle.Extract(cmd.Context(), r, o.out, eo)
	if errors.Is(err, bundle.ErrOutputTooLarge) {
		return withHint(err, "verify it with a trust source (--key, --policy), or raise --max-size if you expect that much")
	}
	if err != nil {
		return err
	}
	if o.output.json {
		return writeJSON(stdout, struct {
			Type   string `json:"type"`
			Output string `json:"output"`
			Digest string `json:"digest"`
			*bundle.ExtractResult
		}{"patchkit.extract/v1", o.out, r.Digest(), res})
	}
	fmt.Fprintf(cmd.ErrOrStderr(), "extracted %d files (%s), %d directories, %d symlinks to %s; %d deletions not written\n",
		res.Files, formatBytes(res.Bytes), res.Dirs, res.Symlinks, o.out, res.Deleted)
	return nil
}

// parseSize parses a byte count: digits with an optional unit (K, M, G, T as powers of
// 1024, with or without "iB" or "B").
func parseSize(s string) (int64, error) {
	num := strings.TrimRight(s, "KMGTiBkmgt")
	unit := strings.ToUpper(strings.TrimSuffix(strings.TrimSuffix(s[len(num):], "B"), "i"))
	n, err := strconv.ParseInt(num, 10, 64)
	if err != nil || n <= 0 || len(unit) > 1 {
		return 0, errors.New("want a positive number of bytes, optionally with K, M, G or T (powers of 1024)")
	}
	shift := map[string]uint{"": 0, "K": 10, "M": 20, "G": 30, "T": 40}[unit]
	if n > math.MaxInt64>>shift {
		return 0, errors.New("too large")
	}
	return n << shift, nil
}
