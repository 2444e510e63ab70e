// Command patchkit creates, signs, verifies, inspects and installs security-patch bundles.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"

	"github.com/patchkit/patchkit/pkg/bundle"
)

// Exit codes, documented under EXIT STATUS in the root help.
const (
	exitOK          = 0
	exitError       = 1
	exitUsage       = 2
	exitVerify      = 3
	exitRecalled    = 4
	exitInterrupted = 130
)

const exitStatusHelp = `EXIT STATUS
  0    success
  1    error (I/O, bad arguments to a library call, anything not below)
  2    usage error (unknown flag, missing argument, conflicting options)
  3    verification or integrity failure (damaged bundle, digest or signature
       mismatch, untrusted signer, wrong base tree)
  4    the bundle is recalled or expired
  130  interrupted
`

func main() { os.Exit(main1()) }

// main1 runs the command line and returns the exit code.
func main1() int {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	cmd := newRootCmd()
	err := cmd.ExecuteContext(ctx)
	if err == nil {
		return exitOK
	}
	code := exitCode(err)
	if ctx.Err() != nil {
		code = exitInterrupted
	}
	printError(os.Stderr, err)
	return code
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

// exitCodeHooks let other files map their library's typed errors to exit codes.
var exitCodeHooks []func(error) (int, bool)

func exitCode(err error) int {
	var (
		ue *usageError
		be *bundle.Error
		me *bundle.BaseError
	)
	if code, ok := channelExitCode(err); ok {
		return code
	}
	for _, hook := range exitCodeHooks {
		if code, ok := hook(err); ok {
			return code
		}
	}
	switch {
	case errors.As(err, &ue):
		return exitUsage
	case errors.As(err, &be), errors.As(err, &me):
		return exitVerify
	case errors.Is(err, context.Canceled):
		return exitInterrupted
	}
	return exitError
}

func printError(w io.Writer, err error) {
	fmt.Fprintf(w, "patchkit: error: %v\n", err)
	var h *hinted
	if errors.As(err, &h) {
		fmt.Fprintf(w, "patchkit: hint: %s\n", h.hint)
	}
}
