//go:build crashtest

package install

import "sync"

var faultsOnce sync.Once

// faultsFromBuild: a crashtest build takes the fault injection from the environment, once,
// when it first opens a target.
func faultsFromBuild() { faultsOnce.Do(faultsFromEnv) }
