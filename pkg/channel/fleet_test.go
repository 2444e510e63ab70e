package channel

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/patchkit/patchkit/pkg/install"
)

var (
	fleetSizes       = flag.String("fleet", "100", "comma-separated fleet sizes for TestFleet (docs/channels.md uses 100,1000,10000)")
	fleetConcurrency = flag.Int("fleet-concurrency", 1000, "machines of TestFleet in flight at once (each holds a lock file and two directory descriptors)")
)

// countingTransport counts requests and response bytes (headers excluded) through it.
type countingTransport struct {
	rt       http.RoundTripper
	requests atomic.Int64
}

func (c *countingTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	c.requests.Add(1)
	return c.rt.RoundTrip(req)
}

// cpuTicks returns the user+system CPU clock ticks (1/100 s) of process pid.
func cpuTicks(t testing.TB, pid int) int64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		t.Logf("no /proc: registry CPU not measured: %v", err)
		return 0
	}
	f := strings.Fields(string(b[strings.LastIndexByte(string(b), ')')+2:]))
	u, _ := strconv.ParseInt(f[11], 10, 64)
	s, _ := strconv.ParseInt(f[12], 10, 64)
	return u + s
}

// phase is the measured outcome of one fleet run.
type phase struct {
	Name        string  `json:"name"`
	Machines    int     `json:"machines"`
	WallSeconds float64 `json:"wall_seconds"`
	P50ms       float64 `json:"p50_ms"`
	P99ms       float64 `json:"p99_ms"`
	IndexP50ms  float64 `json:"index_p50_ms"` // resolving, fetching and verifying the index
	IndexP99ms  float64 `json:"index_p99_ms"`
	PerSecond   float64 `json:"machines_per_second"`
	BytesPerM   float64 `json:"bytes_per_machine"`
	ReqPerM     float64 `json:"requests_per_machine"`
	RegistryCPU float64 `json:"registry_cpu_seconds"`
	Failures    int64   `json:"failures"`
}

// TestFleet simulates a fleet: N goroutine machines run update --check on one shared
// read-only base tree (each with its own state), then, each with its own root (a copy
// of the small base tree), update --check, update (download and install) and update
// again (up to date) against the loopback registry. It reports
// latency p50/p99, machines per second, bytes and requests per machine and the
// registry's CPU time per phase. go test ./pkg/channel -run TestFleet -v -fleet 100,1000,10000
func TestFleet(t *testing.T) {
	if testing.Short() {
		t.Skip("-short")
	}
	f := newFixture(t)
	var all []phase
	for _, s := range strings.Split(*fleetSizes, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(s))
		if err != nil || n < 1 {
			t.Fatalf("-fleet %q", *fleetSizes)
		}
		all = append(all, runFleet(t, f, n)...)
	}
	t.Logf("%-8s %7s %8s %8s %8s %9s %9s %10s %9s %8s %9s", "phase", "N", "wall s", "p50 ms", "p99 ms", "idx p50", "idx p99", "machines/s", "bytes/m", "req/m", "reg CPU s")
	for _, p := range all {
		t.Logf("%-8s %7d %8.2f %8.1f %8.1f %9.1f %9.1f %10.0f %9.0f %8.1f %9.2f", p.Name, p.Machines, p.WallSeconds, p.P50ms, p.P99ms, p.IndexP50ms, p.IndexP99ms, p.PerSecond, p.BytesPerM, p.ReqPerM, p.RegistryCPU)
		if p.Failures > 0 {
			t.Errorf("%s N=%d: %d machines failed", p.Name, p.Machines, p.Failures)
		}
	}
	if out := os.Getenv("PATCHKIT_FLEET_OUT"); out != "" {
		b, _ := json.MarshalIndent(all, "", "  ")
		os.WriteFile(out, append(b, '\n'), 0o644)
	}
}

func runFleet(t *testing.T, f *fixture, n int) []phase {
	ctx := context.Background()
	dir := t.TempDir()
	roots := make([]string, n)
	for i := range roots {
		roots[i] = filepath.Join(dir, strconv.Itoa(i))
		writeTree(t, roots[i], baseFiles)
	}
	// "shared": every machine checks one base tree, which --check never writes, with its
	// own state directory (as diskless or image-based machines sharing a base would).
	// (Its files keep their modes: the release identity includes them.)
	shared := filepath.Join(dir, "shared")
	writeTree(t, shared, baseFiles)
	// One connection pool for the fleet (each machine has its own auth session): the
	// registry sees at most 256 connections, as behind a load balancer.
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.MaxConnsPerHost, tr.MaxIdleConnsPerHost = 256, 256
	ct := &countingTransport{rt: tr}
	hc := &http.Client{Transport: ct, Timeout: 60 * time.Second}
	var out []phase
	for _, name := range []string{"shared", "check", "install", "noop"} {
		lat, ilat := make([]time.Duration, n), make([]time.Duration, n)
		var bytes, failures atomic.Int64
		var firstErr atomic.Value
		req0, cpu0 := ct.requests.Load(), cpuTicks(t, f.reg.Pid())
		start := time.Now()
		var wg sync.WaitGroup
		sem := make(chan struct{}, *fleetConcurrency)
		for i := 0; i < n; i++ {
			wg.Add(1)
			go func(i int) {
				defer wg.Done()
				sem <- struct{}{}
				defer func() { <-sem }()
				t0 := time.Now()
				repo := f.open(t, &Options{HTTPClient: hc})
				root, io := roots[i], &install.Options{LockTimeout: time.Minute}
				if name == "shared" {
					root, io.StateDir = shared, filepath.Join(dir, "state-"+strconv.Itoa(i))
				}
				tg, err := install.Open(ctx, root, io)
				if err == nil {
					var rep *Report
					rep, err = Update(ctx, repo, tg, &UpdateOptions{Policy: f.policy, Check: name == "check" || name == "shared", Root: root})
					tg.Close()
					if rep != nil {
						ilat[i] = rep.IndexTime
					}
					if err == nil && (name == "noop") != (len(rep.Actions) == 0) {
						err = fmt.Errorf("%s: %d actions", name, len(rep.Actions))
					}
				}
				lat[i] = time.Since(t0)
				bytes.Add(repo.BytesFetched())
				if err != nil {
					failures.Add(1)
					firstErr.CompareAndSwap(nil, err)
				}
			}(i)
		}
		wg.Wait()
		wall := time.Since(start)
		if e := firstErr.Load(); e != nil {
			t.Logf("%s N=%d: first failure: %v", name, n, e)
		}
		sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
		sort.Slice(ilat, func(i, j int) bool { return ilat[i] < ilat[j] })
		ms := func(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
		out = append(out, phase{
			Name: name, Machines: n, WallSeconds: wall.Seconds(),
			P50ms: ms(lat[n/2]), P99ms: ms(lat[min(n-1, n*99/100)]), IndexP50ms: ms(ilat[n/2]), IndexP99ms: ms(ilat[min(n-1, n*99/100)]), PerSecond: float64(n) / wall.Seconds(),
			BytesPerM: float64(bytes.Load()) / float64(n), ReqPerM: float64(ct.requests.Load()-req0) / float64(n),
			RegistryCPU: float64(cpuTicks(t, f.reg.Pid())-cpu0) / 100, Failures: failures.Load(),
		})
	}
	return out
}
