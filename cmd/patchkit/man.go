package main

import (
	"fmt"
	"os"

	"github.com/spf13/cobra"
	"github.com/spf13/cobra/doc"
)

// newManCmd is the hidden "patchkit man DIR": man pages generated from the command tree,
// so they never disagree with --help.
func newManCmd(root *cobra.Command) *cobra.Command {
	return &cobra.Command{
		Use:    "man DIR",
		Short:  "Write a man page for every command to DIR (section 1)",
		Hidden: true,
		Args:   exactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := os.MkdirAll(args[0], 0o755); err != nil {
				return err
			}
			root.DisableAutoGenTag = true // reproducible pages: no generation date
			root.Long += "\n\n" + exitStatusHelp
			hdr := &doc.GenManHeader{Title: "PATCHKIT", Section: "1", Source: versionLine(readVersion()), Manual: "patchkit manual"}
			if err := doc.GenManTree(root, hdr, args[0]); err != nil {
				return fmt.Errorf("writing man pages to %s: %w", args[0], err)
			}
			fmt.Fprintf(cmd.ErrOrStderr(), "wrote the man pages of patchkit and its commands to %s\n", args[0])
			return nil
		},
	}
}
