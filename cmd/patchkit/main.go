// Command patchkit creates, signs, verifies, inspects and installs security-patch bundles.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"slices"
	"strings"
	"syscall"

	"github.com/patchkit/patchkit/internal/countio"
	"github.com/patchkit/patchkit/pkg/bundle"
	"github.com/patchkit/patchkit/pkg/channel"
	"github.com/patchkit/patchkit/pkg/install"
	"github.com/patchkit/patchkit/pkg/verify"
	"github.com/spf13/cobra"
)

// Exit codes, documented under EXIT STATUS in the root help.
const (
	exitOK          = 0
	exitError       = 1
	exitUsage       = 2
	exitVerify      = 3
	exitRecalled    = 4
	exitUnavailable = 5   // a channel's registry cannot be reached: try again later
	exitAvailable   = 100 // update --check: updates are available
	exitInterrupted = 130
)

const exitStatusHelp = `EXIT STATUS
  0    success
  1    error (I/O, bad arguments to a library call, anything not below)
  2    usage error (unknown flag, missing argument, conflicting options)
  3    verification or integrity failure (damaged bundle, digest or signature
       mismatch, untrusted signer, wrong base tree)
  4    the bundle is recalled or expired (a channel index: stale)
  5    a channel's registry cannot be reached (update, publish, pull): try later
  100  update --check: updates are available
  130  interrupted
`

func main() { os.Exit(main1()) }

// main1 runs the command line and returns the exit code.
func main1() int {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	cmd := newRootCmd()
	stdout := &countio.Writer{W: os.Stdout} // to tell whether a report was printed
	cmd.SetOut(stdout)
	ran, err := cmd.ExecuteContextC(ctx)
	if err == nil {
		return exitOK
	}
	code := exitCode(err)
	if ctx.Err() != nil {
		code = exitInterrupted
	}
	printError(os.Stderr, err)
	// os.Args too: a usage error can stop cobra before it has parsed --json.
	if stdout.N == 0 && (wantsJSON(ran) || slices.Contains(os.Args[1:], "--json")) {
		// A script reading --json output gets a document on failure too.
		writeJSON(stdout, newFailureReport(ran, err, code))
	}
	return code
}

func wantsJSON(cmd *cobra.Command) bool {
	f := cmd.Flags().Lookup("json")
	return f != nil && f.Value.String() == "true"
}

// failureReport is what a command given --json prints on stdout when it fails before
// printing its report: the command's own type, ok false, the error and the exit status.
type failureReport struct {
	Type     string `json:"type"`
	OK       bool   `json:"ok"`
	Error    string `json:"error"`
	Hint     string `json:"hint,omitempty"`
	ExitCode int    `json:"exit_code"`
}

func newFailureReport(cmd *cobra.Command, err error, code int) *failureReport {
	return &failureReport{Type: reportType(cmd), Error: err.Error(), Hint: hintFor(err), ExitCode: code}
}

// reportType is the type of a command's JSON documents: "patchkit.recall-apply/v1"
// for "patchkit recall apply".
func reportType(cmd *cobra.Command) string {
	path := strings.TrimPrefix(cmd.CommandPath(), cmd.Root().Name()+" ")
	return "patchkit." + strings.ReplaceAll(path, " ", "-") + "/v1"
}

// usageError marks an error in how the command was called.
type usageError struct{ err error }

func (e *usageError) Error() string { return e.err.Error() }
func (e *usageError) Unwrap() error { return e.err }

func usagef(format string, args ...any) error {
	return &usageError{fmt.Errorf(format, args...)}
}

// hinted attaches a hint for the user to an error.
type hinted struct {
	err  error
	hint string
}

func (e *hinted) Error() string { return e.err.Error() }
func (e *hinted) Unwrap() error { return e.err }

func withHint(err error, hint string) error { return &hinted{err, hint} }

// exitCode maps an error to the exit status: the one place that decides it.
func exitCode(err error) int {
	var (
		ue *usageError
		be *bundle.Error
		me *bundle.BaseError
		ve *verify.Error
		pe *install.PathError
		se *install.StateError
		ce *channel.Error
	)
	switch {
	case errors.As(err, &ue), errors.Is(err, install.ErrStateDirOverlap):
		return exitUsage
	case errors.Is(err, errAvailable):
		return exitAvailable
	case errors.As(err, &ce):
		switch ce.Kind {
		case channel.KindUnavailable:
			return exitUnavailable
		case channel.KindDenied:
			return exitError
		case channel.KindStale:
			return exitRecalled
		}
		return exitVerify
	case errors.Is(err, context.Canceled):
		return exitInterrupted
	case errors.Is(err, verify.ErrRecalled), errors.Is(err, verify.ErrExpired):
		return exitRecalled
	case errors.As(err, &ve), errors.As(err, &be), errors.As(err, &me), errors.As(err, &pe), errors.As(err, &se), errors.Is(err, errDrift):
		return exitVerify
	}
	return exitError
}

func printError(w io.Writer, err error) {
	fmt.Fprintf(w, "patchkit: error: %v\n", err)
	if h := hintFor(err); h != "" {
		fmt.Fprintf(w, "patchkit: hint: %s\n", h)
	}
}

// hintFor returns the next step for err: the one a command attached, else the one its
// kind calls for.
func hintFor(err error) string {
	var (
		h  *hinted
		be *bundle.BaseError
	)
	switch {
	case errors.As(err, &h):
		return h.hint
	case errors.As(err, &be):
		return "the tree is not this bundle's base: \"patchkit diff BUNDLE --base DIR\" lists every path that differs; \"patchkit inspect BUNDLE\" shows the base version it needs"
	}
	return ""
}
