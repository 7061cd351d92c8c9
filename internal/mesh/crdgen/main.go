// Command crdgen writes the structural schemas of Istio's CRDs, as the
// Istio module Promote builds with ships them (charts/base/files/
// crd-all.gen.yaml in istio.io/istio/manifests), in the compact form the
// mesh check reads: JSON, one schema per served kind and version, without
// descriptions. Run it with go generate in internal/mesh; a test keeps the
// file equal to what it writes.
package main

import (
	"fmt"
	"os"

	"github.com/promote-dev/promote/internal/mesh/crdgen/gen"
)

func main() {
	out, err := gen.Compact()
	if err == nil {
		err = os.WriteFile("crds.json", out, 0o644)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "crdgen:", err)
		os.Exit(1)
	}
}
