// Command gendashboards writes eipgw's Grafana dashboards (dashboards/gen)
// as JSON into a directory: `make dashboards` runs it.
package main

import (
	"flag"
	"fmt"
	"os"

	"github.com/eipgw/eipgw/dashboards/gen"
)

func main() {
	out := flag.String("out", "dashboards/provisioning/dashboards/eipgw", "directory for the dashboard JSON files")
	flag.Parse()
	if err := gen.Write(*out); err != nil {
		fmt.Fprintln(os.Stderr, "gendashboards:", err)
		os.Exit(1)
	}
}
