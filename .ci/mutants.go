// Command mutants applies the hand-written mutants of .ci/mutants.txt, one at
// a time, to a throwaway copy of the repository, runs the tests of the
// mutated package on each, and reports the mutants no test killed.
//
//	go run .ci/mutants.go [-list .ci/mutants.txt] [-only REGEXP] [-keep]
//
// A mutant is a block of lines:
//
//	mutant  rollout-open-to-max
//	file    internal/run/scheduler.go
//	find    s.window = min(s.window+s.opts.RolloutStep, s.opts.MaxParallel)
//	replace s.window = s.opts.MaxParallel
//	explain why surviving is acceptable (optional)
//
// A mutant may have several find and replace pairs, applied in order. Each
// find must occur exactly once in file, so that a mutant that no longer
// matches the code is an error, not a silent pass. A survivor with an
// explain line is reported but accepted; any other survivor, or a mutant
// that does not build, makes the command exit 1. The worktree is never
// modified: everything happens in a copy under the temporary directory.
package main

import (
	"bufio"
	"bytes"
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"time"
)

type mutant struct {
	name, file, explain string
	edits               []edit
	line                int // in the list, for messages
}

type edit struct{ find, replace string }

type result struct {
	m       mutant
	outcome string // killed, survived, explained, broken
	took    time.Duration
	detail  string
}

func main() {
	list := flag.String("list", ".ci/mutants.txt", "the list of mutants")
	only := flag.String("only", "", "run only the mutants whose name matches this regular expression")
	keep := flag.Bool("keep", false, "keep the throwaway copy and print where it is")
	timeout := flag.Duration("timeout", 10*time.Minute, "go test -timeout for each mutant")
	flag.Parse()
	if err := run(*list, *only, *keep, *timeout); err != nil {
		fmt.Fprintln(os.Stderr, "mutants:", err)
		os.Exit(1)
	}
}

func run(list, only string, keep bool, timeout time.Duration) error {
	ms, err := parse(list)
	if err != nil {
		return err
	}
	if only != "" {
		re, err := regexp.Compile(only)
		if err != nil {
			return fmt.Errorf("-only: %w", err)
		}
		var kept []mutant
		for _, m := range ms {
			if re.MatchString(m.name) {
				kept = append(kept, m)
			}
		}
		ms = kept
	}
	dir, err := copyRepo()
	if err != nil {
		return err
	}
	if keep {
		fmt.Println("copy:", dir)
	} else {
		defer os.RemoveAll(dir)
	}
	start := time.Now()
	var results []result
	for _, m := range ms {
		r := try(dir, m, timeout)
		fmt.Printf("%-9s %-40s %s %6.1fs%s\n", r.outcome, m.name, "./"+filepath.Dir(m.file), r.took.Seconds(), r.detail)
		results = append(results, r)
	}
	return report(results, time.Since(start))
}

// parse reads the list of mutants.
func parse(path string) ([]mutant, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var ms []mutant
	var cur *mutant
	sc := bufio.NewScanner(f)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		key, val, _ := strings.Cut(line, " ")
		val = strings.TrimSpace(val)
		if key == "mutant" {
			ms = append(ms, mutant{name: val, line: n})
			cur = &ms[len(ms)-1]
			continue
		}
		if cur == nil {
			return nil, fmt.Errorf("%s:%d: %q before the first mutant line", path, n, key)
		}
		switch key {
		case "file":
			cur.file = val
		case "find":
			cur.edits = append(cur.edits, edit{find: unescape(val)})
		case "replace":
			if len(cur.edits) == 0 || cur.edits[len(cur.edits)-1].replace != "" {
				return nil, fmt.Errorf("%s:%d: replace without a find before it", path, n)
			}
			cur.edits[len(cur.edits)-1].replace = unescape(val)
		case "explain":
			cur.explain = strings.TrimSpace(cur.explain + " " + val)
		default:
			return nil, fmt.Errorf("%s:%d: unknown key %q; want file, find, replace or explain", path, n, key)
		}
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	seen := map[string]bool{}
	for _, m := range ms {
		if m.name == "" || m.file == "" || len(m.edits) == 0 || seen[m.name] {
			return nil, fmt.Errorf("%s:%d: mutant %q needs a unique name, a file and a find line", path, m.line, m.name)
		}
		seen[m.name] = true
	}
	return ms, nil
}

// unescape turns \n and \t in a find or replace line into a newline and a tab.
func unescape(s string) string {
	return strings.NewReplacer(`\n`, "\n", `\t`, "\t").Replace(s)
}

// copyRepo copies the files git knows (tracked, or untracked and not ignored)
// to a temporary directory.
func copyRepo() (string, error) {
	out, err := exec.Command("git", "ls-files", "-z", "--cached", "--others", "--exclude-standard").Output()
	if err != nil {
		return "", fmt.Errorf("git ls-files (run from the repository's root): %w", err)
	}
	dir, err := os.MkdirTemp("", "promote-mutants-")
	if err != nil {
		return "", err
	}
	for _, name := range strings.Split(strings.TrimSuffix(string(out), "\x00"), "\x00") {
		if err := copyFile(name, filepath.Join(dir, name)); err != nil {
			if os.IsNotExist(err) {
				continue // deleted in the worktree, not yet in the index
			}
			os.RemoveAll(dir)
			return "", err
		}
	}
	return dir, nil
}

func copyFile(from, to string) error {
	in, err := os.Open(from)
	if err != nil {
		return err
	}
	defer in.Close()
	info, err := in.Stat()
	if err != nil || info.IsDir() {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(to), 0o755); err != nil {
		return err
	}
	out, err := os.OpenFile(to, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, info.Mode().Perm())
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}

// try applies one mutant in dir, runs its package's tests and restores the
// file.
func try(dir string, m mutant, timeout time.Duration) result {
	path := filepath.Join(dir, m.file)
	orig, err := os.ReadFile(path)
	if err != nil {
		return result{m: m, outcome: "broken", detail: ": " + err.Error()}
	}
	mutated := orig
	for _, e := range m.edits {
		if n := bytes.Count(mutated, []byte(e.find)); n != 1 {
			return result{m: m, outcome: "broken", detail: fmt.Sprintf(": %q occurs %d times in %s, want once", e.find, n, m.file)}
		}
		mutated = bytes.Replace(mutated, []byte(e.find), []byte(e.replace), 1)
	}
	if err := os.WriteFile(path, mutated, 0o644); err != nil {
		return result{m: m, outcome: "broken", detail: ": " + err.Error()}
	}
	defer os.WriteFile(path, orig, 0o644)

	pkg := "./" + filepath.Dir(m.file)
	start := time.Now()
	if out, err := goCmd(dir, timeout, "vet", pkg); err != nil {
		return result{m: m, outcome: "broken", took: time.Since(start), detail: ": does not build or vet:\n" + indent(out)}
	}
	// -short: the long randomized runs (TestFaultedPromotions) run their
	// short form; every other test runs in full.
	out, err := goCmd(dir, timeout, "test", "-short", "-count=1", "-timeout", timeout.String(), pkg)
	r := result{m: m, took: time.Since(start)}
	switch {
	case err != nil:
		r.outcome = "killed"
		r.detail = " by " + failedTests(out)
	case m.explain != "":
		r.outcome = "explained"
	default:
		r.outcome = "survived"
	}
	return r
}

func goCmd(dir string, timeout time.Duration, args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), timeout+time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "go", args...)
	cmd.Dir = dir
	var b bytes.Buffer
	cmd.Stdout, cmd.Stderr = &b, &b
	err := cmd.Run()
	return b.String(), err
}

var failRE = regexp.MustCompile(`(?m)^\s*--- FAIL: (\S+)`)

// failedTests names the failed tests in go test's output, or says how it
// failed otherwise (a panic, a timeout).
func failedTests(out string) string {
	seen := map[string]bool{}
	var names []string
	for _, m := range failRE.FindAllStringSubmatch(out, -1) {
		top, _, _ := strings.Cut(m[1], "/")
		if !seen[top] {
			seen[top] = true
			names = append(names, top)
		}
	}
	switch {
	case len(names) > 0:
		return strings.Join(names, ", ")
	case strings.Contains(out, "panic:"):
		return "a panic"
	case strings.Contains(out, "test timed out"):
		return "a timeout"
	}
	return "a failure"
}

func indent(s string) string {
	return "    " + strings.ReplaceAll(strings.TrimSpace(s), "\n", "\n    ")
}

// report prints the survivors per package and fails on unexplained ones.
func report(results []result, took time.Duration) error {
	type tally struct{ total, killed, explained, survived, broken int }
	pkgs := map[string]*tally{}
	var bad []string
	for _, r := range results {
		pkg := "./" + filepath.Dir(r.m.file)
		t := pkgs[pkg]
		if t == nil {
			t = &tally{}
			pkgs[pkg] = t
		}
		t.total++
		switch r.outcome {
		case "killed":
			t.killed++
		case "explained":
			t.explained++
		case "survived":
			t.survived++
			bad = append(bad, "survived: "+r.m.name)
		case "broken":
			t.broken++
			bad = append(bad, "broken: "+r.m.name+r.detail)
		}
	}
	names := make([]string, 0, len(pkgs))
	for p := range pkgs {
		names = append(names, p)
	}
	sort.Strings(names)
	fmt.Printf("\n%-22s %7s %7s %10s %9s %7s\n", "package", "mutants", "killed", "explained", "survived", "broken")
	for _, p := range names {
		t := pkgs[p]
		fmt.Printf("%-22s %7d %7d %10d %9d %7d\n", p, t.total, t.killed, t.explained, t.survived, t.broken)
	}
	fmt.Printf("%d mutants in %s\n", len(results), took.Round(time.Second))
	if len(bad) > 0 {
		return fmt.Errorf("%d mutants need a test or an explain line:\n  %s", len(bad), strings.Join(bad, "\n  "))
	}
	return nil
}
