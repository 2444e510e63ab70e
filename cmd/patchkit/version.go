package main

import (
	"fmt"
	"runtime"
	"runtime/debug"

	"github.com/patchkit/patchkit/pkg/bundle"
	"github.com/spf13/cobra"
)

// versionInfo is what "patchkit version" reports, from the build information the Go
// toolchain stamps into the binary.
type versionInfo struct {
	Type     string `json:"type"`
	Version  string `json:"version"`            // module version: v1.2.3, or "(devel)" for a local build
	Revision string `json:"revision,omitempty"` // VCS commit, when built in a checkout
	Time     string `json:"time,omitempty"`     // commit time, RFC 3339
	Modified bool   `json:"modified"`           // the checkout had uncommitted changes
	Format   string `json:"format"`             // the bundle format this binary reads and writes
	Go       string `json:"go"`
	Platform string `json:"platform"`
}

func readVersion() versionInfo {
	v := versionInfo{Type: "patchkit.version/v1", Version: "(devel)", Format: bundle.FormatV1,
		Go: runtime.Version(), Platform: runtime.GOOS + "/" + runtime.GOARCH}
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return v
	}
	if bi.Main.Version != "" {
		v.Version = bi.Main.Version
	}
	for _, s := range bi.Settings {
		switch s.Key {
		case "vcs.revision":
			v.Revision = s.Value
		case "vcs.time":
			v.Time = s.Value
		case "vcs.modified":
			v.Modified = s.Value == "true"
		}
	}
	return v
}

// versionLine is the one-line form "patchkit --version" prints.
func versionLine(v versionInfo) string {
	s := "patchkit " + v.Version
	if v.Revision != "" {
		s += " (" + shortRevision(v.Revision)
		if v.Modified {
			s += ", modified"
		}
		s += ")"
	}
	return s
}

func shortRevision(r string) string {
	if len(r) > 12 {
		return r[:12]
	}
	return r
}

func newVersionCmd(_ *globalOptions) *cobra.Command {
	var output outputOptions
	cmd := &cobra.Command{
		Use:   "version [--json]",
		Short: "Print the version of patchkit, its VCS revision and the bundle format it reads",
		Long: `Version prints the module version (v1.2.3 for "go install ...@v1.2.3", "(devel)"
for a build from a checkout), the VCS revision and commit time the binary was built
from, whether that checkout had uncommitted changes ("modified"), the bundle format,
and the Go version and platform. "patchkit --version" prints the first line only.`,
		Args: exactArgs(0),
		RunE: func(cmd *cobra.Command, args []string) error {
			v := readVersion()
			if output.json {
				return writeJSON(cmd.OutOrStdout(), v)
			}
			w := cmd.OutOrStdout()
			fmt.Fprintf(w, "patchkit %s\n", v.Version)
			if v.Revision != "" {
				fmt.Fprintf(w, "revision %s", v.Revision)
				if v.Time != "" {
					fmt.Fprintf(w, " (%s)", v.Time)
				}
				fmt.Fprintln(w)
				fmt.Fprintf(w, "modified %t\n", v.Modified)
			} else {
				fmt.Fprintln(w, "revision unknown (built without VCS information)")
			}
			fmt.Fprintf(w, "format %s\n%s %s\n", v.Format, v.Go, v.Platform)
			return nil
		},
	}
	output.addFlags(cmd.Flags())
	return cmd
}
