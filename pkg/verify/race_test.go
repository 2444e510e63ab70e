//go:build race

package verify_test

// raceEnabled: the race detector slows the corpus tests tenfold; they keep to libssl3.
const raceEnabled = true
