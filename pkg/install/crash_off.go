//go:build !crashtest

package install

// faultsFromBuild does nothing in a normal build: no environment variable can inject a
// fault.
func faultsFromBuild() {}
