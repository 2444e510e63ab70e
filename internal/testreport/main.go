// Command testreport reads "go test -json" on stdin, prints what plain "go test" would
// (a line per package, the output of failed tests), and appends the events to a log,
// so that scripts/test.sh can say at the end which tests were skipped, and why:
//
//	go test -json ./... | go run ./internal/testreport -log FILE
//	go run ./internal/testreport -summary FILE
//
// A test counts as skipped only when it was skipped in every run of the log: the
// corpus tests skipped under -race and run without it are not.
package main

import (
	"bufio"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"
)

type event struct {
	Action  string  `json:"Action"`
	Package string  `json:"Package"`
	Test    string  `json:"Test"`
	Output  string  `json:"Output"`
	Elapsed float64 `json:"Elapsed"`
}

func main() {
	log := flag.String("log", "", "append the events read on stdin to this file")
	summary := flag.String("summary", "", "print the skipped tests of this log and exit")
	flag.Parse()
	if *summary != "" {
		os.Exit(summarize(*summary))
	}
	if *log == "" {
		fmt.Fprintln(os.Stderr, "testreport: give -log FILE or -summary FILE")
		os.Exit(2)
	}
	f, err := os.OpenFile(*log, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
	if err != nil {
		fmt.Fprintln(os.Stderr, "testreport:", err)
		os.Exit(1)
	}
	defer f.Close()
	os.Exit(report(os.Stdin, f, os.Stdout))
}

// report echoes a go test -json stream the way go test prints it and logs every event.
// It returns 1 when a test or package failed.
func report(in io.Reader, log io.Writer, out io.Writer) int {
	output := map[string][]string{} // package/test -> its output lines
	failed := 0
	sc := bufio.NewScanner(in)
	sc.Buffer(make([]byte, 1<<20), 16<<20)
	for sc.Scan() {
		line := sc.Bytes()
		var e event
		if err := json.Unmarshal(line, &e); err != nil {
			fmt.Fprintf(out, "%s\n", line) // build errors and the like are not JSON
			continue
		}
		fmt.Fprintf(log, "%s\n", line)
		key := e.Package + "/" + e.Test
		switch e.Action {
		case "output":
			output[key] = append(output[key], e.Output)
		case "fail":
			failed = 1
			if e.Test != "" {
				fmt.Fprintf(out, "--- FAIL: %s (%s)\n%s", e.Test, e.Package, strings.Join(output[key], ""))
			} else {
				fmt.Fprintf(out, "FAIL\t%s\t%.1fs\n%s", e.Package, e.Elapsed, tailLines(output[key], 20))
			}
			delete(output, key)
		case "pass", "skip":
			if e.Test == "" {
				status := "ok  "
				if e.Action == "skip" {
					status = "?   "
				}
				fmt.Fprintf(out, "%s\t%s\t%.1fs\n", status, e.Package, e.Elapsed)
			}
			if e.Action == "pass" {
				delete(output, key)
			}
		}
	}
	if err := sc.Err(); err != nil {
		fmt.Fprintln(out, "testreport:", err)
		return 1
	}
	return failed
}

func tailLines(lines []string, n int) string {
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "")
}

// summarize prints every test skipped in all the runs of the log, with the reason it
// gave (the last line it logged before skipping), and the counts.
func summarize(path string) int {
	f, err := os.Open(path)
	if err != nil {
		fmt.Fprintln(os.Stderr, "testreport:", err)
		return 1
	}
	defer f.Close()
	type result struct {
		ran, skipped bool
		reason       string
	}
	results := map[string]*result{}
	last := map[string]string{}
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 16<<20)
	for sc.Scan() {
		var e event
		if json.Unmarshal(sc.Bytes(), &e) != nil || e.Test == "" {
			continue
		}
		key := e.Package + " " + e.Test
		r := results[key]
		if r == nil {
			r = &result{}
			results[key] = r
		}
		switch e.Action {
		case "output":
			if s := strings.TrimSpace(e.Output); s != "" && !strings.HasPrefix(s, "=== ") && !strings.HasPrefix(s, "--- ") {
				last[key] = s
			}
		case "pass", "fail":
			r.ran = true
		case "skip":
			r.skipped = true
			if r.reason == "" {
				r.reason = last[key]
			}
		}
	}
	var skipped []string
	ran := 0
	for key, r := range results {
		switch {
		case r.ran:
			ran++
		case r.skipped:
			skipped = append(skipped, fmt.Sprintf("  %s: %s", key, r.reason))
		}
	}
	sort.Strings(skipped)
	fmt.Printf("%d tests ran; %d skipped in every run", ran, len(skipped))
	if len(skipped) == 0 {
		fmt.Println()
		return 0
	}
	fmt.Println(":")
	fmt.Println(strings.Join(skipped, "\n"))
	return 0
}
