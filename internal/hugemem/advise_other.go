//go:build !linux

package hugemem

func advise(p, size uintptr) {}
