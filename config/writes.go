package config

// Bounds of one InfluxDB write request and of a message's retries.
const (
	DefaultMaxWriteBytes = 2 << 20
	DefaultMaxWriteLines = 5000
	DefaultMaxAttempts   = 10
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
	return errs
}
