package config

import "fmt"

// EdgeRole is what the edge reads of a configuration file.
type EdgeRole struct {
	// Park is the park identifier (topic level).
	Park string
	// Site is the site tag written with every reading.
	Site string
	MQTT *MQTT
	Edge *Edge
}

// IngestRole is what the ingest worker reads of a configuration file.
type IngestRole struct {
	// Park is the park identifier whose data topics are consumed.
	Park   string
	MQTT   *MQTT
	Ingest *Ingest
}

// ParkRole is what the park engine reads of a configuration file.
type ParkRole struct {
	// Park is the park identifier whose data topics are consumed.
	Park   string
	MQTT   *MQTT
	Engine *ParkEngine
	// Evidence is park_engine.evidence, else the file's ingest.evidence
	// (one file for every role of a single-box install names the keys
	// once); nil: no gateway is under evidence.
	Evidence *EvidenceKeys
}

// EdgeRole returns the edge's part of f, or an error naming the section
// that is missing.
func (f *File) EdgeRole() (EdgeRole, error) {
	if err := f.need("edge", f.MQTT != nil, f.Edge != nil); err != nil {
		return EdgeRole{}, err
	}
	return EdgeRole{Park: f.Park, Site: f.Site, MQTT: f.MQTT, Edge: f.Edge}, nil
}

// IngestRole returns the ingest worker's part of f, or an error naming the
// section that is missing.
func (f *File) IngestRole() (IngestRole, error) {
	if err := f.need("ingest", f.MQTT != nil, f.Ingest != nil); err != nil {
		return IngestRole{}, err
	}
	if f.Ingest.InfluxDB == nil {
		return IngestRole{}, f.missing("ingest.influxdb")
	}
	return IngestRole{Park: f.Park, MQTT: f.MQTT, Ingest: f.Ingest}, nil
}

// ParkRole returns the park engine's part of f, or an error naming the
// section that is missing.
func (f *File) ParkRole() (ParkRole, error) {
	if err := f.need("park_engine", f.MQTT != nil, f.ParkEngine != nil); err != nil {
		return ParkRole{}, err
	}
	if f.ParkEngine.InfluxDB == nil {
		return ParkRole{}, f.missing("park_engine.influxdb")
	}
	r := ParkRole{Park: f.Park, MQTT: f.MQTT, Engine: f.ParkEngine, Evidence: f.ParkEngine.Evidence}
	if r.Evidence == nil && f.Ingest != nil {
		r.Evidence = f.Ingest.Evidence
	}
	return r, nil
}

// need reports the first of the mqtt section and the role's own section
// that is missing.
func (f *File) need(section string, hasMQTT, hasRole bool) error {
	switch {
	case !hasRole:
		return f.missing(section)
	case !hasMQTT:
		return f.missing("mqtt")
	}
	return nil
}

// missing is the error for a required section that f does not have, with
// the file's name when f was loaded from one.
func (f *File) missing(section string) error {
	if f.Source != nil && f.Source.File != "" {
		return fmt.Errorf("%s: no %s section", f.Source.File, section)
	}
	return fmt.Errorf("configuration has no %s section", section)
}
