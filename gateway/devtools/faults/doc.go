// Package faults holds eipgw's fault-injection tests: the simulated park
// polled by a real edge process, through a real Mosquitto, into a real
// InfluxDB through real ingest processes, while the broker, the edge, the
// database, an ingest worker or the edge's disk fail. Each scenario ends
// with an exact count — batches polled, stored, lost and duplicated — and
// `make faults` prints them as a table.
package faults
