package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/eipgw/eipgw/config"
	"github.com/eipgw/eipgw/gateway/devtools/testenv"
	"github.com/eipgw/eipgw/gateway/statement"
)

func TestStatementUsageErrors(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"statement", "-month", "2026-02"}, "-config is required"},
		{[]string{"statement", "-config", "x.yaml"}, "-month YYYY-MM is required"},
		{[]string{"statement", "-config", "x.yaml", "-month", "2026-02", "-format", "xml"}, `-format "xml": want csv, json or pdf`},
		{[]string{"statement", "-config", "x.yaml", "-month", "2026-02", "-tolerance", "-1"}, `-tolerance -1: want a fraction between 0 and 1`},
	} {
		var out, errOut bytes.Buffer
		if code := run(t.Context(), &env{stdout: &out, stderr: &errOut}, tc.args); code != 2 || !strings.Contains(errOut.String(), tc.want) {
			t.Errorf("%v: exit %d, %q; want 2 and %q", tc.args, code, errOut.String(), tc.want)
		}
	}
}

// TestStatementCommand stores a steady February 2026 of the example park
// (every meter's totaliser at each hour's end, the engine's hourly values)
// in InfluxDB 1.8.10 and runs eipgw statement on it in CSV and JSON.
func TestStatementCommand(t *testing.T) {
	in := testenv.StartInflux(t, "eipgw")
	src, err := os.ReadFile("../../config/examples/park.yaml")
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	cfgPath := filepath.Join(dir, "park.yaml")
	if err := os.WriteFile(cfgPath, bytes.Replace(src, []byte("url: http://127.0.0.1:8086"), []byte("url: "+in.URL), 1), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("EIPGW_MQTT_PASSWORD", "x")
	t.Setenv("EIPGW_INFLUX_TOKEN", "")
	f, err := config.Load(cfgPath, nil)
	if err != nil {
		t.Fatal(err)
	}
	pe := f.ParkEngine
	start, _ := statement.ParseMonth("2026-02", pe.Location)
	end := start.AddDate(0, 1, 0)

	// Supplier 10 t/h (1000 counts of 0.01 t), each tenant 0.5 t/h at
	// 2.8 GJ/t and 1 MWh/h (10000 counts of 0.1 kWh).
	var lines bytes.Buffer
	meter := func(kind, dev, point string, perHour int, scale float64) {
		for h := start.Add(-time.Hour); h.Before(end); h = h.Add(time.Hour) {
			i := int(h.Sub(start)/time.Hour) + 1
			fmt.Fprintf(&lines, "%s,device=%s,park=%s %s=%g %d\n", kind, dev, f.Park, point, float64(1000+i*perHour)*scale, h.Add(59*time.Minute).UnixMilli())
		}
	}
	hourly := func(metric, tenant string, v float64) {
		tag := ""
		if tenant != "" {
			tag = ",tenant=" + tenant
		}
		for h := start; h.Before(end); h = h.Add(time.Hour) {
			fmt.Fprintf(&lines, "park_hourly,metric=%s,park=%s%s value=%g,flag=\"valid\",valid=true %d\n", metric, f.Park, tag, v, h.UnixMilli())
		}
	}
	meter("steam_meter", pe.Supplier.Device, "mass_total", 1000, 0.01)
	hourly("supplier_steam_mass_t", "", 10)
	hourly("supplier_steam_energy_gj", "", 28)
	for _, tn := range pe.Tenants {
		meter("steam_meter", tn.SteamMeter.Device, "mass_total", 50, 0.01)
		meter("power_meter", tn.PowerMeter.Device, "energy_import", 10000, 0.1)
		hourly("steam_mass_t", tn.Name, 0.5)
		hourly("steam_energy_gj", tn.Name, 1.4)
		hourly("electric_energy_mwh", tn.Name, 1)
	}
	resp, err := http.Post(in.URL+"/write?db=eipgw&precision=ms", "text/plain", &lines)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusNoContent {
		t.Fatalf("write: %s", resp.Status)
	}

	var out, errOut bytes.Buffer
	if code := run(t.Context(), &env{stdout: &out, stderr: &errOut}, []string{"statement", "-config", cfgPath, "-month", "2026-02"}); code != 0 {
		t.Fatalf("exit %d: %s", code, errOut.String())
	}
	rows, err := statement.ReadCSV(&out)
	if err != nil {
		t.Fatal(err)
	}
	if len(rows) != 1+2*len(pe.Tenants)+1 {
		t.Fatalf("%d rows", len(rows))
	}
	// 672 hours: supplier 6720 t and 18816 GJ; each tenant 336 t, 940.8 GJ
	// and 672 MWh; loss 6720 − 18·336 = 672 t and 18816 − 18·940.8 =
	// 1881.6 GJ, 104.53 GJ a tenant.
	for _, r := range rows {
		if r.Kind != statement.RowNetworkLoss && !r.CrossCheckOK {
			t.Errorf("%s: cross-check failed", r.Device)
		}
		switch r.Kind {
		case statement.RowTenantSteam:
			if r.Metered != 336 || math.Abs(r.EnergyGJ-940.8) > 1e-9 || r.ValidHours != 672 || fmt.Sprintf("%.4f", r.LossShareGJ) != "104.5333" {
				t.Errorf("%s: %+v", r.Device, r)
			}
		case statement.RowTenantPower:
			if r.Metered != 672 {
				t.Errorf("%s: %g MWh", r.Device, r.Metered)
			}
		case statement.RowNetworkLoss:
			if fmt.Sprintf("%.6f %.6f", r.Metered, r.EnergyGJ) != "672.000000 1881.600000" {
				t.Errorf("loss %g t %g GJ", r.Metered, r.EnergyGJ)
			}
		}
	}

	out.Reset()
	if code := run(t.Context(), &env{stdout: &bytes.Buffer{}, stderr: &errOut}, []string{"statement", "-config", cfgPath, "-month", "2026-02", "-tenant", "nobody"}); code != 2 || !strings.Contains(errOut.String(), `-tenant "nobody" is not in park_engine.tenants`) {
		t.Errorf("unknown tenant: exit %d, %s", code, errOut.String())
	}
	errOut.Reset()
	if code := run(t.Context(), &env{stdout: &out, stderr: &errOut}, []string{"statement", "-config", cfgPath, "-month", "2026-02", "-tenant", "t07", "-format", "json"}); code != 0 {
		t.Fatalf("exit %d: %s", code, errOut.String())
	}
	var st statement.Statement
	if err := json.Unmarshal(out.Bytes(), &st); err != nil {
		t.Fatal(err)
	}
	if len(st.Rows) != 4 || st.Rows[1].Tenant != "t07" || st.Balance.SupplierMassT != 6720 {
		t.Errorf("json: %d rows, balance %+v", len(st.Rows), st.Balance)
	}

	pdf := filepath.Join(dir, "2026-02.pdf")
	if code := run(t.Context(), &env{stdout: &out, stderr: &errOut}, []string{"statement", "-config", cfgPath, "-month", "2026-02", "-format", "pdf", "-out", pdf}); code != 0 {
		t.Fatalf("exit %d: %s", code, errOut.String())
	}
	if b, err := os.ReadFile(pdf); err != nil || !bytes.HasPrefix(b, []byte("%PDF-")) {
		t.Errorf("pdf: %v, %.10q", err, b)
	}
}
