package install

// The crash test. Each scenario (apply, remove, supersede (a)→(b)) first runs once in
// a helper process to count its filesystem steps N, then again for every k in 1..N
// with PATCHKIT_CRASH_AFTER=k, which makes the helper SIGKILL itself right after its
// k-th step; plus kills at random times. After every kill the test opens the target
// (which recovers), and checks by digest that the tree is exactly the state before or
// exactly the state after, and that the recorded state agrees.
//
//	go test ./pkg/install -run TestCrash -v                synthetic trees (every k, 5
//	                                                       random kills per scenario) and
//	                                                       the libssl3 corpus when present
//	                                                       (every third k)
//	PATCHKIT_CRASH_FULL=1 go test ./pkg/install -run TestCrash -v
//	                                                       also kills during recovery and
//	                                                       more random kills
//
// The corpus is found by internal/testcorpus ($PATCHKIT_CORPUS, or corpus/ in the module).

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"github.com/patchkit/patchkit/internal/testcorpus"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/patchkit/patchkit/pkg/bundle"
)

func TestMain(m *testing.M) {
	if os.Getenv("PATCHKIT_CRASH_HELPER") != "" {
		os.Exit(crashHelper())
	}
	os.Exit(m.Run())
}

// crashHelper runs one operation in this process: PATCHKIT_CRASH_OP (apply, remove or
// recover) on PATCHKIT_CRASH_ROOT with PATCHKIT_CRASH_BUNDLE, crashing after
// PATCHKIT_CRASH_AFTER steps. It prints the number of steps taken.
func crashHelper() int {
	faultsFromEnv()
	ctx := context.Background()
	tg, err := Open(ctx, os.Getenv("PATCHKIT_CRASH_ROOT"), &Options{LockTimeout: time.Second})
	if err == nil {
		switch os.Getenv("PATCHKIT_CRASH_OP") {
		case "apply":
			var b []byte
			if b, err = os.ReadFile(os.Getenv("PATCHKIT_CRASH_BUNDLE")); err == nil {
				var r *bundle.Reader
				if r, err = bundle.NewReader(bytes.NewReader(b)); err == nil {
					_, err = tg.Apply(ctx, r, allow)
				}
			}
		case "remove":
			_, err = tg.Remove(ctx, "")
		case "recover":
		}
		tg.Close()
	}
	fmt.Printf("steps %d\n", stepsTaken())
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	return 0
}

// runHelper runs the helper; killed reports death by SIGKILL.
func runHelper(t testing.TB, op, root, pkb string, after int, killAfter time.Duration) (steps int, killed bool) {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), "PATCHKIT_CRASH_HELPER=1", "PATCHKIT_CRASH_OP="+op, "PATCHKIT_CRASH_ROOT="+root,
		"PATCHKIT_CRASH_BUNDLE="+pkb, fmt.Sprintf("PATCHKIT_CRASH_AFTER=%d", after))
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	if killAfter > 0 {
		timer := time.AfterFunc(killAfter, func() { cmd.Process.Signal(syscall.SIGKILL) })
		defer timer.Stop()
	}
	err := cmd.Wait()
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		if ws, ok := ee.Sys().(syscall.WaitStatus); ok && ws.Signaled() && ws.Signal() == syscall.SIGKILL {
			return 0, true
		}
		t.Fatalf("helper %s k=%d: %v\n%s", op, after, err, errb.String())
	}
	if err != nil {
		t.Fatal(err)
	}
	fmt.Sscanf(out.String(), "steps %d", &steps)
	return steps, false
}

type crashScenario struct {
	name     string
	template string // a root in the state before, with its state directory
	op, pkb  string
	before   map[string]string
	after    map[string]string
	// the digests installed before and after
	instBefore, instAfter []string
}

// crashStats count outcomes: points are kills followed by a check of the tree (each
// ends in before, after or mixed); recoveryKills are extra kills of the recovery
// itself (full mode), checked by the point they belong to.
type crashStats struct{ points, recoveryKills, before, after, mixed int }

func installedDigests(st *State) []string {
	var out []string
	for _, in := range st.Installed {
		out = append(out, in.Digest)
	}
	return out
}

// checkOutcome recovers root and checks that it is exactly before or after.
func (sc *crashScenario) checkOutcome(t *testing.T, root string, stats *crashStats, what string) {
	t.Helper()
	tg, err := Open(context.Background(), root, &Options{LockTimeout: time.Second})
	if err != nil {
		t.Fatalf("%s: recovery: %v", what, err)
	}
	st := tg.State()
	tg.Close()
	snap := snapshot(t, root)
	got := strings.Join(installedDigests(st), ",")
	stats.points++
	switch {
	case sameSnapshot(snap, sc.before) == "":
		stats.before++
		if got != strings.Join(sc.instBefore, ",") {
			t.Errorf("%s: tree is the old state, but the state records %q", what, got)
		}
	case sameSnapshot(snap, sc.after) == "":
		stats.after++
		if got != strings.Join(sc.instAfter, ",") {
			t.Errorf("%s: tree is the new state, but the state records %q", what, got)
		}
	default:
		stats.mixed++
		t.Errorf("%s: MIXED tree:\nvs before:\n%s\nvs after:\n%s", what, sameSnapshot(sc.before, snap), sameSnapshot(sc.after, snap))
	}
	if _, err := os.Stat(filepath.Join(root, StateDirName, journalFile)); err == nil {
		t.Errorf("%s: journal left after recovery", what)
	}
	if ents, _ := os.ReadDir(filepath.Join(root, StateDirName, stagingDir)); len(ents) != 0 {
		t.Errorf("%s: staging left after recovery", what)
	}
}

func (sc *crashScenario) run(t *testing.T, full bool, random, stride int) crashStats {
	var stats crashStats
	work := crashTempDir(t)
	fresh := func(i int) string {
		r := filepath.Join(work, fmt.Sprintf("r%d", i))
		copyTree(t, sc.template, r)
		return r
	}
	root := fresh(0)
	n, killed := runHelper(t, sc.op, root, sc.pkb, 0, 0)
	if killed || n == 0 {
		t.Fatalf("uninterrupted run: %d steps, killed %v", n, killed)
	}
	sc.checkOutcome(t, root, &stats, "uninterrupted")
	if stats.after != 1 {
		t.Fatalf("uninterrupted %s did not reach the new state", sc.op)
	}
	stats = crashStats{}
	os.RemoveAll(root)
	for k := 1; k <= n; k += stride {
		root := fresh(k)
		if _, killed := runHelper(t, sc.op, root, sc.pkb, k, 0); !killed {
			t.Fatalf("k=%d of %d: not killed", k, n)
		}
		if full {
			// Kill the recovery itself once, at a step that varies with k.
			if _, killed := runHelper(t, "recover", root, "", 1+k%7, 0); killed {
				stats.recoveryKills++
			}
		}
		sc.checkOutcome(t, root, &stats, fmt.Sprintf("%s k=%d", sc.name, k))
		os.RemoveAll(root)
	}
	// Random-time kills across the uninterrupted run time.
	start := time.Now()
	runHelper(t, sc.op, fresh(-1), sc.pkb, 0, 0)
	dur := time.Since(start)
	for i := 0; i < random; i++ {
		root := fresh(n + 1 + i)
		runHelper(t, sc.op, root, sc.pkb, 0, time.Duration(rand.Int64N(int64(dur))))
		sc.checkOutcome(t, root, &stats, fmt.Sprintf("%s random %d", sc.name, i))
		os.RemoveAll(root)
	}
	t.Logf("%s: %d steps; %d kill points: %d old state, %d new state, %d mixed; %d more kills during recovery", sc.name, n, stats.points, stats.before, stats.after, stats.mixed, stats.recoveryKills)
	return stats
}

// crashScenarios builds apply, remove and supersede scenarios from base and two targets.
func crashScenarios(t *testing.T, base, t1, t2, component string, noDelta bool) []*crashScenario {
	work := t.TempDir()
	pin := func(o *bundle.CreateOptions) { o.PinUnchanged, o.NoDelta = true, noDelta }
	a := makeBundle(t, base, t1, component, 1, pin)
	b := makeBundle(t, base, t2, component, 2, pin)
	pa, pb := filepath.Join(work, "a.pkb"), filepath.Join(work, "b.pkb")
	os.WriteFile(pa, a, 0o644)
	os.WriteFile(pb, b, 0o644)
	ra, _ := bundle.NewReader(bytes.NewReader(a))
	rb, _ := bundle.NewReader(bytes.NewReader(b))
	da, db := ra.Digest(), rb.Digest()
	snapBase, snap1, snap2 := snapshot(t, base), snapshot(t, t1), snapshot(t, t2)

	clean := filepath.Join(work, "clean")
	copyTree(t, base, clean)
	tg, err := Open(context.Background(), clean, nil) // the state directory exists in every template
	if err != nil {
		t.Fatal(err)
	}
	tg.Close()
	withA := filepath.Join(work, "with-a")
	copyTree(t, clean, withA)
	if _, err := apply(t, withA, a); err != nil {
		t.Fatal(err)
	}
	return []*crashScenario{
		{name: "apply", template: clean, op: "apply", pkb: pa, before: snapBase, after: snap1, instAfter: []string{da}},
		{name: "remove", template: withA, op: "remove", before: snap1, after: snapBase, instBefore: []string{da}},
		{name: "supersede", template: withA, op: "apply", pkb: pb, before: snap1, after: snap2, instBefore: []string{da}, instAfter: []string{db}},
	}
}

func runCrash(t *testing.T, scs []*crashScenario, stride int) crashStats {
	full := os.Getenv("PATCHKIT_CRASH_FULL") != ""
	random := 5
	switch {
	case full:
		random, stride = 50, 1
	case raceEnabled:
		// Helper processes start slowly under -race: only a sample of one scenario
		// runs, to keep the harness itself race-checked. The run without -race
		// covers every k.
		random, stride = 1, 8
		scs = scs[len(scs)-1:]
	}
	var total crashStats
	for _, sc := range scs {
		t.Run(sc.name, func(t *testing.T) {
			s := sc.run(t, full, random, stride)
			total.points += s.points
			total.recoveryKills += s.recoveryKills
			total.before += s.before
			total.after += s.after
			total.mixed += s.mixed
		})
	}
	return total
}

func TestCrashSynthetic(t *testing.T) {
	d := t.TempDir()
	base, t1, t2 := filepath.Join(d, "base"), filepath.Join(d, "t1"), filepath.Join(d, "t2")
	makeTree(t, base, synthBase)
	makeTree(t, t1, synthTarget)
	makeTree(t, t2, synthTarget2)
	s := runCrash(t, crashScenarios(t, base, t1, t2, "foo", false), 1)
	t.Logf("synthetic total: %d kill points, %d old, %d new, %d mixed; %d more kills during recovery", s.points, s.before, s.after, s.mixed, s.recoveryKills)
}

// crashTempDir is a temporary directory for the crash test's many tree copies: on a
// tmpfs when there is one (fsync is free there; a SIGKILL loses nothing a disk would
// keep), else t.TempDir. PATCHKIT_CRASH_TMP overrides.
func crashTempDir(t *testing.T) string {
	parent := os.Getenv("PATCHKIT_CRASH_TMP")
	if parent == "" {
		if fi, err := os.Stat("/dev/shm"); err == nil && fi.IsDir() {
			parent = "/dev/shm"
		}
	}
	if parent == "" {
		return t.TempDir()
	}
	d, err := os.MkdirTemp(parent, "patchkit-crash-")
	if err != nil {
		return t.TempDir()
	}
	t.Cleanup(func() { os.RemoveAll(d) })
	return d
}

func TestCrashCorpus(t *testing.T) {
	trees := testcorpus.Trees(t, "libssl3", "3.0.17-1~deb12u2", "3.0.20-1~deb12u2", "3.0.22-1~deb12u2")
	if testing.Short() {
		t.Skip("-short")
	}
	if raceEnabled && os.Getenv("PATCHKIT_CRASH_FULL") == "" {
		t.Skip("-race: the corpus crash test runs without -race (or with PATCHKIT_CRASH_FULL=1)")
	}
	base, a, b := trees[0], trees[1], trees[2]
	// Quick: every third step (the synthetic test covers every step of the same code);
	// PATCHKIT_CRASH_FULL=1: every step, kills during recovery, more random kills.
	// Quick runs store whole files: encoding deltas of libcrypto takes longer than the
	// kills (the synthetic trees and the full run cover delta payloads).
	full := os.Getenv("PATCHKIT_CRASH_FULL") != ""
	s := runCrash(t, crashScenarios(t, base, a, b, "libssl3", !full), 3)
	t.Logf("libssl3 total: %d kill points, %d old, %d new, %d mixed; %d more kills during recovery", s.points, s.before, s.after, s.mixed, s.recoveryKills)
}
