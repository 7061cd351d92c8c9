// Package gen turns Istio's CRD file into the compact schemas the mesh
// check embeds (see crdgen).
package gen

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"io/fs"
	"slices"
	"strings"

	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	yamlutil "k8s.io/apimachinery/pkg/util/yaml"

	"istio.io/istio/manifests"
)

// Path is the CRD file inside manifests.FS.
const Path = "charts/base/files/crd-all.gen.yaml"

// Schema is one served version of a kind.
type Schema struct {
	Group   string                           `json:"group"`
	Kind    string                           `json:"kind"`
	Version string                           `json:"version"`
	Schema  *apiextensionsv1.JSONSchemaProps `json:"schema"`
}

// Read decodes every CRD of the file.
func Read(fsys fs.FS) ([]apiextensionsv1.CustomResourceDefinition, error) {
	data, err := fs.ReadFile(fsys, Path)
	if err != nil {
		return nil, err
	}
	dec := yamlutil.NewYAMLOrJSONDecoder(bytes.NewReader(data), 1<<16)
	var crds []apiextensionsv1.CustomResourceDefinition
	for {
		var crd apiextensionsv1.CustomResourceDefinition
		if err := dec.Decode(&crd); err == io.EOF {
			break
		} else if err != nil {
			return nil, fmt.Errorf("%s: %w", Path, err)
		}
		if crd.Kind == "CustomResourceDefinition" {
			crds = append(crds, crd)
		}
	}
	return crds, nil
}

// Compact returns the schemas of Istio's module as crdgen writes them:
// sorted by group, kind and version, descriptions left out, one schema a
// line.
func Compact() ([]byte, error) {
	crds, err := Read(manifests.FS)
	if err != nil {
		return nil, err
	}
	var out []Schema
	for _, crd := range crds {
		for _, v := range crd.Spec.Versions {
			if !v.Served || v.Schema == nil || v.Schema.OpenAPIV3Schema == nil {
				continue
			}
			s := v.Schema.OpenAPIV3Schema.DeepCopy()
			strip(s)
			out = append(out, Schema{Group: crd.Spec.Group, Kind: crd.Spec.Names.Kind, Version: v.Name, Schema: s})
		}
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("%s: no served schema", Path)
	}
	slices.SortFunc(out, func(a, b Schema) int {
		return strings.Compare(a.Group+"/"+a.Kind+"/"+a.Version, b.Group+"/"+b.Kind+"/"+b.Version)
	})
	var buf bytes.Buffer
	buf.WriteString("[\n")
	for i, s := range out {
		b, err := json.Marshal(s)
		if err != nil {
			return nil, err
		}
		buf.Write(b)
		if i < len(out)-1 {
			buf.WriteByte(',')
		}
		buf.WriteByte('\n')
	}
	buf.WriteString("]\n")
	return buf.Bytes(), nil
}

// strip removes what validation does not read: descriptions and examples.
func strip(s *apiextensionsv1.JSONSchemaProps) {
	if s == nil {
		return
	}
	s.Description, s.Example, s.Title = "", nil, ""
	if s.Items != nil {
		strip(s.Items.Schema)
		for i := range s.Items.JSONSchemas {
			strip(&s.Items.JSONSchemas[i])
		}
	}
	for _, l := range [][]apiextensionsv1.JSONSchemaProps{s.AllOf, s.OneOf, s.AnyOf} {
		for i := range l {
			strip(&l[i])
		}
	}
	strip(s.Not)
	for k, p := range s.Properties {
		strip(&p)
		s.Properties[k] = p
	}
	if s.AdditionalProperties != nil {
		strip(s.AdditionalProperties.Schema)
	}
}
