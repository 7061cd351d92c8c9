package report

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"unicode"

	"github.com/promote-dev/promote/internal/mesh"
)

// SARIFOptions tells SARIF where the repository is and what to say about
// Promote.
type SARIFOptions struct {
	// Root is the root of the repository, absolute or relative to the
	// working directory; empty means the working directory. GitHub code
	// scanning matches results to files by their paths relative to the
	// repository root, so SARIF writes every file under Root that way.
	Root string
	// ToolVersion is the version of Promote; empty leaves it out.
	ToolVersion string
	// InformationURI is the web page that documents Promote; empty leaves
	// it out.
	InformationURI string
}

const (
	sarifSchema  = "https://docs.oasis-open.org/sarif/sarif/v2.1.0/errata01/os/schemas/sarif-schema-2.1.0.json"
	sarifVersion = "2.1.0"
	// srcRoot is the uriBaseId of files under SARIFOptions.Root, the name
	// GitHub's own tools give the checkout.
	srcRoot = "%SRCROOT%"
	// fingerprintKey names Promote's partial fingerprint. Its version
	// changes whenever what the fingerprint hashes changes, since GitHub
	// would otherwise see every alert as fixed and a new one opened.
	fingerprintKey = "promoteFinding/v1"
)

// The SARIF 2.1.0 objects SARIF writes, with only the properties it sets.
type (
	sarifLog struct {
		Schema  string     `json:"$schema"`
		Version string     `json:"version"`
		Runs    []sarifRun `json:"runs"`
	}
	sarifRun struct {
		Tool               sarifTool                        `json:"tool"`
		Invocations        []sarifInvocation                `json:"invocations"`
		OriginalURIBaseIDs map[string]sarifArtifactLocation `json:"originalUriBaseIds"`
		ColumnKind         string                           `json:"columnKind"`
		Results            []sarifResult                    `json:"results"`
	}
	sarifTool struct {
		Driver sarifDriver `json:"driver"`
	}
	sarifDriver struct {
		Name           string      `json:"name"`
		Version        string      `json:"version,omitempty"`
		InformationURI string      `json:"informationUri,omitempty"`
		Rules          []sarifRule `json:"rules"`
	}
	sarifRule struct {
		ID                   string              `json:"id"`
		Name                 string              `json:"name"`
		ShortDescription     sarifMessage        `json:"shortDescription"`
		FullDescription      *sarifMessage       `json:"fullDescription,omitempty"`
		Help                 *sarifMessage       `json:"help,omitempty"`
		DefaultConfiguration *sarifConfiguration `json:"defaultConfiguration,omitempty"`
		Properties           *sarifRuleProps     `json:"properties,omitempty"`
	}
	sarifConfiguration struct {
		Level string `json:"level"`
	}
	sarifRuleProps struct {
		Tags []string `json:"tags"`
	}
	sarifInvocation struct {
		ExecutionSuccessful bool `json:"executionSuccessful"`
	}
	sarifResult struct {
		RuleID              string            `json:"ruleId"`
		RuleIndex           int               `json:"ruleIndex"`
		Level               string            `json:"level"`
		Message             sarifMessage      `json:"message"`
		Locations           []sarifLocation   `json:"locations"`
		PartialFingerprints map[string]string `json:"partialFingerprints"`
		Properties          *sarifResultProps `json:"properties,omitempty"`
	}
	sarifResultProps struct {
		Resource string `json:"resource"`
	}
	// sarifMessage is a message or a multiformatMessageString.
	sarifMessage struct {
		Text     string `json:"text"`
		Markdown string `json:"markdown,omitempty"`
	}
	sarifLocation struct {
		PhysicalLocation sarifPhysicalLocation `json:"physicalLocation"`
	}
	sarifPhysicalLocation struct {
		ArtifactLocation sarifArtifactLocation `json:"artifactLocation"`
		Region           *sarifRegion          `json:"region,omitempty"`
	}
	sarifArtifactLocation struct {
		URI       string `json:"uri"`
		URIBaseID string `json:"uriBaseId,omitempty"`
	}
	sarifRegion struct {
		StartLine   int `json:"startLine"`
		StartColumn int `json:"startColumn,omitempty"`
	}
)

// SARIF writes the report as a SARIF 2.1.0 log for GitHub code scanning: one
// run of the tool "promote" whose rules are r.Rules, plus a minimal rule for
// any rule a finding names that r.Rules lacks, and one result per finding.
//
// A file is written as a URI relative to opts.Root with uriBaseId %SRCROOT%,
// which GitHub matches to the files of the repository; a file outside Root is
// relative to it too ("../shared/mesh.yaml") if it was named by a relative
// path, and an absolute file: URI if it was named by an absolute one.
// "<stdin>" stays "<stdin>". GitHub keeps results outside the repository but
// cannot show their source. Every result has a location, since GitHub
// rejects the whole log over one result without; a finding with no line has
// no region, which GitHub takes as a finding about the whole file.
//
// Each result has a partial fingerprint "promoteFinding/v1" that hashes its
// rule, file, resource and message, but not its line, so that GitHub tracks an
// alert across commits that move it; findings that would share one are told
// apart by their order, as ":1", ":2", and so on.
func SARIF(w io.Writer, r *mesh.Report, opts SARIFOptions) error {
	loc, err := newLocator(opts.Root)
	if err != nil {
		return err
	}
	log, err := sarifFor(r, opts, loc)
	if err != nil {
		return err
	}
	return writeJSON(w, log)
}

// sarifFor builds the SARIF log of r.
func sarifFor(r *mesh.Report, opts SARIFOptions, loc locator) (*sarifLog, error) {
	rules, ruleIndex := sarifRules(r)
	results := make([]sarifResult, 0, len(r.Findings))
	seen := make(map[string]int) // occurrences of each fingerprint hash
	for _, f := range r.Findings {
		level, ok := sarifLevel(f.Severity)
		if !ok {
			return nil, unknownSeverity(f)
		}
		art := loc.locate(f.File)
		phys := sarifPhysicalLocation{ArtifactLocation: art}
		if f.Line > 0 {
			phys.Region = &sarifRegion{StartLine: f.Line, StartColumn: f.Col}
		}
		hash := fingerprint(f, art.URI)
		seen[hash]++
		res := sarifResult{
			RuleID:              f.Rule,
			RuleIndex:           ruleIndex[f.Rule],
			Level:               level,
			Message:             sarifMessage{Text: f.Message},
			Locations:           []sarifLocation{{PhysicalLocation: phys}},
			PartialFingerprints: map[string]string{fingerprintKey: fmt.Sprintf("%s:%d", hash, seen[hash])},
		}
		if f.Resource != "" {
			res.Properties = &sarifResultProps{Resource: f.Resource}
		}
		results = append(results, res)
	}
	return &sarifLog{
		Schema:  sarifSchema,
		Version: sarifVersion,
		Runs: []sarifRun{{
			Tool: sarifTool{Driver: sarifDriver{
				Name:           "promote",
				Version:        opts.ToolVersion,
				InformationURI: opts.InformationURI,
				Rules:          rules,
			}},
			Invocations:        []sarifInvocation{{ExecutionSuccessful: true}},
			OriginalURIBaseIDs: map[string]sarifArtifactLocation{srcRoot: {URI: dirURI(loc.root)}},
			// Positions come from YAML nodes, whose columns count
			// characters rather than SARIF's default UTF-16 code units.
			ColumnKind: "unicodeCodePoints",
			Results:    results,
		}},
	}, nil
}

// sarifRules returns the rules of r, then a minimal rule for each rule that
// findings name but r.Rules lacks, sorted by ID, and the index of each rule
// by ID.
func sarifRules(r *mesh.Report) ([]sarifRule, map[string]int) {
	rules := make([]sarifRule, 0, len(r.Rules))
	index := make(map[string]int, len(r.Rules))
	for _, rule := range r.Rules {
		if _, dup := index[rule.ID]; dup {
			continue
		}
		index[rule.ID] = len(rules)
		rules = append(rules, sarifRuleFor(rule))
	}
	var missing []string
	for _, f := range r.Findings {
		if _, ok := index[f.Rule]; !ok && !slices.Contains(missing, f.Rule) {
			missing = append(missing, f.Rule)
		}
	}
	slices.Sort(missing)
	for _, id := range missing {
		index[id] = len(rules)
		rules = append(rules, sarifRuleFor(mesh.Rule{ID: id}))
	}
	return rules, index
}

// sarifRuleFor describes rule as a SARIF reportingDescriptor. What rule
// lacks is left out, except the short description, which falls back to the
// ID because GitHub shows it as the title of the rule's alerts.
func sarifRuleFor(rule mesh.Rule) sarifRule {
	sr := sarifRule{
		ID:               rule.ID,
		Name:             ruleName(rule.ID),
		ShortDescription: sarifMessage{Text: rule.ID},
	}
	if rule.Summary != "" {
		sr.ShortDescription.Text = rule.Summary
		sr.FullDescription = &sarifMessage{Text: rule.Summary}
	}
	if rule.Help != "" {
		sr.Help = &sarifMessage{Text: rule.Help, Markdown: rule.Help}
	}
	if level, ok := sarifLevel(rule.Severity); ok {
		sr.DefaultConfiguration = &sarifConfiguration{Level: level}
	}
	if rule.Layer != "" {
		sr.Properties = &sarifRuleProps{Tags: []string{string(rule.Layer)}}
	}
	return sr
}

// ruleName turns a rule ID such as "schema.unknown-field" into the
// identifier-like name SARIF asks for, "SchemaUnknownField".
func ruleName(id string) string {
	var b strings.Builder
	for _, word := range strings.FieldsFunc(id, func(r rune) bool { return !unicode.IsLetter(r) && !unicode.IsDigit(r) }) {
		first, rest := []rune(word)[0], []rune(word)[1:]
		b.WriteRune(unicode.ToUpper(first))
		b.WriteString(string(rest))
	}
	return b.String()
}

// sarifLevel returns the SARIF level of s, and false if s is not a known
// severity.
func sarifLevel(s mesh.Severity) (string, bool) {
	switch s {
	case mesh.Error, mesh.Warning, mesh.Note:
		return s.String(), true
	}
	return "", false
}

// unknownSeverity reports a finding whose severity is none of mesh.Error,
// mesh.Warning and mesh.Note, which SARIF and annotations cannot express.
func unknownSeverity(f mesh.Finding) error {
	return fmt.Errorf("%s: finding [%s] has unknown severity %d; a finding must be mesh.Error, mesh.Warning or mesh.Note", f.Pos, f.Rule, int(f.Severity))
}

// fingerprint hashes what identifies a finding across commits: its rule,
// file (as its URI, which does not depend on the checkout's location),
// resource and message. The fields are separated by NUL bytes, which none of
// them contains, so that no two findings hash the same text.
func fingerprint(f mesh.Finding, uri string) string {
	sum := sha256.Sum256([]byte(strings.Join([]string{f.Rule, uri, f.Resource, f.Message}, "\x00")))
	return hex.EncodeToString(sum[:])
}

// locator turns the file names of findings into SARIF artifact locations.
type locator struct {
	root string // the repository root, absolute and clean
	wd   string // the working directory, against which file names are resolved
}

// newLocator returns a locator for the repository at root, absolute or
// relative to the working directory.
func newLocator(root string) (locator, error) {
	wd, err := os.Getwd()
	if err != nil {
		return locator{}, fmt.Errorf("finding the working directory to make file names relative to the repository root: %w", err)
	}
	if !filepath.IsAbs(root) {
		root = filepath.Join(wd, root)
	}
	return locator{root: filepath.Clean(root), wd: wd}, nil
}

// locate returns the location of the file named file. A name relative to
// the working directory becomes relative to the repository root, with ".."
// segments if it lies outside, which is what the user typed when Promote runs
// at the root, as on GitHub Actions. An absolute name under the root becomes
// relative too; one outside stays absolute, as a file: URI.
func (l locator) locate(file string) sarifArtifactLocation {
	if file == mesh.StdinFile {
		return sarifArtifactLocation{URI: relativeURI(file)}
	}
	abs := file
	if !filepath.IsAbs(abs) {
		abs = filepath.Join(l.wd, abs)
	}
	rel, err := filepath.Rel(l.root, abs)
	if err != nil || (filepath.IsAbs(file) && !filepath.IsLocal(rel)) {
		return sarifArtifactLocation{URI: fileURI(abs)}
	}
	return sarifArtifactLocation{URI: relativeURI(rel), URIBaseID: srcRoot}
}

// relativeURI writes the relative path p as a relative URI reference, with
// forward slashes and each segment percent-encoded. A ':' is encoded too, so
// that no segment reads as a URI scheme.
func relativeURI(p string) string {
	segs := strings.Split(filepath.ToSlash(p), "/")
	for i, s := range segs {
		segs[i] = strings.ReplaceAll(url.PathEscape(s), ":", "%3A")
	}
	return strings.Join(segs, "/")
}

// fileURI writes the absolute path p as a file: URI; a Windows path gains a
// leading slash, as in file:///C:/repo.
func fileURI(p string) string {
	p = filepath.ToSlash(p)
	if !strings.HasPrefix(p, "/") {
		p = "/" + p
	}
	return (&url.URL{Scheme: "file", Path: p}).String()
}

// dirURI writes the absolute directory dir as a file: URI ending in a slash,
// as SARIF requires of a base URI.
func dirURI(dir string) string {
	u := fileURI(dir)
	if !strings.HasSuffix(u, "/") {
		u += "/"
	}
	return u
}
