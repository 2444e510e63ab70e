package main

import (
	"github.com/spf13/cobra"
)

func newDiffCmd(_ *globalOptions) *cobra.Command {
	return &cobra.Command{Use: "diff", Hidden: true, RunE: func(*cobra.Command, []string) error { return nil }}
}
