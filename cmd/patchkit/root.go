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
		Version:       versionLine(readVersion()),
		// Runnable, so that an unknown command is a usage error (exit 2) here rather
		// than cobra's plain error.
		Args: cobra.ArbitraryArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(args) == 0 {
				return cmd.Help()
			}
			err := usagef("unknown command %q for \"patchkit\"", args[0])
			if s := cmd.SuggestionsFor(args[0]); len(s) > 0 {
				return withHint(err, "did you mean \""+s[0]+"\"? See patchkit --help")
			}
			return withHint(err, "see patchkit --help for the commands")
		},
	}
	cmd.SuggestionsMinimumDistance = 2
	cmd.SetVersionTemplate("{{.Version}}\n")
	cmd.SetUsageTemplate(cmd.UsageTemplate() + "\n" + exitStatusHelp)
	cmd.SetFlagErrorFunc(func(c *cobra.Command, err error) error {
		return &usageError{err}
	})
	// Every command of patchkit: this is the one list (help sorts them by name).
	recall := newRecallCmd(g)
	recall.AddCommand(newRecallApplyCmd(g))
	cmd.AddCommand(
		newCreateCmd(g),
		newSignCmd(g),
		newVerifyCmd(g),
		newInspectCmd(g),
		newDiffCmd(g),
		newExtractCmd(g),
		newApplyCmd(g),
		newRemoveCmd(g),
		newStatusCmd(g),
		newRetireCmd(g),
		recall,
		newKeyCmd(g),
		newVersionCmd(g),
		newPublishCmd(g),
		newPullCmd(g),
		newUpdateCmd(g),
		newManCmd(cmd),
	)
	return cmd
}

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
