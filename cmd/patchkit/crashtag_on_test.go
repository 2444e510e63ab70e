//go:build crashtest

package main

// crashBuild: this test binary is built with -tags crashtest, so pkg/install honours
// PATCHKIT_CRASH_AFTER and PATCHKIT_STAGE_LIMIT.
const crashBuild = true
