package audit

import (
	"html/template"
	"io"
	"time"
)

var reportTemplate = template.Must(template.New("report").Funcs(template.FuncMap{
	"num":  fmtNum,
	"time": func(t time.Time) string { return t.UTC().Format("2006-01-02 15:04Z") },
	"pct":  func(v float64) string { return fmtNum(v * 100) },
}).Parse(`<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<title>Emission reduction audit report — {{.Park}}</title>
<style>
body{font-family:sans-serif;margin:2em;color:#222}table{border-collapse:collapse;margin:.5em 0 1.5em}
td,th{border:1px solid #bbb;padding:2px 6px;font-size:13px;text-align:left}td.n{text-align:right}
.pass{color:#176317;font-weight:bold}.fail{color:#a11;font-weight:bold}.low{background:#fde2e2}
</style></head><body>
<h1>Emission reduction audit report</h1>
<p>Park <b>{{.Park}}</b>, hours {{time .From}} to {{time .To}} ({{.Hours}} hours). Generated {{time .Generated}} by eipgw audit report.</p>

<h2>Verification</h2>
{{with .Verification}}
<p>{{if .Pass}}<span class="pass">PASS: 0 mismatches</span>{{else}}<span class="fail">FAIL: {{len .Findings}} mismatches</span>{{end}} —
{{.Batches}} signed batches, {{.Readings}} readings ({{.Unchecked}} not under evidence), {{.Hours}} hours recomputed, {{.SealedHours}} hours sealed.
{{.Signatures}} signatures verified; the hash chains vouch for the messages of the other {{.Vouched}} batches (each hour's last batch of each gateway, and any batch at a break, is verified on its own signature).</p>
<table><tr><th>chain</th><th>seq</th><th>hash</th><th>time</th></tr>
{{range $g, $h := .Heads}}<tr><td>gateway {{$g}}</td><td class="n">{{$h.Seq}}</td><td><code>{{$h.Hash}}</code></td><td>{{time $h.Time}}</td></tr>{{end}}
{{with .SealHead}}<tr><td>audit log (sealed hourly records)</td><td class="n">{{.Seq}}</td><td><code>{{.Hash}}</code></td><td>{{time .Hour}}</td></tr>{{end}}
</table>
{{if .Findings}}<table><tr><th>finding</th></tr>{{range .Findings}}<tr><td>{{.String}}</td></tr>{{end}}</table>{{end}}
{{end}}

<h2>Totals</h2>
<p>Sums of the park-wide hourly records that are valid; the CSV holds every record.</p>
<table><tr><th>metric</th><th>total</th><th>unit</th><th>valid hours</th><th>hours</th></tr>
{{range .Totals}}<tr><td>{{.Metric}}</td><td class="n">{{num .Sum}}</td><td>{{.Unit}}</td><td class="n">{{.ValidHours}}</td><td class="n">{{.Hours}}</td></tr>{{end}}
</table>

<h2>Methodology</h2>
<p>Formulas as documented in docs/metrics.md; sources are the keys of docs/references.md.</p>
<table><tr><th>quantity</th><th>formula</th><th>primary sources</th></tr>
{{range .Methods}}<tr><td>{{.Metric}}</td><td>{{.Formula}}</td><td>{{.Sources}}</td></tr>{{end}}
</table>

<h2>Parameters</h2>
<table><tr><th>group</th><th>parameter</th><th>value</th><th>source (as configured)</th></tr>
{{range .Parameters}}<tr><td>{{.Group}}</td><td>{{.Name}}</td><td>{{.Value}}</td><td>{{.Source}}</td></tr>{{end}}
</table>

<h2>Data completeness</h2>
<p>Verified polls of each device per hour, as a share of its fullest hour of the range (highlighted below 75 %).</p>
<table><tr><th>device</th><th>polls/hour</th>{{range $i, $_ := .HourList}}<th>{{$i}}</th>{{end}}</tr>
{{range .Completeness}}{{$d := .}}<tr><td>{{.Device}}</td><td class="n">{{.Max}}</td>{{range $i, $p := .Polls}}<td class="n{{if lt ($d.Share $i) 0.75}} low{{end}}">{{pct ($d.Share $i)}}</td>{{end}}</tr>{{end}}
</table>

<h2>Invalid hours</h2>
{{with .Invalid}}<table><tr><th>hour</th><th>metric</th><th>entity</th><th>flag</th><th>why</th><th>completeness</th></tr>
{{range .}}<tr><td>{{time .Hour}}</td><td>{{.Metric}}</td><td>{{.Entity}}</td><td>{{.Flag}}</td><td>{{.Reason}}</td><td class="n">{{num .Completeness}}</td></tr>{{end}}
</table>{{else}}<p>None: every hourly record of the range is valid.</p>{{end}}

<h2>Hourly records</h2>
<p>{{len .Records}} records; the same in the CSV beside this report.</p>
<table><tr><th>hour</th><th>metric</th><th>entity</th><th>value</th><th>flag</th><th>completeness</th></tr>
{{range .Records}}<tr><td>{{time .Hour}}</td><td>{{.Metric}}</td><td>{{.Entity}}</td><td class="n">{{if .HasValue}}{{num .Value}}{{end}}</td><td>{{.Flag}}</td><td class="n">{{num .Completeness}}</td></tr>{{end}}
</table>
</body></html>
`))

// WriteHTML writes the report as one self-contained HTML page.
func (r *Report) WriteHTML(w io.Writer) error {
	return reportTemplate.Execute(w, struct {
		*Report
		Methods    []Method
		Parameters []Parameter
		Invalid    []HourRecord
		HourList   []int
	}{r, Methodology, r.Parameters(), r.Invalid(), make([]int, r.Hours())})
}
