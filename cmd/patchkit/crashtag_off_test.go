//go:build !crashtest

package main

// crashBuild: a normal build ignores PATCHKIT_CRASH_AFTER and PATCHKIT_STAGE_LIMIT.
const crashBuild = false
