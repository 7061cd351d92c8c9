package policy

import (
	"cmp"
	"context"
	"fmt"
	"io/fs"
	"slices"
	"strings"
	"time"

	"github.com/open-policy-agent/opa/v1/tester"
)

// TestResult is the outcome of one OPA test, a rule test_* of a *_test.rego
// file.
type TestResult struct {
	// Package is the test's package, e.g. "promote.mesh.mtls_test".
	Package string
	Name    string
	File    string
	Line    int
	// Fail is set when the test was undefined or false, Err when its
	// evaluation failed; Skip when its name starts with todo_.
	Fail bool
	Skip bool
	Err  error
	// Output is what the test printed with print().
	Output   string
	Duration time.Duration
}

// Passed reports whether the test ran and passed.
func (r TestResult) Passed() bool { return !r.Fail && !r.Skip && r.Err == nil }

// String formats r as file:line: package.name: PASS, FAIL, SKIP or ERROR.
func (r TestResult) String() string {
	outcome := "PASS"
	switch {
	case r.Err != nil:
		outcome = "ERROR: " + r.Err.Error()
	case r.Fail:
		outcome = "FAIL"
	case r.Skip:
		outcome = "SKIP"
	}
	return fmt.Sprintf("%s:%d: %s.%s: %s", r.File, r.Line, r.Package, r.Name, outcome)
}

// Test runs the OPA tests of the same files Load reads (*_test.rego files
// included) with OPA's test runner, as `opa test` would. The results are
// sorted by file and line. Problems that keep the files from compiling come
// back as a *CompileError.
func Test(ctx context.Context, embedded fs.FS, root string, dirs []string) ([]TestResult, error) {
	srcs, err := read(embedded, root, dirs, true)
	if err != nil {
		return nil, err
	}
	modules, err := parse(srcs)
	if err != nil {
		return nil, err
	}
	ch, err := tester.NewRunner().
		SetCompiler(newCompiler(true)).
		SetModules(modules).
		CapturePrintOutput(true).
		RaiseBuiltinErrors(true).
		RunTests(ctx, nil)
	if err != nil {
		return nil, &CompileError{Problems: sortProblems(problems(err))}
	}
	var results []TestResult
	for r := range ch {
		tr := TestResult{
			Package:  strings.TrimPrefix(r.Package, "data."),
			Name:     r.Name,
			Fail:     r.Fail,
			Skip:     r.Skip,
			Err:      r.Error,
			Output:   string(r.Output),
			Duration: r.Duration,
		}
		if r.Location != nil {
			tr.File, tr.Line = r.Location.File, r.Location.Row
		}
		results = append(results, tr)
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	slices.SortFunc(results, func(a, b TestResult) int {
		return cmp.Or(strings.Compare(a.File, b.File), a.Line-b.Line, strings.Compare(a.Name, b.Name))
	})
	return results, nil
}
