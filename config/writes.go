package config

// Bounds of one InfluxDB write request and of a message's retries.
const (
	DefaultMaxWriteBytes = 2 << 20
	DefaultMaxWriteLines = 5000
	DefaultMaxAttempts   = 10
	// DefaultDeadLetterMaxBytes is half the broker's max_packet_size of
	// config/examples/mosquitto.conf, above the dead letter of the
	// largest batch an edge sends (about 5 MB).
	DefaultDeadLetterMaxBytes = 8 << 20
	// DefaultIngestProcs is ingest.procs unless set. One worker's work is
	// a short pipeline (the MQTT client's reader, the worker, the HTTP
	// client) that waits on the broker and on InfluxDB more than it
	// computes; on one CPU it does the same work with fewer wake-ups of
	// idle threads (docs/benchmarks.md: 15 to 20 % less CPU per value at
	// 20 k values/s, 8 to 10 % at 200 k). A site scales ingest out by
	// workers in a shared group, or raises procs.
	DefaultIngestProcs = 1
)

func (in *Ingest) writeDefaults() {
	if in.MaxWriteBytes == 0 {
		in.MaxWriteBytes = DefaultMaxWriteBytes
	}
	if in.MaxWriteLines == 0 {
		in.MaxWriteLines = DefaultMaxWriteLines
	}
	if in.MaxAttempts == 0 {
		in.MaxAttempts = DefaultMaxAttempts
	}
	if in.Procs == 0 {
		in.Procs = DefaultIngestProcs
	}
	if in.DeadLetterMaxBytes == 0 {
		in.DeadLetterMaxBytes = DefaultDeadLetterMaxBytes
	}
}

func (in *Ingest) validateWrites(s *Source) Errors {
	var errs Errors
	// InfluxDB 1.8 refuses bodies above 25 MB by default (max-body-size).
	if in.MaxWriteBytes < 4<<10 || in.MaxWriteBytes > 25_000_000 {
		errs = append(errs, s.Errorf("ingest.max_write_bytes", "%d out of range 4096-25000000", in.MaxWriteBytes))
	}
	if in.MaxWriteLines < 1 || in.MaxWriteLines > 100000 {
		errs = append(errs, s.Errorf("ingest.max_write_lines", "%d out of range 1-100000", in.MaxWriteLines))
	}
	if in.MaxAttempts < 1 || in.MaxAttempts > 1000 {
		errs = append(errs, s.Errorf("ingest.max_attempts", "%d out of range 1-1000", in.MaxAttempts))
	}
	// MQTT's largest packet is 256 MiB; below 64 KiB a dead letter could
	// not hold its error and the start of its payload.
	if in.DeadLetterMaxBytes < 64<<10 || in.DeadLetterMaxBytes > 256<<20 {
		errs = append(errs, s.Errorf("ingest.dead_letter_max_bytes", "%d out of range 65536-268435456 (keep it below the broker's max_packet_size)", in.DeadLetterMaxBytes))
	}
	if in.Procs < 1 || in.Procs > 1024 {
		errs = append(errs, s.Errorf("ingest.procs", "%d out of range 1-1024", in.Procs))
	}
	return errs
}
