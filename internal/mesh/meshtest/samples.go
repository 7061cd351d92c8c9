package meshtest

import (
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strings"
)

// SampleFile is one file of the corpus Samples builds.
type SampleFile struct {
	// Name is the file's slash-separated path inside the corpus.
	Name string
	Data []byte
	// Documents counts the file's non-empty documents.
	Documents int
}

// istioDocument matches a document's apiVersion line in a group of Istio's
// configuration (not install.istio.io, whose IstioOperator is no resource
// a cluster serves).
var istioDocument = regexp.MustCompile(`(?m)^apiVersion: *(networking|security|telemetry|extensions)\.istio\.io/`)

// metadataName matches the name line directly under metadata, keeping what
// comes before and after the name itself (quotes, a comment).
var metadataName = regexp.MustCompile(`^( +name: *["']?)([A-Za-z0-9][A-Za-z0-9.-]*)(["']?(?: +#.*)?)$`)

// Samples builds a corpus of real-world Istio YAML from dir (Istio's
// samples/ directory in the module cache): every .yaml file outside Helm
// templates that holds an Istio resource, copied replicas times, the copies
// in directories r000, r001 and so on, each resource renamed to
// <name>-r<copy> so that no two resources share a name. The files keep
// their text as written, comments, quoting and flow style included, and
// the other resources they hold (a Deployment beside its Gateway).
func Samples(dir string, replicas int) ([]SampleFile, error) {
	var originals []SampleFile
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			if d.Name() == "templates" {
				return filepath.SkipDir
			}
			return nil
		}
		if filepath.Ext(path) != ".yaml" {
			return nil
		}
		data, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		if !istioDocument.Match(data) || strings.Contains(string(data), "{{") {
			return nil // no Istio resource, or a template
		}
		rel, err := filepath.Rel(dir, path)
		if err != nil {
			return err
		}
		originals = append(originals, SampleFile{Name: filepath.ToSlash(rel), Data: data})
		return nil
	})
	if err != nil {
		return nil, err
	}
	if len(originals) == 0 {
		return nil, fmt.Errorf("no Istio YAML in %s", dir)
	}
	out := make([]SampleFile, 0, replicas*len(originals))
	for r := range replicas {
		for _, f := range originals {
			data, docs, err := rename(string(f.Data), fmt.Sprintf("-r%03d", r))
			if err != nil {
				return nil, fmt.Errorf("%s: %w", f.Name, err)
			}
			out = append(out, SampleFile{Name: fmt.Sprintf("r%03d/%s", r, f.Name), Data: []byte(data), Documents: docs})
		}
	}
	return out, nil
}

// rename appends suffix to every document's metadata.name, editing the text
// so that everything else stays as written, and counts the documents.
func rename(text, suffix string) (string, int, error) {
	lines := strings.SplitAfter(text, "\n")
	docs := 0
	inMetadata, named, content := false, false, false
	endDoc := func(line int) error {
		if content && !named {
			return fmt.Errorf("line %d: a document without metadata.name in block style", line)
		}
		if content {
			docs++
		}
		inMetadata, named, content = false, false, false
		return nil
	}
	for i, l := range lines {
		body := strings.TrimRight(l, "\r\n")
		trimmed := strings.TrimSpace(body)
		switch {
		case strings.HasPrefix(body, "---"):
			if err := endDoc(i); err != nil {
				return "", 0, err
			}
			continue
		case trimmed == "" || strings.HasPrefix(trimmed, "#"):
			continue
		}
		content = true
		if body[0] != ' ' {
			inMetadata = strings.HasPrefix(body, "metadata:")
			continue
		}
		if inMetadata && !named {
			if m := metadataName.FindStringSubmatch(body); m != nil && strings.HasPrefix(body, "  name:") {
				lines[i] = m[1] + m[2] + suffix + m[3] + l[len(body):]
				named = true
			}
		}
	}
	if err := endDoc(len(lines)); err != nil {
		return "", 0, err
	}
	return strings.Join(lines, ""), docs, nil
}
