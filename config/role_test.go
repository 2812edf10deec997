package config

import "testing"

// TestRoles checks that each role's part of a file is refused with the name
// of the section it lacks, and otherwise carries the file's sections.
func TestRoles(t *testing.T) {
	mq := &MQTT{Broker: "tcp://127.0.0.1:1883"}
	db := &InfluxDB{URL: "http://127.0.0.1:8086"}
	src := &Source{File: "site.yaml"}
	for _, c := range []struct {
		name string
		f    *File
		role func(*File) error
		want string
	}{
		{"edge without edge", &File{MQTT: mq, Source: src}, edgeErr, "site.yaml: no edge section"},
		{"edge without mqtt", &File{Edge: &Edge{}}, edgeErr, "configuration has no mqtt section"},
		{"ingest without ingest", &File{MQTT: mq}, ingestErr, "configuration has no ingest section"},
		{"ingest without influxdb", &File{MQTT: mq, Ingest: &Ingest{}, Source: src}, ingestErr, "site.yaml: no ingest.influxdb section"},
		{"ingest without mqtt", &File{Ingest: &Ingest{InfluxDB: db}}, ingestErr, "configuration has no mqtt section"},
		{"park without park_engine", &File{MQTT: mq}, parkErr, "configuration has no park_engine section"},
		{"park without influxdb", &File{MQTT: mq, ParkEngine: &ParkEngine{}}, parkErr, "configuration has no park_engine.influxdb section"},
		{"park without mqtt", &File{ParkEngine: &ParkEngine{InfluxDB: db}}, parkErr, "configuration has no mqtt section"},
	} {
		err := c.role(c.f)
		if err == nil || err.Error() != c.want {
			t.Errorf("%s: error %v, want %q", c.name, err, c.want)
		}
	}

	f := &File{Park: "p", Site: "s", MQTT: mq, Edge: &Edge{Gateway: "gw"}, Ingest: &Ingest{InfluxDB: db}, ParkEngine: &ParkEngine{InfluxDB: db}}
	e, err := f.EdgeRole()
	if err != nil || e.Park != "p" || e.Site != "s" || e.MQTT != mq || e.Edge != f.Edge {
		t.Errorf("edge role %+v, %v", e, err)
	}
	i, err := f.IngestRole()
	if err != nil || i.Park != "p" || i.MQTT != mq || i.Ingest != f.Ingest {
		t.Errorf("ingest role %+v, %v", i, err)
	}
	p, err := f.ParkRole()
	if err != nil || p.Park != "p" || p.MQTT != mq || p.Engine != f.ParkEngine || p.Evidence != nil {
		t.Errorf("park role %+v, %v", p, err)
	}

	// The park engine's keys: its own, else the file's ingest keys.
	ingestKeys, parkKeys := &EvidenceKeys{Require: true}, &EvidenceKeys{}
	f.Ingest.Evidence = ingestKeys
	if p, _ := f.ParkRole(); p.Evidence != ingestKeys {
		t.Errorf("park role without park_engine.evidence: %+v, want ingest.evidence", p.Evidence)
	}
	f.ParkEngine.Evidence = parkKeys
	if p, _ := f.ParkRole(); p.Evidence != parkKeys {
		t.Errorf("park role with park_engine.evidence: %+v, want its own", p.Evidence)
	}
}

func edgeErr(f *File) error   { _, err := f.EdgeRole(); return err }
func ingestErr(f *File) error { _, err := f.IngestRole(); return err }
func parkErr(f *File) error   { _, err := f.ParkRole(); return err }
