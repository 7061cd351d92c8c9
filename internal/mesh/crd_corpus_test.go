package mesh_test

import (
	"context"
	"testing"

	"github.com/promote-dev/promote/internal/mesh"
)

// crdStricter are the documents istioctl validate accepts and the API
// server refuses, by Istio's CRD schemas and CEL rules, with the reason.
var crdStricter = map[string]string{
	"pkg/config/validation/testdata/crds/envoyfilter-invalid.yaml#2": "the CRD's CEL rule: a waypoint match only when the context is WAYPOINT",
	"pkg/config/validation/testdata/crds/envoyfilter-invalid.yaml#3": "the CRD's CEL rule: a waypoint port number from 1 to 65535",
	"pkg/config/validation/testdata/crds/reqauth-invalid.yaml#19":    "the CRD's minLength 1 on the items of spaceDelimitedClaims",
	"pkg/config/validation/testdata/crds/wasm-invalid.yaml#6":        "the CRD's minLength 1 on imagePullSecret",
	"pkg/config/validation/testdata/crds/wasm-invalid.yaml#7":        "the CRD's minLength 1 on pluginName",
}

// TestCRDCorpus checks the corpus with the CRD layer too: every document
// istioctl validate accepts must pass it, except those listed in
// crdStricter, where the cluster is stricter than istioctl; no document
// istioctl refuses may pass; and on every document the pruned schema the
// layer validates with reports what the whole schema reports.
func TestCRDCorpus(t *testing.T) {
	t.Parallel()
	docs := istioCorpus(t)
	recorded := readVerdicts(t)
	stricter, agree := 0, 0
	for _, d := range docs {
		v, ok := recorded[d.Source]
		if !ok {
			continue // TestIstioCorpus reports it
		}
		set := mesh.NewSet("")
		set.Add(d.Source, d.Data, "")
		rep, err := mesh.Check(context.Background(), set, mesh.Options{Checks: []mesh.Layer{mesh.LayerSchema, mesh.LayerIstio, mesh.LayerCRD}})
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range set.Resources {
			if extra, missing, ok := mesh.CRDPruneDiff(r); ok {
				if len(extra)+len(missing) > 0 {
					t.Errorf("%s: the pruned CRD schema reports %q besides the whole one, misses %q", d.Source, extra, missing)
				}
				agree++
			}
		}
		var crd []mesh.Finding
		for _, f := range rep.Findings {
			if f.Rule == mesh.RuleCRDSchema || f.Rule == mesh.RuleCRDCEL || f.Rule == mesh.RuleCRDInternal {
				crd = append(crd, f)
			}
		}
		errs, _, _ := rep.Counts()
		reason, listed := crdStricter[d.Source]
		switch {
		case listed && len(crd) == 0:
			t.Errorf("%s: listed as refused by the CRD layer (%s), but it has no CRD finding; remove it from the list", d.Source, reason)
		case !listed && v.valid && len(crd) > 0:
			t.Errorf("%s: istioctl accepts it, the CRD layer refuses it: %v\n%s", d.Source, crd, d.Data)
		case !v.valid && errs == 0 && divergences[d.Source] == "":
			t.Errorf("%s: istioctl refuses it, Promote with the CRD layer accepts it", d.Source)
		}
		if listed {
			stricter++
		}
	}
	t.Logf("%d documents; the CRD layer refuses %d that istioctl accepts; the pruned schema agrees with the whole one on %d", len(docs), stricter, agree)
}
