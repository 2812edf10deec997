package topic

import (
	"errors"
	"strings"
	"testing"

	"github.com/eipgw/eipgw/config"
)

func TestBuild(t *testing.T) {
	for _, c := range []struct{ got, want string }{
		{Data("p", "gw-1", "chp-1"), "eip/v1/p/gw-1/chp-1"},
		{Status("p", "gw-1"), "eip/v1/p/gw-1/status"},
		{Metrics("p", "coverage", ""), "eip/v1/p/metrics/coverage"},
		{Metrics("p", "steam_power_mw", "t01"), "eip/v1/p/metrics/steam_power_mw.t01"},
		{DeadLetter("p"), "eip/v1/p/deadletter"},
		{Replay("p", "eipgw-ingest-1"), "eip/v1/p/control/replay/eipgw-ingest-1"},
		{DataFilter("p"), "eip/v1/p/+/+"},
		{GatewayFilter("p", "gw-1"), "eip/v1/p/gw-1/+"},
		{MetricsFilter("p"), "eip/v1/p/metrics/+"},
		{ReplayFilter("p"), "eip/v1/p/control/replay/+"},
		{ParkFilter("p"), "eip/v1/p/#"},
		{Shared("ingest", DataFilter("p")), "$share/ingest/eip/v1/p/+/+"},
	} {
		if c.got != c.want {
			t.Errorf("got %q, want %q", c.got, c.want)
		}
	}
}

func TestParse(t *testing.T) {
	long := strings.Repeat("d", config.MaxNameLen)
	for _, c := range []struct {
		topic string
		want  Topic
	}{
		{"eip/v1/p/gw-1/chp-1", Topic{Kind: KindData, Park: "p", Gateway: "gw-1", Device: "chp-1"}},
		{"eip/v1/suzhou.eip/GW_2/" + long, Topic{Kind: KindData, Park: "suzhou.eip", Gateway: "GW_2", Device: long}},
		// Device names the configuration reserves elsewhere still parse
		// as data where they are unambiguous.
		{"eip/v1/p/gw/deadletter", Topic{Kind: KindData, Park: "p", Gateway: "gw", Device: "deadletter"}},
		{"eip/v1/p/gw/metrics", Topic{Kind: KindData, Park: "p", Gateway: "gw", Device: "metrics"}},
		{"eip/v1/p/control/replay", Topic{Kind: KindData, Park: "p", Gateway: "control", Device: "replay"}},
		{"eip/v1/p/gw-1/status", Topic{Kind: KindStatus, Park: "p", Gateway: "gw-1"}},
		{"eip/v1/p/metrics/coverage", Topic{Kind: KindMetrics, Park: "p", Metric: "coverage"}},
		{"eip/v1/p/metrics/steam_power_mw.t01", Topic{Kind: KindMetrics, Park: "p", Metric: "steam_power_mw", Entity: "t01"}},
		{"eip/v1/p/metrics/boiler_efficiency.boiler-1.a", Topic{Kind: KindMetrics, Park: "p", Metric: "boiler_efficiency", Entity: "boiler-1.a"}},
		{"eip/v1/p/metrics/status", Topic{Kind: KindMetrics, Park: "p", Metric: "status"}},
		{"eip/v1/p/metrics/x." + long, Topic{Kind: KindMetrics, Park: "p", Metric: "x", Entity: long}},
		{"eip/v1/p/deadletter", Topic{Kind: KindDeadLetter, Park: "p"}},
		{"eip/v1/p/control/replay/eipgw-ingest-p-host.example.org", Topic{Kind: KindReplay, Park: "p", Requester: "eipgw-ingest-p-host.example.org"}},
		// A requester is a client id: longer than a name, other characters.
		{"eip/v1/p/control/replay/" + long + ":" + long, Topic{Kind: KindReplay, Park: "p", Requester: long + ":" + long}},
		{"eip/v1/p/control/replay/wörker 1", Topic{Kind: KindReplay, Park: "p", Requester: "wörker 1"}},
	} {
		got, err := Parse(c.topic)
		if err != nil {
			t.Errorf("Parse(%q): %v", c.topic, err)
			continue
		}
		if got != c.want {
			t.Errorf("Parse(%q) = %+v, want %+v", c.topic, got, c.want)
		}
		if s := got.String(); s != c.topic {
			t.Errorf("Parse(%q).String() = %q", c.topic, s)
		}
		if strings.HasPrefix(got.Kind.String(), "kind(") {
			t.Errorf("%q: kind %d has no name", c.topic, got.Kind)
		}
	}
}

func TestParseErrors(t *testing.T) {
	for _, c := range []struct {
		topic string
		err   error
		// want are substrings of the message.
		want []string
	}{
		{"", ErrPrefix, []string{`topic ""`, "not under eip/v1/"}},
		{"eip/v2/p/gw/dev", ErrPrefix, []string{"not under eip/v1/"}},
		{"EIP/v1/p/gw/dev", ErrPrefix, nil},
		{"/eip/v1/p/gw/dev", ErrPrefix, nil},
		{"$share/g/eip/v1/p/gw/dev", ErrPrefix, nil},
		{"eip/v1", ErrPrefix, nil},
		{"eip/v1/p", ErrLevels, []string{"no kind after the park"}},
		{"eip/v1/p/control/replay/r/x", ErrLevels, []string{"more than 6"}},
		{"eip/v1/p/a/b/c/d/e/f", ErrLevels, nil},
		{"eip/v1/", ErrEmptyLevel, []string{"level 3"}},
		{"eip/v1/p/gw/", ErrEmptyLevel, []string{"level 5"}},
		{"eip/v1/p//dev", ErrEmptyLevel, []string{"level 4"}},
		{"eip/v1//gw/dev", ErrEmptyLevel, []string{"level 3"}},
		{"eip/v1/p/control/replay/", ErrEmptyLevel, []string{"level 6"}},
		{"eip/v1/p/+/+", ErrWildcard, []string{"level 4", "'+'"}},
		{"eip/v1/p/#", ErrWildcard, []string{"level 4", "'#'"}},
		{"eip/v1/p/gw/dev#1", ErrWildcard, []string{"level 5"}},
		{"eip/v1/p/gw/dev/+/x/y", ErrLevels, nil},
		{"eip/v1/p/gw/dev/", ErrEmptyLevel, []string{"level 6"}},
		{"#", ErrPrefix, nil},
		{"eip/v1/#", ErrWildcard, []string{"level 3"}},
		{"eip/v1/p/control/replay/+", ErrWildcard, []string{"level 6"}},
		{"eip/v1/p/status", ErrKind, []string{"level 4", `"status"`, "want deadletter"}},
		{"eip/v1/p/control/other/r", ErrKind, []string{"want control/replay/{requester}"}},
		{"eip/v1/p/ctl/replay/r", ErrKind, nil},
		{"eip/v1/p q/gw/dev", ErrName, []string{"level 3 (park)", `"p q"`, "letters, digits"}},
		{"eip/v1/-p/gw/dev", ErrName, []string{"level 3 (park)"}},
		{"eip/v1/p/gw 1/dev", ErrName, []string{"level 4 (gateway)"}},
		{"eip/v1/p/gw/" + strings.Repeat("d", 200), ErrName, []string{"level 5 (device)", "bytes)"}},
		{"eip/v1/p/gw\n/status", ErrName, []string{"level 4 (gateway)"}},
		{"eip/v1/p/gw 1/status", ErrName, []string{"level 4 (gateway)"}},
		{"eip/v1/p q/deadletter", ErrName, []string{"level 3 (park)"}},
		{"eip/v1/p q/control/replay/r", ErrName, []string{"level 3 (park)"}},
		{"eip/v1/p/metrics/a b", ErrName, []string{"level 5 (metric)"}},
		{"eip/v1/p/metrics/.t01", ErrName, []string{"level 5 (metric)"}},
		{"eip/v1/p/metrics/coverage.", ErrName, []string{"level 5 (entity)"}},
		{"eip/v1/p/metrics/coverage.-t", ErrName, []string{"level 5 (entity)"}},
		{"eip/v1/p/control/replay/a\x00b", ErrName, []string{"level 6 (requester)"}},
		{"eip/v1/p/control/replay/a\x7fb", ErrName, nil},
		{"eip/v1/p/control/replay/\xff", ErrName, nil},
	} {
		got, err := Parse(c.topic)
		if err == nil {
			t.Errorf("Parse(%q) = %+v, want an error", c.topic, got)
			continue
		}
		if !errors.Is(err, c.err) {
			t.Errorf("Parse(%q): %v, want %v", c.topic, err, c.err)
		}
		var te *Error
		if !errors.As(err, &te) || te.Topic != c.topic {
			t.Errorf("Parse(%q): %v is not an *Error of that topic", c.topic, err)
		}
		for _, w := range c.want {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("Parse(%q): %q does not say %q", c.topic, err, w)
			}
		}
		if got != (Topic{}) {
			t.Errorf("Parse(%q) returned %+v with its error", c.topic, got)
		}
	}
}

func TestParseDoesNotAllocate(t *testing.T) {
	for _, s := range []string{Data("suzhou-eip", "gw-1", "chp-1"), Status("p", "g"), Metrics("p", "m", "e"), Replay("p", "r"), DeadLetter("p")} {
		if n := testing.AllocsPerRun(100, func() {
			if _, err := Parse(s); err != nil {
				t.Fatal(err)
			}
		}); n != 0 {
			t.Errorf("Parse(%q): %v allocations", s, n)
		}
	}
}

// reserved reports whether a topic of t's kind with its fields would parse
// as another kind.
func reserved(t Topic) bool {
	return (t.Kind == KindData && (t.Gateway == MetricsLevel || t.Device == StatusLevel)) ||
		(t.Kind == KindStatus && t.Gateway == MetricsLevel)
}

// valid reports whether Parse should accept t.String(): the fields of t's
// kind are valid, the others empty.
func valid(t Topic) bool {
	name := config.ValidName
	opt := func(s string) bool { return s == "" || name(s) }
	switch t.Kind {
	case KindData:
		return name(t.Park) && name(t.Gateway) && name(t.Device) && t.Metric == "" && t.Entity == "" && t.Requester == ""
	case KindStatus:
		return name(t.Park) && name(t.Gateway) && t.Device == "" && t.Metric == "" && t.Entity == "" && t.Requester == ""
	case KindMetrics:
		return name(t.Park) && name(t.Metric) && !strings.Contains(t.Metric, ".") && opt(t.Entity) &&
			t.Gateway == "" && t.Device == "" && t.Requester == ""
	case KindDeadLetter:
		return name(t.Park) && t.Gateway == "" && t.Device == "" && t.Metric == "" && t.Entity == "" && t.Requester == ""
	case KindReplay:
		return name(t.Park) && validRequester(t.Requester) && !strings.ContainsAny(t.Requester, "/+#") &&
			t.Gateway == "" && t.Device == "" && t.Metric == "" && t.Entity == ""
	}
	return false
}

// FuzzParse checks that Parse never panics, that what it accepts builds
// back to the same topic, and that every valid topic built from names
// parses back to those names.
func FuzzParse(f *testing.F) {
	f.Add("eip/v1/p/gw-1/chp-1", uint8(1), "p", "gw-1", "chp-1", "", "", "")
	f.Add("eip/v1/p/gw-1/status", uint8(2), "p", "gw-1", "", "", "", "")
	f.Add("eip/v1/p/metrics/steam_power_mw.t01", uint8(3), "p", "", "", "steam_power_mw", "t01", "")
	f.Add("eip/v1/p/deadletter", uint8(4), "p", "", "", "", "", "")
	f.Add("eip/v1/p/control/replay/eipgw-ingest-1", uint8(5), "p", "", "", "", "", "eipgw-ingest-1")
	f.Add("$share/g/eip/v1/p/+/+", uint8(1), "p", "metrics", "status", "", "", "")
	f.Add("eip/v1/p//x/y/z/w", uint8(3), "p", "", "", "a.b", "", "")
	f.Fuzz(func(t *testing.T, s string, kind uint8, park, gateway, device, metric, entity, requester string) {
		if p, err := Parse(s); err == nil {
			if p.String() != s {
				t.Errorf("Parse(%q) = %+v, which builds %q", s, p, p.String())
			}
			if !valid(p) {
				t.Errorf("Parse(%q) accepted invalid %+v", s, p)
			}
		} else if !errors.As(err, new(*Error)) {
			t.Errorf("Parse(%q): %T %v", s, err, err)
		}

		in := Topic{Kind: Kind(kind%5 + 1), Park: park, Gateway: gateway, Device: device, Metric: metric, Entity: entity, Requester: requester}
		// Only the fields of the kind are built.
		switch in.Kind {
		case KindData:
			in.Metric, in.Entity, in.Requester = "", "", ""
		case KindStatus:
			in.Device, in.Metric, in.Entity, in.Requester = "", "", "", ""
		case KindMetrics:
			in.Gateway, in.Device, in.Requester = "", "", ""
		case KindDeadLetter:
			in.Gateway, in.Device, in.Metric, in.Entity, in.Requester = "", "", "", "", ""
		case KindReplay:
			in.Gateway, in.Device, in.Metric, in.Entity = "", "", "", ""
		}
		got, err := Parse(in.String())
		switch {
		case !valid(in):
			if err == nil && got == in {
				t.Errorf("invalid %+v parsed back from %q", in, in.String())
			}
		case reserved(in):
			if err == nil && got == in {
				t.Errorf("%+v uses a reserved name, yet parsed back from %q", in, in.String())
			}
		case err != nil:
			t.Errorf("%+v: Parse(%q): %v", in, in.String(), err)
		case got != in:
			t.Errorf("Parse(%q) = %+v, want %+v", in.String(), got, in)
		}
	})
}
