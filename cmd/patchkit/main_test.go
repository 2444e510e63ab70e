package main

import (
	"os"
	"strconv"
	"strings"
	"testing"

	"github.com/rogpeppe/go-internal/testscript"
)

func TestMain(m *testing.M) {
	testscript.Main(m, map[string]func(){
		"patchkit": func() { os.Exit(main1WithJSONLog()) },
	})
}

// TestScripts runs every testdata/script/*.txtar against the real binary.
func TestScripts(t *testing.T) {
	t.Parallel()
	testscript.Run(t, testscript.Params{
		Dir: "testdata/script",
		Setup: func(env *testscript.Env) error {
			env.Setenv("SOURCE_DATE_EPOCH", "")
			env.Setenv("PATCHKIT_CORPUS", os.Getenv("PATCHKIT_CORPUS"))
			env.Setenv(jsonLogEnv, jsonLog(t)) // every --json document, for TestScripts' schema check
			return nil
		},
		RequireExplicitExec: true,
		Cmds: map[string]func(ts *testscript.TestScript, neg bool, args []string){
			"damage": cmdDamage,
		},
	})
}

// cmdDamage damages a bundle in place:
//
//	damage FILE flip MEMBER header|data   flip one byte of a member's header or data
//	damage FILE truncate N                 cut the file to N bytes (negative: from the end)
//	damage FILE append TEXT                append bytes
func cmdDamage(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) < 3 {
		ts.Fatalf("usage: damage FILE flip MEMBER header|data | truncate N | append TEXT")
	}
	path := ts.MkAbs(args[0])
	data, err := os.ReadFile(path)
	ts.Check(err)
	switch args[1] {
	case "flip":
		if len(args) != 4 {
			ts.Fatalf("usage: damage FILE flip MEMBER header|data")
		}
		off := memberOffset(ts, data, args[2])
		if args[3] == "data" {
			off += 512 + 1
		} else {
			off += 5
		}
		data[off] ^= 0x01
	case "truncate":
		n, err := strconv.Atoi(args[2])
		ts.Check(err)
		if n < 0 {
			n += len(data)
		}
		data = data[:n]
	case "append":
		data = append(data, args[2]...)
	default:
		ts.Fatalf("unknown damage %q", args[1])
	}
	ts.Check(os.WriteFile(path, data, 0o644))
}

// memberOffset walks the ustar headers of data to the member named name.
func memberOffset(ts *testscript.TestScript, data []byte, name string) int {
	for off := 0; off+512 <= len(data); {
		h := data[off : off+512]
		n := strings.TrimRight(string(h[0:100]), "\x00")
		if p := strings.TrimRight(string(h[345:500]), "\x00"); p != "" {
			n = p + "/" + n
		}
		if n == name {
			return off
		}
		size, err := strconv.ParseInt(strings.TrimRight(string(h[124:135]), "\x00"), 8, 64)
		if err != nil || n == "" {
			break
		}
		off += 512 + int(size+511)/512*512
	}
	ts.Fatalf("member %s not found", name)
	return 0
}
