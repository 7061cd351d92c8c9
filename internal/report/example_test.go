package report_test

import (
	"fmt"
	"os"

	"github.com/promote-dev/promote/internal/mesh"
	"github.com/promote-dev/promote/internal/report"
)

func exampleReport() *mesh.Report {
	return &mesh.Report{
		Checks: []mesh.Layer{mesh.LayerSchema, mesh.LayerAnalysis},
		Files:  2, Resources: 5, Istio: 4,
		Findings: []mesh.Finding{{
			Pos:      mesh.Pos{File: "mesh/shop/vs.yaml", Line: 12, Col: 9},
			Severity: mesh.Error,
			Rule:     "analysis.host-unknown",
			Message:  `host "ratings" matches no Service`,
			Resource: "VirtualService shop/reviews",
		}},
	}
}

func ExampleText() {
	if err := report.Text(os.Stdout, exampleReport()); err != nil {
		fmt.Println(err)
	}
	// Output:
	// mesh/shop/vs.yaml:12:9: error: host "ratings" matches no Service [analysis.host-unknown]
	// promote mesh check (schema, analysis): 5 resources in 2 files (4 Istio): 1 error
}

func ExampleMarkdown() {
	fmt.Print(report.Markdown(exampleReport()))
	// Output:
	// ## ❌ Mesh check: 1 error
	//
	// Checked 5 resources in 2 files (4 Istio) with the checks schema, analysis.
	//
	// ### Findings
	//
	// | Location | Severity | Rule | Message |
	// |---|---|---|---|
	// | mesh/shop/vs.yaml:12:9 | ❌ error | analysis.host-unknown | host "ratings" matches no Service |
}
