package sim

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/eipgw/eipgw/drivers/modbus"
	"github.com/eipgw/eipgw/drivers/modbus/modbusserver"
)

func TestParseFault(t *testing.T) {
	for spec, want := range map[string]modbusserver.Fault{
		"none":                  {},
		"timeout":               {NoAnswer: true},
		"exception:6":           {Exception: 6},
		"exception:0x0B":        {Exception: 11},
		"late:1.5s":             {Delay: 1500 * time.Millisecond},
		"garbage":               {Garbage: true},
		"late:200ms+garbage":    {Delay: 200 * time.Millisecond, Garbage: true},
		"exception:4+late:10ms": {Exception: 4, Delay: 10 * time.Millisecond},
	} {
		got, err := ParseFault(spec)
		if err != nil || got != want {
			t.Errorf("ParseFault(%q) = %+v, %v; want %+v", spec, got, err, want)
		}
		if back, _ := ParseFault(FormatFault(got)); back != got {
			t.Errorf("FormatFault(%+v) = %q does not parse back", got, FormatFault(got))
		}
	}
	for _, bad := range []string{"slow", "exception", "exception:0", "exception:256", "late:", "late:-1s", "timeout+bogus"} {
		if _, err := ParseFault(bad); err == nil {
			t.Errorf("ParseFault(%q) accepted", bad)
		}
	}
}

func TestControlHandler(t *testing.T) {
	park, err := NewPark(Config{Seed: 1}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	profiles, err := modbus.Builtin()
	if err != nil {
		t.Fatal(err)
	}
	srv, err := NewServer(park, profiles, nil)
	if err != nil {
		t.Fatal(err)
	}
	h := srv.ControlHandler()
	do := func(method, path, body string) (int, string) {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest(method, path, strings.NewReader(body)))
		return rec.Code, rec.Body.String()
	}
	if code, body := do("PUT", "/faults/chp-1", "exception:6"); code != http.StatusOK {
		t.Fatalf("PUT: %d %s", code, body)
	}
	if f := srv.Fault(1); f.Exception != 6 {
		t.Errorf("unit 1 fault %+v", f)
	}
	if code, body := do("GET", "/faults", ""); code != http.StatusOK || !strings.Contains(body, `"chp-1":"exception:6"`) {
		t.Errorf("GET: %d %s", code, body)
	}
	if code, _ := do("PUT", "/faults/nosuch", "timeout"); code != http.StatusBadRequest {
		t.Errorf("unknown device: %d", code)
	}
	if code, _ := do("PUT", "/faults/chp-1", "slow"); code != http.StatusBadRequest {
		t.Errorf("bad fault: %d", code)
	}
	do("DELETE", "/faults/chp-1", "")
	if f := srv.Fault(1); f != (modbusserver.Fault{}) {
		t.Errorf("after DELETE: %+v", f)
	}
}
