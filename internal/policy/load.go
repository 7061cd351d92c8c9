package policy

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"github.com/open-policy-agent/opa/v1/ast"
)

// embeddedPrefix marks the files of the embedded policies in positions, so
// that they cannot be confused with a user's files.
const embeddedPrefix = "promote:"

// CompileError lists every problem that keeps the policies from compiling,
// each at its position. The problems are in the policies, so a CLI reports
// it as bad input.
type CompileError struct {
	Problems []Problem
}

// Problem is one problem in a policy file. Line and Col are 1-based and zero
// when unknown.
type Problem struct {
	File      string
	Line, Col int
	Message   string
}

// String formats p as file:line:col: message.
func (p Problem) String() string {
	var pos string
	switch {
	case p.File == "":
	case p.Line == 0:
		pos = p.File + ": "
	case p.Col == 0:
		pos = p.File + ":" + strconv.Itoa(p.Line) + ": "
	default:
		pos = p.File + ":" + strconv.Itoa(p.Line) + ":" + strconv.Itoa(p.Col) + ": "
	}
	return pos + p.Message
}

func (e *CompileError) Error() string {
	var b strings.Builder
	if len(e.Problems) == 1 {
		b.WriteString("1 problem in the Rego policies; fix it (`opa check DIR` shows the same):")
	} else {
		fmt.Fprintf(&b, "%d problems in the Rego policies; fix them (`opa check DIR` shows the same):", len(e.Problems))
	}
	for _, p := range e.Problems {
		b.WriteString("\n")
		b.WriteString(p.String())
	}
	return b.String()
}

// problems converts OPA's errors, which carry their positions.
func problems(err error) []Problem {
	var errs ast.Errors
	if !errors.As(err, &errs) {
		return []Problem{{Message: err.Error()}}
	}
	ps := make([]Problem, 0, len(errs))
	for _, e := range errs {
		p := Problem{Message: e.Code + ": " + e.Message}
		if e.Location != nil {
			p.File, p.Line, p.Col = e.Location.File, e.Location.Row, e.Location.Col
		}
		if e.Details != nil {
			for _, l := range e.Details.Lines() {
				p.Message += "\n\t" + l
			}
		}
		ps = append(ps, p)
	}
	return ps
}

// source is one Rego file to parse: its name in positions and its text.
type source struct {
	name string
	text []byte
	// dir is the user directory the file was found in, "" when embedded.
	dir string
}

// readEmbedded reads the *.rego files under root in fsys, tests too when
// tests is set.
func readEmbedded(fsys fs.FS, root string, tests bool) ([]source, error) {
	var srcs []source
	err := fs.WalkDir(fsys, root, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || !isRego(p, tests) {
			return err
		}
		text, err := fs.ReadFile(fsys, p)
		if err != nil {
			return err
		}
		srcs = append(srcs, source{name: embeddedPrefix + p, text: text})
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("reading the embedded policies under %q: %w", root, err)
	}
	return srcs, nil
}

// readDirs reads the *.rego files found recursively in each of dirs (or a
// single file given in dirs), tests too when tests is set.
func readDirs(dirs []string, tests bool) ([]source, error) {
	var srcs []source
	seen := map[string]bool{}
	for _, dir := range dirs {
		info, err := os.Stat(dir)
		if errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("no policy directory %q; check the path given to --policy: %w", dir, fs.ErrNotExist)
		}
		if err != nil {
			return nil, err
		}
		if !info.IsDir() && !isRego(dir, tests) {
			return nil, fmt.Errorf("policy path %q is neither a directory nor a .rego file", dir)
		}
		n := len(srcs)
		err = filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
			if err != nil || d.IsDir() || !isRego(p, tests) {
				return err
			}
			if seen[filepath.Clean(p)] {
				return nil
			}
			seen[filepath.Clean(p)] = true
			text, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			srcs = append(srcs, source{name: p, text: text, dir: dir})
			return nil
		})
		if err != nil {
			return nil, fmt.Errorf("reading policy directory %q: %w", dir, err)
		}
		if len(srcs) == n && !seenUnder(seen, dir) {
			return nil, fmt.Errorf("policy directory %q holds no .rego policy files; a policy is a .rego file whose name does not end in _test.rego", dir)
		}
	}
	return srcs, nil
}

// seenUnder reports whether a file under dir was read already, when dir was
// also given inside another directory.
func seenUnder(seen map[string]bool, dir string) bool {
	prefix := filepath.Clean(dir) + string(filepath.Separator)
	for p := range seen {
		if p == filepath.Clean(dir) || strings.HasPrefix(p, prefix) {
			return true
		}
	}
	return false
}

func isRego(name string, tests bool) bool {
	if !strings.HasSuffix(name, ".rego") {
		return false
	}
	return tests || !strings.HasSuffix(name, "_test.rego")
}

// parse parses every source as Rego v1, with its METADATA annotations, and
// reports every problem of every file at once.
func parse(srcs []source) (map[string]*ast.Module, error) {
	modules := make(map[string]*ast.Module, len(srcs))
	var ps []Problem
	for _, s := range srcs {
		m, err := ast.ParseModuleWithOpts(s.name, string(s.text), ast.ParserOptions{
			ProcessAnnotation: true,
			RegoVersion:       ast.RegoV1,
			Capabilities:      capabilities(),
		})
		if err != nil {
			ps = append(ps, problems(err)...)
			continue
		}
		modules[s.name] = m
	}
	if len(ps) > 0 {
		return nil, &CompileError{Problems: sortProblems(ps)}
	}
	return modules, nil
}

func sortProblems(ps []Problem) []Problem {
	slices.SortStableFunc(ps, func(a, b Problem) int {
		if c := strings.Compare(a.File, b.File); c != 0 {
			return c
		}
		if a.Line != b.Line {
			return a.Line - b.Line
		}
		return a.Col - b.Col
	})
	return ps
}

// networkBuiltins are the built-in functions that reach the network. A
// policy judges the document it is given and nothing else, so that a check
// gives the same answer on a laptop and in CI, and cannot leak what it reads.
var networkBuiltins = map[string]bool{
	"http.send":          true,
	"net.lookup_ip_addr": true,
}

// capabilities are OPA's built-ins less networkBuiltins: a policy that calls
// one fails to compile.
func capabilities() *ast.Capabilities {
	c := ast.CapabilitiesForThisVersion()
	c.Builtins = slices.DeleteFunc(c.Builtins, func(b *ast.Builtin) bool { return networkBuiltins[b.Name] })
	return c
}

// newCompiler returns a compiler with the policies' capabilities. Print
// statements are kept for tests, whose output shows them, and erased
// otherwise.
func newCompiler(print bool) *ast.Compiler {
	return ast.NewCompiler().
		WithCapabilities(capabilities()).
		WithDefaultRegoVersion(ast.RegoV1).
		WithEnablePrintStatements(print)
}

// rootRef is data.promote.<root>, the prefix of the policy packages.
func rootRef(root string) ast.Ref {
	return ast.Ref{ast.DefaultRootDocument, ast.StringTerm("promote"), ast.StringTerm(root)}
}

// packageName is how a package is named in results and messages:
// "promote.mesh.mtls".
func packageName(p ast.Ref) string {
	return strings.TrimPrefix(p.String(), "data.")
}
