package mesh

import (
	"cmp"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/promote-dev/promote/internal/manifest"
)

// Repository is what the manifest tells the check: which files to read by
// default, which service owns which file, and the services' compliance.
type Repository struct {
	// Paths are the services' mesh directories and the manifest's
	// mesh.paths, relative to the working directory.
	Paths    []string
	Owner    Owner
	Services map[string]ServiceInfo
	// RootNamespace and MonitoringNamespaces are the manifest's settings,
	// empty when it has none.
	RootNamespace        string
	MonitoringNamespaces []string
}

// FromManifest reads the mesh configuration of a manifest. A service's mesh
// directory that does not exist is an error the user must fix.
func FromManifest(m *manifest.Manifest) (*Repository, error) {
	base := filepath.Dir(m.File)
	repo := &Repository{Services: map[string]ServiceInfo{}, RootNamespace: m.Mesh.RootNamespace, MonitoringNamespaces: m.Mesh.MonitoringNamespaces}
	type dir struct{ abs, service string }
	var dirs []dir
	for _, s := range m.Services {
		repo.Services[s.Name] = ServiceInfo{Compliance: string(s.Compliance), Mesh: s.Mesh}
		if s.Mesh == "" {
			continue
		}
		path := filepath.Join(base, s.Mesh)
		if _, err := os.Stat(path); err != nil {
			return nil, fmt.Errorf("service %s: mesh directory %q: %w; create it or fix the service's mesh: in %s", s.Name, path, err, m.File)
		}
		abs, err := filepath.Abs(path)
		if err != nil {
			return nil, err
		}
		repo.Paths = append(repo.Paths, path)
		dirs = append(dirs, dir{abs, s.Name})
	}
	for _, p := range m.Mesh.Paths {
		repo.Paths = append(repo.Paths, filepath.Join(base, p))
	}
	repo.Owner = func(file string) string {
		abs, err := filepath.Abs(file)
		if err != nil {
			return ""
		}
		for _, d := range dirs {
			if rel, err := filepath.Rel(d.abs, abs); err == nil && rel != ".." && !strings.HasPrefix(rel, "../") {
				return d.service
			}
		}
		return ""
	}
	return repo, nil
}

// Apply fills the options the manifest configures and the caller left
// empty.
func (r *Repository) Apply(opts *Options) {
	opts.Services = r.Services
	opts.RootNamespace = cmp.Or(opts.RootNamespace, r.RootNamespace)
	if len(opts.MonitoringNamespaces) == 0 {
		opts.MonitoringNamespaces = r.MonitoringNamespaces
	}
}
