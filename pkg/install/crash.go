package install

import (
	"fmt"
	"io"
	"os"
	"strconv"
	"sync/atomic"
	"syscall"
)

// Fault injection for the crash test. These are zero in a normal build: only this
// package's tests (export_test.go) and binaries built with -tags crashtest set them
// (faultsFromEnv, docs/install.md).
var (
	// crashAfter, when positive, makes the process SIGKILL itself right after its
	// crashAfter-th filesystem step (a staged file, an object, the journal, one rename,
	// removal, mkdir or chmod of the switch, the state commit, one cleanup removal).
	crashAfter int
	// traceSteps writes every step to stderr.
	traceSteps bool
	// stageLimit, when positive, makes writes to staged files and objects fail with
	// ENOSPC once that many bytes have been written in this process (disk full).
	stageLimit int64

	// failPath, when set, makes the forward switch fail at that path (after the
	// steps before it), to test rollback.
	failPath string

	stepCount   atomic.Int64
	stagedBytes int64 // only counted while stageLimit is set (one test at a time)
)

// step counts one filesystem step and injects a crash if asked to.
func (t *Target) step(what string) {
	n := stepCount.Add(1)
	if traceSteps {
		fmt.Fprintf(os.Stderr, "patchkit: step %d: %s\n", n, what)
	}
	if crashAfter > 0 && n >= int64(crashAfter) {
		syscall.Kill(os.Getpid(), syscall.SIGKILL)
		select {}
	}
}

// faultsFromEnv turns on fault injection from the environment:
//
//	PATCHKIT_CRASH_AFTER=k    SIGKILL the process right after its k-th filesystem step
//	PATCHKIT_CRASH_TRACE=1    print every step to stderr
//	PATCHKIT_STAGE_LIMIT=n    fail staging writes with ENOSPC after n bytes (disk full)
//
// Only binaries built with -tags crashtest call it (once, from Open), and this
// package's tests; a normal build never reads these variables.
func faultsFromEnv() {
	crashAfter, _ = strconv.Atoi(os.Getenv("PATCHKIT_CRASH_AFTER"))
	traceSteps = os.Getenv("PATCHKIT_CRASH_TRACE") != ""
	stageLimit, _ = strconv.ParseInt(os.Getenv("PATCHKIT_STAGE_LIMIT"), 10, 64)
}

// stepsTaken returns the number of filesystem steps taken so far by this process.
func stepsTaken() int { return int(stepCount.Load()) }

type limited struct{ w io.Writer }

func (l limited) Write(p []byte) (int, error) {
	if stagedBytes+int64(len(p)) > stageLimit {
		n := int(stageLimit - stagedBytes)
		if n > 0 {
			l.w.Write(p[:n])
			stagedBytes += int64(n)
		}
		return max(n, 0), &os.PathError{Op: "write", Path: "staging", Err: syscall.ENOSPC}
	}
	stagedBytes += int64(len(p))
	return l.w.Write(p)
}

// limitWriter wraps writes into the state directory with the simulated disk limit.
func limitWriter(w io.Writer) io.Writer {
	if stageLimit > 0 {
		return limited{w}
	}
	return w
}
