package gen

import (
	"errors"
	"reflect"

	"github.com/grafana/grafana-foundation-sdk/go/cog"
	"github.com/grafana/grafana-foundation-sdk/go/cog/variants"
	"github.com/grafana/grafana-foundation-sdk/go/common"
)

// InfluxQL is a raw InfluxQL target of Grafana's InfluxDB datasource (the
// SDK has no InfluxDB query type). Raw queries work the same against
// InfluxDB 1.8, 2.x (with a DBRP mapping) and 3.x.
type InfluxQL struct {
	RefID        string               `json:"refId"`
	Datasource   common.DataSourceRef `json:"datasource"`
	Query        string               `json:"query"`
	RawQuery     bool                 `json:"rawQuery"`
	ResultFormat string               `json:"resultFormat"`
	Alias        string               `json:"alias,omitempty"`
}

var _ variants.Dataquery = InfluxQL{}

// ImplementsDataqueryVariant marks InfluxQL as a panel target.
func (InfluxQL) ImplementsDataqueryVariant() {}

// DataqueryType is the datasource type.
func (InfluxQL) DataqueryType() string { return "influxdb" }

// Equals compares two targets.
func (q InfluxQL) Equals(other variants.Dataquery) bool { return reflect.DeepEqual(q, other) }

// Validate refuses a target without a query or reference.
func (q InfluxQL) Validate() error {
	if q.Query == "" || q.RefID == "" {
		return errors.New("influxql target: refId and query are required")
	}
	return nil
}

// influxQuery builds an InfluxQL target.
type influxQuery struct{ q InfluxQL }

var _ cog.Builder[variants.Dataquery] = influxQuery{}

func (b influxQuery) Build() (variants.Dataquery, error) { return b.q, b.q.Validate() }

// influx returns a time-series target of the InfluxDB datasource; alias
// names each series (Grafana's $tag_<key> and $col patterns).
func influx(refID, query, alias string) influxQuery {
	return influxQuery{InfluxQL{RefID: refID, Datasource: influxDS, Query: query, RawQuery: true, ResultFormat: "time_series", Alias: alias}}
}

// influxTable returns a table target.
func influxTable(refID, query string) influxQuery {
	return influxQuery{InfluxQL{RefID: refID, Datasource: influxDS, Query: query, RawQuery: true, ResultFormat: "table"}}
}
