package main

import (
	"fmt"
	"io"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/patchkit/patchkit/pkg/bundle"
	"github.com/patchkit/patchkit/pkg/sign"
	"github.com/spf13/cobra"
)

type inspectOptions struct {
	output outputOptions
}

func newInspectCmd(_ *globalOptions) *cobra.Command {
	o := &inspectOptions{}
	cmd := &cobra.Command{
		Use:   "inspect FILE",
		Short: "Show what a bundle contains: header, signatures and every touched path",
		Long: `Inspect reads a bundle in one streaming pass and prints its header (component,
base version, label, sequence, expiry, advisories, activation hint, bundle digest,
signatures) and a table of the paths it touches with their operation, sizes and
payload codec. Every payload's digest is checked on the way; a damaged bundle is an
error (exit 3). Signatures are listed, not verified: use "patchkit verify".`,
		Args: exactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			rep, err := inspectFile(args[0])
			if err != nil {
				return err
			}
			if o.output.json {
				return writeJSON(cmd.OutOrStdout(), rep)
			}
			return rep.render(cmd.OutOrStdout())
		},
	}
	o.output.addFlags(cmd.Flags())
	return cmd
}

type inspectReport struct {
	Type       string             `json:"type"`
	File       string             `json:"file"`
	Size       int64              `json:"size"`
	Digest     string             `json:"digest"`
	Format     string             `json:"format"`
	ID         string             `json:"id"`
	Label      string             `json:"label"`
	Sequence   int64              `json:"sequence"`
	Created    string             `json:"created,omitempty"`
	NotAfter   string             `json:"not_after,omitempty"`
	Advisories []string           `json:"advisories"`
	Activation string             `json:"activation,omitempty"`
	Supersedes []string           `json:"supersedes"`
	Components []bundle.Component `json:"components"`
	Signatures []signatureInfo    `json:"signatures"`
	Files      []inspectPath      `json:"files"`
	Totals     inspectTotals      `json:"totals"`
}

// signatureInfo lists a signature member and who claims to have made it (not verified).
type signatureInfo struct {
	Member string `json:"member"`
	Size   int    `json:"size"`
	*sign.Description
	Error string `json:"error,omitempty"` // the member is not a readable Sigstore bundle
}

func newSignatureInfo(s bundle.Signature) signatureInfo {
	info := signatureInfo{Member: s.Member, Size: len(s.Data)}
	d, err := sign.Describe(s.Data)
	if err != nil {
		info.Error = err.Error()
	} else {
		info.Description = d
	}
	return info
}

func (s signatureInfo) String() string {
	var who string
	switch {
	case s.Description == nil:
		who = "unreadable: " + s.Error
	case s.Kind == "key":
		who = "key " + orDash(s.Key)
	default:
		who = "keyless " + s.Identity
		if s.Issuer != "" {
			who += " (" + s.Issuer + ")"
		}
		if s.SignedAt != "" {
			who += " at " + s.SignedAt
		}
	}
	return fmt.Sprintf("%s: %s (%d bytes, not verified here)", s.Member, who, s.Size)
}

type inspectPath struct {
	Path        string `json:"path"`
	Component   string `json:"component"`
	Op          string `json:"op"`
	Type        string `json:"type"`
	BaseSize    int64  `json:"base_size"`
	TargetSize  int64  `json:"target_size"`
	PayloadSize int64  `json:"payload_size"`
	Codec       string `json:"codec,omitempty"`
	Link        string `json:"link,omitempty"`              // symlink text of the target
	LinkOutside bool   `json:"link_outside_root,omitempty"` // the link points outside the root
	shown       string // escaped path, with the link for symlinks (bundle.File.Describe)
}

type inspectTotals struct {
	Paths       int   `json:"paths"`
	BaseSize    int64 `json:"base_size"`
	TargetSize  int64 `json:"target_size"`
	PayloadSize int64 `json:"payload_size"`
}

// countReader counts the bytes read through it.
type countReader struct {
	r io.Reader
	n int64
}

func (c *countReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	return n, err
}

// inspectFile reads the whole bundle at path, checking every payload digest.
func inspectFile(path string) (*inspectReport, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	cr := &countReader{r: f}
	r, err := bundle.NewReader(cr)
	if err != nil {
		return nil, err
	}
	for {
		e, err := r.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, err
		}
		if _, err := io.Copy(io.Discard, e); err != nil {
			return nil, err
		}
	}
	return newInspectReport(path, cr.n, r), nil
}

func newInspectReport(path string, size int64, r *bundle.Reader) *inspectReport {
	m := r.Manifest()
	rep := &inspectReport{
		Type: "patchkit.inspect/v1", File: path, Size: size, Digest: r.Digest(),
		Format: m.Format, ID: m.ID, Label: m.Label, Sequence: m.Sequence, NotAfter: m.NotAfter,
		Advisories: nonNil(m.Advisories), Activation: m.Activation, Supersedes: nonNil(m.Supersedes),
		Components: m.Components, Signatures: []signatureInfo{}, Files: []inspectPath{},
	}
	if m.Created != 0 {
		rep.Created = time.Unix(m.Created, 0).UTC().Format(time.RFC3339)
	}
	for _, s := range r.Signatures() {
		rep.Signatures = append(rep.Signatures, newSignatureInfo(s))
	}
	for _, f := range m.Files {
		p := inspectPath{Path: f.Path, Component: f.Component, Op: string(f.Op), shown: f.Describe()}
		if f.Target != nil && f.Target.Type == bundle.TypeSymlink {
			p.Link, p.LinkOutside = f.Target.Link, bundle.LinkLeavesRoot(f.Path, f.Target.Link)
		}
		if f.Base != nil {
			p.Type, p.BaseSize = f.Base.Type, f.Base.Size
		}
		if f.Target != nil {
			p.Type, p.TargetSize = f.Target.Type, f.Target.Size
		}
		if f.Payload != nil {
			p.PayloadSize, p.Codec = f.Payload.Size, f.Payload.Codec
		}
		rep.Files = append(rep.Files, p)
		rep.Totals.Paths++
		rep.Totals.BaseSize += p.BaseSize
		rep.Totals.TargetSize += p.TargetSize
		rep.Totals.PayloadSize += p.PayloadSize
	}
	return rep
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

func (rep *inspectReport) render(w io.Writer) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	row := func(k, v string) { fmt.Fprintf(tw, "%s\t%s\n", k, v) }
	row("bundle", fmt.Sprintf("%s (%s)", rep.File, formatBytes(rep.Size)))
	row("digest", rep.Digest)
	row("id", rep.ID)
	row("label", rep.Label)
	row("sequence", fmt.Sprint(rep.Sequence))
	for _, c := range rep.Components {
		v := c.Name + " " + c.BaseVersion
		if c.TargetVersion != "" {
			v += " -> " + c.TargetVersion
		}
		if c.Root != "" {
			v += " (under " + c.Root + "/)"
		}
		row("component", v)
	}
	if rep.Created != "" {
		row("created", rep.Created)
	}
	exp := "never"
	if rep.NotAfter != "" {
		exp = rep.NotAfter
	}
	row("expires", exp)
	if len(rep.Advisories) > 0 {
		row("advisories", strings.Join(rep.Advisories, ", "))
	}
	if rep.Activation != "" {
		row("activation", rep.Activation)
	}
	if len(rep.Supersedes) > 0 {
		row("supersedes", strings.Join(rep.Supersedes, ", "))
	}
	if len(rep.Signatures) == 0 {
		row("signatures", "none (unsigned)")
	}
	for _, s := range rep.Signatures {
		row("signature", bundle.Escape(s.String())) // names from unverified certificates
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	fmt.Fprintln(w)
	tw = tabwriter.NewWriter(w, 0, 4, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "OP\tTYPE\tBASE\tTARGET\tPAYLOAD\tRATIO\tCODEC\t  PATH")
	for _, p := range rep.Files {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t  %s\n", p.Op, p.Type, sizeOrDash(p.BaseSize, p.Op == "add"),
			sizeOrDash(p.TargetSize, p.Op == "delete"), sizeOrDash(p.PayloadSize, p.Codec == ""),
			ratioOrDash(p), orDash(p.Codec), p.shown)
	}
	t := rep.Totals
	fmt.Fprintf(tw, "total\t%d paths\t%s\t%s\t%s\t%s\t\n", t.Paths, formatBytes(t.BaseSize), formatBytes(t.TargetSize),
		formatBytes(t.PayloadSize), formatRatio(t.PayloadSize, t.TargetSize))
	return tw.Flush()
}

func sizeOrDash(n int64, dash bool) string {
	if dash {
		return "-"
	}
	return formatBytes(n)
}

func ratioOrDash(p inspectPath) string {
	if p.Codec == "" {
		return "-"
	}
	return formatRatio(p.PayloadSize, p.TargetSize)
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
