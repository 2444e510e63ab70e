package main

import (
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/santhosh-tekuri/jsonschema/v6"
	"github.com/spf13/cobra"
)

// jsonLogEnv names the directory where the patchkit of the testscripts keeps a copy of
// every document it prints with --json.
const jsonLogEnv = "PATCHKIT_TEST_JSON_LOG"

// main1WithJSONLog runs main1, keeping a copy of stdout in $PATCHKIT_TEST_JSON_LOG when
// the command was given --json.
func main1WithJSONLog() int {
	dir := os.Getenv(jsonLogEnv)
	if dir == "" || !slices.Contains(os.Args, "--json") {
		return main1()
	}
	r, w, err := os.Pipe()
	if err != nil {
		panic(err)
	}
	real := os.Stdout
	os.Stdout = w
	var buf bytes.Buffer
	done := make(chan struct{})
	go func() { io.Copy(io.MultiWriter(real, &buf), r); close(done) }()
	code := main1()
	w.Close()
	<-done
	os.Stdout = real
	if buf.Len() > 0 {
		f, err := os.CreateTemp(dir, "doc-*.json")
		if err != nil {
			panic(err)
		}
		fmt.Fprintf(f, "%s\n", buf.Bytes())
		f.Close()
		os.WriteFile(f.Name()+".args", []byte(strings.Join(os.Args[1:], " ")), 0o644)
	}
	return code
}

var (
	jsonLogOnce sync.Once
	jsonLogDir  string
)

// jsonLog returns the directory the testscripts' --json documents go to, and checks
// them against docs/schema when TestScripts ends.
func jsonLog(t *testing.T) string {
	jsonLogOnce.Do(func() {
		jsonLogDir = t.TempDir()
		t.Cleanup(func() { checkSchemas(t, jsonLogDir) })
	})
	return jsonLogDir
}

const schemaDir = "../../docs/schema"

// schemaFor maps a document type to its schema file: patchkit.recall-apply/v1 ->
// recall-apply.v1.json.
func schemaFor(typ string) string {
	name := strings.TrimPrefix(typ, "patchkit.")
	return strings.Replace(name, "/", ".", 1) + ".json"
}

func compileSchemas(t *testing.T) (*jsonschema.Compiler, []string) {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(schemaDir, "*.json"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no schemas in %s: %v", schemaDir, err)
	}
	c := jsonschema.NewCompiler()
	var names []string
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(data))
		if err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		name := filepath.Base(f)
		if err := c.AddResource("https://patchkit.dev/schema/"+name, doc); err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		names = append(names, name)
	}
	return c, names
}

// checkSchemas validates every logged document against the schema of its type (a
// failure document against failure.v1.json), and checks every command schema was used.
func checkSchemas(t *testing.T, dir string) {
	if t.Failed() {
		return
	}
	c, names := compileSchemas(t)
	docs, _ := filepath.Glob(filepath.Join(dir, "doc-*.json"))
	used := map[string]int{}
	for _, p := range docs {
		data, _ := os.ReadFile(p)
		args, _ := os.ReadFile(p + ".args")
		var head struct {
			Type     string `json:"type"`
			ExitCode *int   `json:"exit_code"`
		}
		if err := json.Unmarshal(data, &head); err != nil {
			t.Errorf("patchkit %s: stdout is not one JSON document: %v\n%s", args, err, data)
			continue
		}
		name := schemaFor(head.Type)
		if head.ExitCode != nil {
			name = "failure.v1.json"
		}
		sch, err := c.Compile("https://patchkit.dev/schema/" + name)
		if err != nil {
			t.Errorf("patchkit %s: type %q: no schema %s: %v", args, head.Type, name, err)
			continue
		}
		inst, _ := jsonschema.UnmarshalJSON(bytes.NewReader(data))
		if err := sch.Validate(inst); err != nil {
			t.Errorf("patchkit %s: %s does not validate against %s:\n%v", args, data, name, err)
		}
		used[name]++
	}
	if run := flag.Lookup("test.run").Value.String(); strings.Contains(run, "/") {
		t.Logf("-run %s: some scripts did not run, so not every schema need be exercised", run)
		return
	}
	for _, n := range names {
		if n != "defs.json" && used[n] == 0 {
			t.Errorf("no testscript prints a %s document", n)
		}
	}
	t.Logf("%d --json documents checked against %d schemas", len(docs), len(names))
}

// TestSchemaPerCommand: every command with --json has a schema named after its type.
func TestSchemaPerCommand(t *testing.T) {
	t.Parallel()
	var walk func(*cobra.Command)
	walk = func(cmd *cobra.Command) {
		if cmd.Flags().Lookup("json") != nil {
			p := filepath.Join(schemaDir, schemaFor(reportType(cmd)))
			if _, err := os.Stat(p); err != nil {
				t.Errorf("%s --json: no schema %s", cmd.CommandPath(), p)
			}
		}
		for _, c := range cmd.Commands() {
			walk(c)
		}
	}
	walk(newRootCmd())
}
