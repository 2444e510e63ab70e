//go:build crashtest

package install

import (
	"os"
	"strconv"
)

// In a crashtest build the fault injection is driven by the environment:
//
//	PATCHKIT_CRASH_AFTER=k    SIGKILL after the k-th filesystem step
//	PATCHKIT_CRASH_TRACE=1    print every step to stderr
//	PATCHKIT_STAGE_LIMIT=n    fail staging writes with ENOSPC after n bytes
func init() {
	crashAfter, _ = strconv.Atoi(os.Getenv("PATCHKIT_CRASH_AFTER"))
	traceSteps = os.Getenv("PATCHKIT_CRASH_TRACE") != ""
	stageLimit, _ = strconv.ParseInt(os.Getenv("PATCHKIT_STAGE_LIMIT"), 10, 64)
}
