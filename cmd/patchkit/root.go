package main

import (
	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
)

// globalOptions are shared by every subcommand.
type globalOptions struct{}

func newRootCmd() *cobra.Command {
	g := &globalOptions{}
	cmd := &cobra.Command{
		Use:   "patchkit",
		Short: "Create, sign, verify, inspect and install security-patch bundles",
		Long: `patchkit builds small, signed, reproducible patch bundles (.pkb) that move one
exact base tree to a patched tree, and checks and installs them.

A bundle is a plain POSIX tar: the manifest (the only signed object) first, then
signatures, then one compressed payload per changed file. See docs/format.md.`,
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	cmd.SetUsageTemplate(cmd.UsageTemplate() + "\n" + exitStatusHelp)
	cmd.SetFlagErrorFunc(func(c *cobra.Command, err error) error {
		return &usageError{err}
	})
	cmd.AddCommand(
		newCreateCmd(g),
		newInspectCmd(g),
		newExtractCmd(g),
		newVersionCmd(g),
		newPublishCmd(g),
		newPullCmd(g),
		newUpdateCmd(g),
	)
	for _, f := range extraCommands {
		cmd.AddCommand(f(g))
	}
	return cmd
}

// extraCommands lets subcommand files register themselves.
var extraCommands []func(*globalOptions) *cobra.Command

// exactArgs is cobra.ExactArgs reporting a usage error.
func exactArgs(n int) cobra.PositionalArgs {
	return func(cmd *cobra.Command, args []string) error {
		if err := cobra.ExactArgs(n)(cmd, args); err != nil {
			return &usageError{err}
		}
		return nil
	}
}

// outputOptions select the report format of a command.
type outputOptions struct {
	json bool
}

func (o *outputOptions) addFlags(fs *pflag.FlagSet) {
	fs.BoolVar(&o.json, "json", false, "print the report as JSON (a stable document with a \"type\" field)")
}
