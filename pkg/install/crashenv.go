//go:build crashtest

package install

// A crashtest build takes the fault injection from the environment at start-up.
func init() { FaultInjectionFromEnv() }
