package hugemem

import (
	"bufio"
	"fmt"
	"os"
	"runtime"
	"strings"
	"testing"
	"unsafe"
)

func TestMake(t *testing.T) {
	for _, n := range []int{0, 1, MinSize - 1, MinSize, 3*MinSize + 12345} {
		b := Make[byte](n)
		if len(b) != n || cap(b) != n {
			t.Fatalf("Make[byte](%d): len %d cap %d", n, len(b), cap(b))
		}
		for i, c := range b {
			if c != 0 {
				t.Fatalf("Make[byte](%d)[%d] = %d", n, i, c)
			}
		}
	}
	s := Make[int32](MinSize)
	if len(s) != MinSize {
		t.Fatalf("Make[int32]: len %d", len(s))
	}
	s[len(s)-1] = 7
	if s[0] != 0 || s[len(s)-1] != 7 {
		t.Fatal("Make[int32]: not a plain slice")
	}
}

// TestAdvised checks, where the kernel takes the advice, that the mapping
// holding a large buffer carries the huge-page flag ("hg" in smaps).
func TestAdvised(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("advice is Linux only")
	}
	mode, err := os.ReadFile("/sys/kernel/mm/transparent_hugepage/enabled")
	if err != nil || strings.Contains(string(mode), "[never]") {
		t.Skip("transparent huge pages are off here")
	}
	b := Make[byte](16 << 20)
	addr := (uintptr(unsafe.Pointer(&b[0])) + hugePage - 1) &^ (hugePage - 1)
	flags, err := vmFlags(addr)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(" "+flags+" ", " hg ") {
		t.Fatalf("mapping at %#x has flags %q, without hg", addr, flags)
	}
	runtime.KeepAlive(b)
}

// vmFlags returns the VmFlags line of the mapping that holds addr.
func vmFlags(addr uintptr) (string, error) {
	f, err := os.Open("/proc/self/smaps")
	if err != nil {
		return "", err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	in := false
	for sc.Scan() {
		line := sc.Text()
		var lo, hi uintptr
		if n, _ := fmt.Sscanf(line, "%x-%x", &lo, &hi); n == 2 { // a mapping's first line
			in = lo <= addr && addr < hi
			continue
		}
		if in && strings.HasPrefix(line, "VmFlags:") {
			return strings.TrimSpace(strings.TrimPrefix(line, "VmFlags:")), nil
		}
	}
	if err := sc.Err(); err != nil {
		return "", err
	}
	return "", fmt.Errorf("no mapping holds %#x", addr)
}
