package main

import (
	"fmt"
	"runtime"
	"runtime/debug"

	"github.com/patchkit/patchkit/pkg/bundle"
	"github.com/spf13/cobra"
)

func newVersionCmd(_ *globalOptions) *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Print the version of patchkit and of the bundle format it reads",
		Args:  exactArgs(0),
		RunE: func(cmd *cobra.Command, args []string) error {
			v := "(devel)"
			if bi, ok := debug.ReadBuildInfo(); ok && bi.Main.Version != "" {
				v = bi.Main.Version
			}
			fmt.Fprintf(cmd.OutOrStdout(), "patchkit %s\nformat %s\n%s %s/%s\n", v, bundle.FormatV1, runtime.Version(), runtime.GOOS, runtime.GOARCH)
			return nil
		},
	}
}
