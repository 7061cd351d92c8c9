// Command gen writes Promote's Grafana dashboards into a directory
// (`go generate ./internal/kpi/dashboards` writes examples/grafana).
package main

import (
	"flag"
	"fmt"
	"os"

	"github.com/promote-dev/promote/internal/kpi/dashboards"
)

func main() {
	dir := flag.String("dir", "examples/grafana", "directory to write the dashboards' JSON into")
	flag.Parse()
	if err := dashboards.Write(*dir); err != nil {
		fmt.Fprintf(os.Stderr, "gen: %v\n", err)
		os.Exit(1)
	}
}
